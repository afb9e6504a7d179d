"""MineDojo simulator plugin: the five Minecraft tasks of PTGM (spec §10), reached through ``tasks.make(name)``.

This package imports without MineDojo; :func:`make_env` imports it lazily and says what to install when it is
missing. The plugin API (``tasks/__init__.py``):

* :func:`make_env` ``(spec, **overrides) -> gymnasium.Env`` with observation ``{'pov': uint8 [128, 128, 3]}`` and
  the MineRL env-format action dict (wrapper stack in :mod:`tasks.minedojo.wrappers`);
* :data:`ACTION_SPACE`: the low-level VPT/STEVE-1 policy's action space, ``Dict(camera=Discrete(121),
  buttons=Discrete(8641))``;
* :func:`agent_action_to_env` / :func:`env_action_to_agent`: VPT joint action <-> MineRL env action
  (``VPT.lib.action_mapping``);
* :func:`action_features`: a MineRL env action flattened to the 25 numbers of spec §3.2/§7 (codebook features).

Construction (spec §10.2-§10.3): MineDojo spec of ``task_id`` (deep-copied, fix §12.1.13) + forced settings +
``sim_specs`` -> ``_meta_task_make`` -> optional semi-fast reset spliced in place of the simulator -> gymnasium
adapter -> terminal -> MineCLIP shaping (``clip_specs``) -> VPT action/obs -> restart-on-crash.

``overrides`` of :func:`make_env`: ``mineclip_path`` (default ``downloads/mineclip_attn.pth``), ``device``
(MineCLIP's, default ``cpu``), ``max_restarts`` (default 5), ``clip_scorer`` (a ready scorer; by default one MineCLIP
per prompts/checkpoint/device is loaded per process and shared by every env), ``seed`` (MineDojo world seed).
"""
from __future__ import annotations

import copy
import importlib
from typing import Any, Mapping

import numpy as np

from VPT.lib import action_mapping as _vpt_actions
from tasks.minedojo.specs import check_task_spec, minedojo_env_specs
from tasks.minedojo.wrappers import (ClipRewardWrapper, MinedojoGymnasium, RestartOnCrash, SemifastReset,
                                     TerminalWrapper, VPTActionWrapper)

__all__ = ["make_env", "ACTION_SPACE", "MINERL_ACTION_KEYS", "agent_action_to_env",
           "env_action_to_agent", "action_features", "MINEDOJO_INSTALL_HINT", "import_minedojo"]

MINEDOJO_INSTALL_HINT = (
    "MineDojo is not installed. The Minecraft tasks need PKU-RL/MCEnv (the 'upgraded MineDojo' PTGM requires: "
    "its FastResetWrapper takes random_teleport_range_high/low), Java JDK 8 and a Gradle build: "
    "`pip install -e .[minecraft]`, then `pip uninstall minedojo` and install https://github.com/PKU-RL/MCEnv "
    "(`python setup.py install`); see README 'Minecraft setup'. The Crafter tasks (crafter_*) need none of this.")

#: The low-level policy's action space (VPT joint actions, spec §4.6): ``Dict(camera=Discrete(121),
#: buttons=Discrete(8641))``, camera first (the official head order).
ACTION_SPACE = _vpt_actions.default_action_mapper().get_action_space_update()
#: The 25 scalars of a contractor-data MineRL action in dict order, camera as (pitch, yaw) (spec §3.2).
MINERL_ACTION_KEYS: tuple[str, ...] = (
    ("ESC", "back", "drop", "forward") + tuple(f"hotbar.{i}" for i in range(1, 10))
    + ("inventory", "jump", "left", "right", "sneak", "sprint", "swapHands", "camera_pitch", "camera_yaw",
       "attack", "use", "pickItem"))


