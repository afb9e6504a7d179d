"""Crafter simulator plugin: builds :class:`tasks.crafter.env.CrafterEnv` from a ``task_specs.yaml`` entry.

Spec keys read (schema in ``tasks/task_specs.yaml``): ``task_id`` (achievement or null), ``reward``,
``sim_specs`` {``initial_inventory``, ``size``, ``area``, ``view``}, ``terminal_specs`` {``max_steps``,
``on_death``, ``on_success``}. Crafter always ends an episode on death, so ``on_death`` must be true.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, INVENTORY_ITEMS, SEMANTIC_NAMES, CrafterEnv
from tasks.crafter.goal_labels import goal_point_labels
from tasks.crafter.score import PROTOCOL as BENCHMARK_PROTOCOL
from tasks.crafter.score import benchmark_score

__all__ = ["make_env", "env_kwargs_from_spec", "CrafterEnv", "ACHIEVEMENTS", "ACTION_NAMES", "INVENTORY_ITEMS",
           "SEMANTIC_NAMES", "ACTION_SPACE", "env_action_to_agent", "agent_action_to_env",
           "action_features", "goal_point_labels", "benchmark_score", "BENCHMARK_PROTOCOL"]

# --- The simulator-plugin action interface (see tasks/__init__.py): what the pipeline needs to train and run a
# --- low-level policy on Crafter, without ever branching on the simulator's name.

ACTION_SPACE = spaces.Discrete(len(ACTION_NAMES))
"""The low-level policy's action space: Crafter's 17 discrete actions (``ACTION_NAMES`` order)."""


def _check_action(action: int) -> int:
    if not 0 <= action < ACTION_SPACE.n:
        raise ValueError(f"Crafter action {action} is outside Discrete({ACTION_SPACE.n})")
    return action


def env_action_to_agent(env_action: Any) -> np.ndarray:
    """Env action (an int in [0, 17), as stored in ``actions.pkl``) -> the agent's action: int64 array of shape (1,).

    The (1,) shape is VPT's ``TensorType((1,), Discrete(n))`` convention (logits [..., 1, n]).

    Raises:
        ValueError: the action is outside ``Discrete(17)``.
    """
    return np.array([_check_action(int(env_action))], dtype=np.int64)


def agent_action_to_env(agent_action: Any) -> int:
    """Agent action (int64 array or tensor holding ONE index, any shape such as [1, 1]) -> env action int.

    Raises:
        ValueError: more than one element, or an index outside ``Discrete(17)``.
    """
    arr = np.asarray(agent_action.cpu() if hasattr(agent_action, "cpu") else agent_action)
    if arr.size != 1:
        raise ValueError(f"expected one Crafter action, got an array of shape {arr.shape}")
    return _check_action(int(arr.reshape(-1)[0]))


def action_features(env_action: Any) -> np.ndarray:
    """Codebook action features (spec §7): the one-hot of the action, float64 [17].

    Summed over the current and 15 previous actions by ``goal_prior/generate_codebook.py``, it gives the action
    history that Minecraft gets from the 25 numbers of a MineRL action dict.
    """
    out = np.zeros(ACTION_SPACE.n, dtype=np.float64)
    out[_check_action(int(env_action))] = 1.0
    return out

# goal_point_labels(storage) -> str [L] (tasks/crafter/goal_labels.py): the label of each frame's goal clip, for the
# codebook's point_sampling: balanced (goal_prior/goal_points.py).

_TOP_KEYS = {"name", "sim", "task_id", "prompt", "reward", "sim_specs", "terminal_specs", "benchmark_score"}
_SIM_KEYS = {"initial_inventory", "size", "area", "view"}
_TERMINAL_KEYS = {"max_steps", "on_death", "on_success"}


def env_kwargs_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """:class:`CrafterEnv` keyword arguments for a Crafter task spec.

    Raises:
        ValueError: unknown keys, a missing ``max_steps`` or ``on_death: false`` (the message names the task).
    """
    where = f"tasks/task_specs.yaml task {spec.get('name', '?')!r}"
    for keys, known, section in ((spec, _TOP_KEYS, ""), (spec.get("sim_specs") or {}, _SIM_KEYS, "sim_specs."),
                                 (spec.get("terminal_specs") or {}, _TERMINAL_KEYS, "terminal_specs.")):
        unknown = set(keys) - known
        if unknown:
            raise ValueError(f"{where}: unknown Crafter key(s) {', '.join(section + k for k in sorted(unknown))}; "
                             f"known: {', '.join(section + k for k in sorted(known))}")
    sim_specs = dict(spec.get("sim_specs") or {})
    terminal = dict(spec.get("terminal_specs") or {})
    if "max_steps" not in terminal:
        raise ValueError(f"{where}: terminal_specs.max_steps is required")
    if not terminal.get("on_death", True):
        raise ValueError(f"{where}: Crafter always ends an episode on death; on_death must be true")
    kwargs = dict(
        achievement=spec.get("task_id"),
        reward=spec.get("reward", "success" if spec.get("task_id") else "crafter"),
        initial_inventory=sim_specs.get("initial_inventory") or {},
        max_steps=int(terminal["max_steps"]),
        terminate_on_success=bool(terminal.get("on_success", True)),
    )
    for key in ("size", "area", "view"):
        if key in sim_specs:
            kwargs[key] = sim_specs[key]
    return kwargs


def make_env(spec: dict[str, Any], **overrides) -> CrafterEnv:
    """Build the task's :class:`CrafterEnv`; ``overrides`` replace any constructor argument (e.g. ``size=96``)."""
    kwargs = env_kwargs_from_spec(spec)
    kwargs.update(overrides)
    return CrafterEnv(**kwargs)
