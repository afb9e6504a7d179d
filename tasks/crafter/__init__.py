"""Crafter simulator plugin: builds :class:`tasks.crafter.env.CrafterEnv` from a ``task_specs.yaml`` entry.

Spec keys read (schema in ``tasks/task_specs.yaml``): ``task_id`` (achievement or null), ``reward``,
``sim_specs`` {``initial_inventory``, ``size``, ``area``, ``view``}, ``terminal_specs`` {``max_steps``,
``on_death``, ``on_success``}. Crafter always ends an episode on death, so ``on_death`` must be true.
"""
from __future__ import annotations

from typing import Any

from tasks.crafter.env import ACHIEVEMENTS, ACTION_NAMES, INVENTORY_ITEMS, SEMANTIC_NAMES, CrafterEnv

__all__ = ["make_env", "env_kwargs_from_spec", "CrafterEnv", "ACHIEVEMENTS", "ACTION_NAMES", "INVENTORY_ITEMS",
           "SEMANTIC_NAMES"]

_TOP_KEYS = {"name", "sim", "task_id", "prompt", "reward", "sim_specs", "terminal_specs"}
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