def agent_action_to_env(agent_action: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """VPT joint action ``{'buttons','camera'}`` int [B, 1] -> MineRL env action (``VPT.lib.action_mapping``)."""
    return _vpt_actions.agent_action_to_env(agent_action)


def env_action_to_agent(env_action: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """MineRL env action -> VPT joint action ``{'buttons','camera'}`` int64 [B, 1] (``VPT.lib.action_mapping``)."""
    return _vpt_actions.env_action_to_agent(env_action)


def action_features(env_action: Mapping[str, Any]) -> np.ndarray:
    """A MineRL env action as the 25 numbers of spec §3.2 (order :data:`MINERL_ACTION_KEYS`), float64 [25].

    Missing buttons count as 0; ``camera`` is ``[pitch, yaw]`` degrees, shape (2,) or (1, 2).
    """
    out = np.zeros(len(MINERL_ACTION_KEYS), dtype=np.float64)
    for i, key in enumerate(MINERL_ACTION_KEYS):
        if key.startswith("camera_"):
            camera = np.asarray(env_action.get("camera", (0.0, 0.0)), dtype=np.float64).reshape(-1)
            out[i] = camera[0 if key == "camera_pitch" else 1]
        elif key in env_action:
            out[i] = float(np.asarray(env_action[key]).reshape(-1)[0])
    return out


def import_minedojo():
    """Import ``minedojo`` or raise ``ImportError`` with :data:`MINEDOJO_INSTALL_HINT`."""
    try:
        return importlib.import_module("minedojo")
    except ImportError as exc:
        raise ImportError(MINEDOJO_INSTALL_HINT) from exc


def _splice_semifast_reset(task_env: Any, sim_cls: type, fast_reset_cls: type, reset_freq: int) -> SemifastReset:
    """Replace the simulator inside the meta task's wrapper chain by a :class:`SemifastReset` (spec §10.3 step 8).

    Raises:
        ValueError: no ``sim_cls`` instance in the ``.env`` chain.
    """
    wrapped = task_env
    while hasattr(wrapped, "env"):
        if isinstance(wrapped.env, sim_cls):
            sim = wrapped.env
            fast = fast_reset_cls(sim, random_teleport_range=200, random_teleport_range_high=200,
                                  random_teleport_range_low=0)
            wrapped.env = SemifastReset(sim, fast, reset_freq=reset_freq)
            return wrapped.env
        wrapped = wrapped.env
    raise ValueError(f"fast_reset: no {sim_cls.__name__} found in the env's .env chain")


_MINECLIP_PATH = "downloads/mineclip_attn.pth"
_SCORERS: dict[tuple, Any] = {}


def _shared_scorer(prompts: tuple, path: str, device: str):
    """One MineCLIP scorer per (prompts, checkpoint, device) in this process, shared by all envs of a run (the
    scorer is stateless; each ClipRewardWrapper keeps its own frame history)."""
    key = (prompts, path, device)
    if key not in _SCORERS:
        from tasks.minedojo.clip_reward import MineCLIPPromptScorer

        _SCORERS[key] = MineCLIPPromptScorer.from_checkpoint(list(prompts), path, device=device)
    return _SCORERS[key]


def make_env(spec: Mapping[str, Any], **overrides):
    """Build a MineDojo task as a gymnasium env (module docstring).

    Args:
        spec: ``tasks.get_specs(name)`` of a Minecraft task.
        overrides: see the module docstring.
    Raises:
        ImportError: MineDojo (MCEnv) is not installed (message: what to install).
        ValueError: an invalid or unsupported task spec (see :func:`tasks.minedojo.specs.check_task_spec`).
        FileNotFoundError: the MineCLIP checkpoint is missing (``bash downloads.sh``).
    """
    spec = copy.deepcopy(dict(spec))
    check_task_spec(spec)
    unknown = set(overrides) - {"mineclip_path", "device", "max_restarts", "clip_scorer", "seed"}
    if unknown:
        raise TypeError(f"tasks.minedojo.make_env: unknown override(s) {sorted(unknown)}")
    import_minedojo()
    clip_specs = spec.get("clip_specs")
    scorer = overrides.get("clip_scorer")
    if clip_specs and scorer is None:
        scorer = _shared_scorer(tuple(clip_specs["prompts"]), str(overrides.get("mineclip_path", _MINECLIP_PATH)),
                                str(overrides.get("device", "cpu")))

    def build():
        from minedojo.sim import MineDojoSim
        from minedojo.tasks import ALL_TASKS_SPECS, _meta_task_make, _parse_inventory_dict

        meta_cls, sim_kwargs = minedojo_env_specs(spec["task_id"], spec.get("sim_specs"), ALL_TASKS_SPECS)
        if "initial_inventory" in sim_kwargs:
            sim_kwargs["initial_inventory"] = _parse_inventory_dict(sim_kwargs["initial_inventory"])
        if overrides.get("seed") is not None:
            sim_kwargs["seed"] = int(overrides["seed"])
        task_env = _meta_task_make(meta_cls, **sim_kwargs)
        if spec.get("fast_reset") is not None:
            from minedojo.sim.wrappers.fast_reset import FastResetWrapper
            _splice_semifast_reset(task_env, MineDojoSim, FastResetWrapper, int(spec["fast_reset"]))
        env = MinedojoGymnasium(task_env)
        terminal = {"max_steps": 500, "on_death": True, **(spec.get("terminal_specs") or {})}
        env = TerminalWrapper(env, **terminal)
        if clip_specs:
            env = ClipRewardWrapper(env, scorer, **clip_specs)
        return VPTActionWrapper(env, freeze_equipped=bool(spec.get("freeze_equipped", False)))

    return RestartOnCrash(build, max_restarts=int(overrides.get("max_restarts", 5)))
