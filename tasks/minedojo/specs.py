"""Task spec -> MineDojo environment spec (spec §10.2, §10.5): pure data logic, no ``minedojo`` import.

A Minecraft entry of ``tasks/task_specs.yaml`` names a MineDojo programmatic task (``task_id``, e.g.
``harvest_1_log_plains``) or a meta task (``task_id: harvest`` plus ``sim_specs`` giving the target). MineDojo's
own spec for a programmatic task is overlaid with the forced simulator settings and then with ``sim_specs``
(which **replaces** keys wholesale, e.g. the whole ``initial_inventory``: that is how the spider task ends up with
only a diamond sword, spec §12.5).

Where we deliberately differ from upstream:

* ``ALL_TASKS_SPECS[task_id]`` is **deep-copied** before ``prompt``/``__cls__`` are popped, so a second ``make`` of
  the same task in one process works (upstream mutates MineDojo's global dict and raises ``KeyError``, spec
  §12.1.13).
* Keys our wrappers do not implement (reward/success specs, item or block terminal conditions, TechTree, open
  tasks; all unused by the five tasks) raise a ``ValueError`` naming the task instead of being half-supported.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

__all__ = ["TOP_LEVEL_KEYS", "FORCED_SIM_SPECS", "check_task_spec", "minedojo_env_specs", "lidar_rays"]

#: Keys a Minecraft entry of ``task_specs.yaml`` may hold (schema in the file's header).
TOP_LEVEL_KEYS = frozenset({
    "name", "sim", "task_id", "prompt", "sim_specs", "terminal_specs", "clip_specs", "fast_reset",
    "freeze_equipped", "highlevel_config",
})
#: ``terminal_specs`` keys implemented by :class:`tasks.minedojo.wrappers.TerminalWrapper`.
TERMINAL_KEYS = frozenset({"max_steps", "on_death"})
#: ``clip_specs`` keys implemented by :class:`tasks.minedojo.wrappers.ClipRewardWrapper`.
CLIP_KEYS = frozenset({"prompts", "dense_reward", "clip_target", "clip_min", "smoothing"})

#: Simulator settings forced on every task before ``sim_specs`` is overlaid (spec §10.2 step 2).
FORCED_SIM_SPECS: dict[str, Any] = dict(
    image_size=(160, 256),
    fast_reset=False,
    event_level_control=False,
    use_voxel=False,
    use_lidar=False,
)


def check_task_spec(spec: Mapping[str, Any]) -> None:
    """Validate a Minecraft task spec (a ``tasks.get_specs(name)`` dict).

    Raises:
        ValueError: unknown or unsupported keys, a missing ``task_id``, ``clip_specs`` without prompts, or a
            non-positive ``terminal_specs.max_steps`` / ``fast_reset``. The message names the task.
    """
    where = f"tasks/task_specs.yaml task {spec.get('name', '?')!r}"
    unknown = set(spec) - TOP_LEVEL_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown or unsupported MineDojo key(s) {sorted(unknown)}; "
                         f"supported: {sorted(TOP_LEVEL_KEYS)}")
    if not spec.get("task_id"):
        raise ValueError(f"{where}: task_id is required (a MineDojo task id or meta task such as 'harvest')")
    terminal = spec.get("terminal_specs") or {}
    unknown = set(terminal) - TERMINAL_KEYS
    if unknown:
        raise ValueError(f"{where}: terminal_specs key(s) {sorted(unknown)} are not implemented; "
                         f"supported: {sorted(TERMINAL_KEYS)}")
    if "max_steps" in terminal and int(terminal["max_steps"]) <= 0:
        raise ValueError(f"{where}: terminal_specs.max_steps must be > 0, got {terminal['max_steps']}")
    clip = spec.get("clip_specs")
    if clip is not None:
        unknown = set(clip) - CLIP_KEYS
        if unknown:
            raise ValueError(f"{where}: clip_specs key(s) {sorted(unknown)} unknown; supported: {sorted(CLIP_KEYS)}")
        if not clip.get("prompts"):
            raise ValueError(f"{where}: clip_specs needs a non-empty 'prompts' list")
    if spec.get("fast_reset") is not None and int(spec["fast_reset"]) <= 0:
        raise ValueError(f"{where}: fast_reset must be a positive number of fast resets, got {spec['fast_reset']}")


def lidar_rays() -> list[tuple[float, float, float]]:
    """Upstream's lidar layout (unused by the five tasks): pitch -30..25 and yaw -45..40 in 5 degree steps
    (radians), range 99 blocks."""
    return [(np.pi * pitch / 180, np.pi * yaw / 180, 99)
            for pitch in np.arange(-30, 30, 5) for yaw in np.arange(-45, 45, 5)]


def minedojo_env_specs(task_id: str, sim_specs: Mapping[str, Any] | None,
                       all_task_specs: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The meta-task class (or name) and keyword arguments for ``minedojo.tasks._meta_task_make`` (spec §10.2).

    Args:
        task_id: a key of ``all_task_specs`` (programmatic task) or a meta-task name such as ``"harvest"``.
        sim_specs: the task's ``sim_specs`` overlay (may be None).
        all_task_specs: MineDojo's ``ALL_TASKS_SPECS`` (any mapping of task id -> spec mapping holding
            ``__cls__`` and ``prompt``). It is never modified.

    Returns:
        ``(meta_task_cls, specs)``: ``__cls__`` of the programmatic task (else ``task_id`` itself) and a fresh dict:
        MineDojo's spec without ``prompt``/``__cls__``, then :data:`FORCED_SIM_SPECS`, then ``sim_specs``, then
        ``lidar_rays`` when ``use_lidar``. ``initial_inventory`` is left as the plain mapping (the plugin parses it
        with MineDojo's ``_parse_inventory_dict``).

    Raises:
        ValueError: a programmatic task spec without ``__cls__``.
    """
    if task_id in all_task_specs:
        raw = all_task_specs[task_id]
        if hasattr(raw, "items") and not isinstance(raw, dict):  # OmegaConf DictConfig and friends
            try:
                from omegaconf import OmegaConf  # MineDojo depends on omegaconf
                raw = OmegaConf.to_container(raw)
            except ImportError:
                raw = dict(raw)
        specs = copy.deepcopy(dict(raw))  # fix spec §12.1.13: never mutate MineDojo's global dict
        specs.pop("prompt", None)
        if "__cls__" not in specs:
            raise ValueError(f"MineDojo task spec {task_id!r} has no '__cls__' (meta task)")
        meta_task_cls = specs.pop("__cls__")
    else:
        specs = {}
        meta_task_cls = task_id
    specs.update(copy.deepcopy(FORCED_SIM_SPECS))
    specs.update(copy.deepcopy(dict(sim_specs or {})))
    if specs.get("use_lidar"):
        specs["lidar_rays"] = lidar_rays()
    return meta_task_cls, specs
