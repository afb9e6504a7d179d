"""Building a high-level run from its config: config resolution, model loading, the hierarchical VecEnv.

Shared by ``ppo_highlevel.py`` (training) and ``hierarchical/evaluate.py`` (evaluation), so both build exactly the
same environment from a run's ``config.yaml``.

**One source of truth per hyperparameter.** A task's spec (``tasks/task_specs.yaml``) names its simulator's
high-level config file (key ``highlevel_config``, e.g. ``configs/minecraft/highlevel.yaml``); that file holds every
value; command-line flags that are given (not None) override it; the result is written with the run.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

import numpy as np
import torch

from steve1.utils.checks import Range, check_value
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import read_yaml  # the one YAML loader of the stage configs
from steve1.utils.io import atomic_write_yaml as write_yaml_atomic

__all__ = ["FILE_HINTS", "REQUIRED_KEYS", "PRESENT_KEYS", "resolve_config", "check_config", "check_files", "select_device", "load_codebook", "load_low_level",
           "load_prior", "load_trunk", "make_envs", "make_highlevel_env", "write_yaml_atomic", "read_yaml",
           "prior_temperature"]

#: How to produce each model file a run needs (used in the missing-file errors).
FILE_HINTS = {
    "in_model": "the VPT model config: `bash downloads.sh` fetches downloads/2x.model (the Crafter YAML configs ship "
                "in downloads/crafter/)",
    "highlevel_model": "the high-level trunk's model config (VPT .model pickle or YAML with policy_kwargs)",
    "in_weights": "the goal-conditioned low-level policy: train it with `bash steve1/train_goal_conditioned_policy.sh` "
                  "or fetch the official STEVE-1 weights with `bash downloads.sh`",
    "weights": "VPT weights for the high-level trunk: `bash downloads.sh` fetches "
               "downloads/rl-from-foundation-2x.weights",
    "prior_weights": "the goal prior: train it with `bash goal_prior/train_goal_prior.sh`",
    "codebook": "the goal codebook: `python goal_prior/generate_codebook.py --embedding tsne --n-codebook 100`",
}


#: Keys every high-level config must set (non-null).
REQUIRED_KEYS = ("in_model", "in_weights", "weights", "low_level_steps", "kl_direction", "steps_per_iter",
                 "batch_size", "n_epochs", "lr", "gamma", "gae_lambda", "clip_range", "vf_coef", "ent_coef",
                 "max_grad_norm", "normalize_advantage", "n_envs", "seed", "bootstrap_truncation", "temperature",
                 "save_freq", "print_freq")
#: Keys every high-level config must hold, where null has a meaning (``cond_scale``: no guidance, ``target_kl``: no
#: early stop, ``goal_dim``: from the models, ``kl_reward``: no KL term, ``goal_bound``: discrete goals only,
#: budgets: see ``steps``/``env_steps``): a missing key is an error, never a silent default.
PRESENT_KEYS = ("cond_scale", "target_kl", "goal_dim", "kl_reward", "goal_bound", "steps", "env_steps")


def resolve_config(task_spec: Mapping[str, Any], overrides: Mapping[str, Any], known_keys: Iterable[str],
                   config_path: Optional[Union[str, os.PathLike]] = None,
                   sources: Optional[dict[str, str]] = None,
                   override_sources: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """The run's config: the simulator's high-level config file overlaid with the given overrides.

    Args:
        task_spec: ``tasks.get_specs(task)``; its ``highlevel_config`` names the config file (default
            ``configs/<sim>/highlevel.yaml`` when that exists, relative to the working directory).
        overrides: values that were set on the command line (None values are ignored).
        known_keys: every valid config key (the command-line flag names).
        config_path: use this file instead of the spec's ``highlevel_config``.
        sources: filled with where each value came from (key -> ``"--key"`` for an override, ``"<file> key
            'key'"`` for the file), so that errors name the flag or the file and key.
        override_sources: where an override came from when it is not a flag (e.g. ``"--method ppo preset"``).
    Returns:
        dict with every key of the file, the overrides, ``config`` (task name), ``sim`` and ``highlevel_config``.
    Raises:
        KeyError: the task spec names no config file and none is given.
        steve1.utils.cli.UsageError (a ValueError): unknown keys in the file, a value out of range or of the wrong
            type, inconsistent options (the message names the flag, or the file and the key).
    """
    path = config_path or task_spec.get("highlevel_config")
    if not path and Path(f"configs/{task_spec['sim']}/highlevel.yaml").is_file():
        path = f"configs/{task_spec['sim']}/highlevel.yaml"  # convention when the spec names none
    if not path:
        raise KeyError(f"task {task_spec.get('name')!r} has no 'highlevel_config' key in tasks/task_specs.yaml and "
                       f"configs/{task_spec['sim']}/highlevel.yaml does not exist; add the key (e.g. "
                       "configs/crafter/highlevel.yaml) or pass --highlevel_config")
    cfg = read_yaml(path)
    known = set(known_keys)
    unknown = set(cfg) - known
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    sources = {} if sources is None else sources
    for key in cfg:
        sources[key] = f"{path} key '{key}'"
    for key, value in overrides.items():
        if value is not None:
            cfg[key] = copy.deepcopy(value)
            sources[key] = (override_sources or {}).get(key, f"--{key}")
    cfg["config"] = task_spec["name"]
    cfg["sim"] = task_spec["sim"]
    cfg["highlevel_config"] = str(path)
    check_config(cfg, sources)
    return cfg


#: Range checks of the numeric config values (:class:`steve1.utils.checks.Range`); ``None`` passes for the keys that
#: may be null (REQUIRED_KEYS are checked for presence first).
_RANGES: dict[str, Range] = {
    "n_envs": Range(int, lo=1),
    "low_level_steps": Range(int, lo=1, note="env steps per goal"),
    "steps": Range(int, lo=1, optional=True, note="high-level steps"),
    "env_steps": Range(int, lo=1, optional=True, note="env steps"),
    "steps_per_iter": Range(int, lo=1, note="high-level steps per env per rollout"),
    "batch_size": Range(int, lo=1),
    "n_epochs": Range(int, lo=1),
    "seed": Range(int, lo=0),
    "save_freq": Range(int, lo=0, note="PPO iterations; 0: only the final checkpoint"),
    "print_freq": Range(int, lo=0, note="PPO iterations; 0: never"),
    "goal_dim": Range(int, lo=1, optional=True),
    "lr": Range(float, lo=0, lo_open=True),
    "gamma": Range(float, lo=0, hi=1, lo_open=True),
    "gae_lambda": Range(float, lo=0, hi=1),
    "clip_range": Range(float, lo=0, lo_open=True),
    "vf_coef": Range(float, lo=0),
    "ent_coef": Range(float, lo=0),
    "max_grad_norm": Range(float, lo=0, lo_open=True),
    "target_kl": Range(float, lo=0, lo_open=True, optional=True),
    "kl_reward": Range(float, lo=0, optional=True, note="the weight of the KL penalty"),
    "cond_scale": Range(float, optional=True, note="classifier-free guidance scale"),
    "temperature": Range(float, lo=0, lo_open=True),
    "goal_bound": Range(float, lo=0, lo_open=True, optional=True),
}
_BOOLS = ("discrete", "goal_prior", "initialize_with_prior", "normalize_advantage", "bootstrap_truncation")


def check_config(cfg: Mapping[str, Any], sources: Optional[Mapping[str, str]] = None) -> None:
    """Check a resolved high-level config once, before anything is built or written.

    Every required key is set, every number has the right type and range (:data:`_RANGES`), switches are booleans,
    and the options fit together (a goal prior needs discrete goals and prior weights; a budget is set).

    Raises:
        steve1.utils.cli.UsageError: the first problem, naming where the value came from (``sources``: the flag,
            or the config file and key), the value and what was expected.
    """
    def where(key: str) -> str:
        return source_of(sources, key)

    def need(key: str) -> Any:
        if cfg.get(key) is None:
            raise UsageError(f"{where(key)}: '{key}' is not set (set it in {cfg.get('highlevel_config') or 'the config'} "
                             f"or pass --{key})")
        return cfg[key]

    for key in REQUIRED_KEYS:
        need(key)
    for key in PRESENT_KEYS:
        if key not in cfg:
            raise UsageError(f"{cfg.get('highlevel_config') or 'the config'}: key '{key}' is missing (give it a value, "
                             f"or null; pass --{key} to override)")
    for key, rule in _RANGES.items():
        if cfg.get(key) is not None:
            check_value(cfg[key], key, rule, where(key))
    for key in _BOOLS:
        if cfg.get(key) is not None and not isinstance(cfg[key], bool):
            raise UsageError(f"{where(key)}: {key} must be true or false, got {cfg[key]!r}")
    if cfg["kl_direction"] not in ("forward", "reverse"):
        raise UsageError(f"{where('kl_direction')}: kl_direction must be 'forward' or 'reverse', "
                         f"got {cfg['kl_direction']!r}")
    if cfg.get("discrete"):
        need("codebook")
    if cfg.get("goal_prior"):
        if not cfg.get("discrete"):
            raise UsageError(f"{where('goal_prior')}: goal_prior needs discrete goals (the prior is a distribution over "
                             f"the codes; spec §12.1.2), but {where('discrete')} sets discrete: false")
        need("prior_weights")
    if cfg.get("initialize_with_prior"):
        if not cfg.get("discrete"):
            raise UsageError(f"{where('initialize_with_prior')}: initialize_with_prior needs discrete goals, but "
                             f"{where('discrete')} sets discrete: false")
        need("prior_weights")
    if cfg.get("steps") is None and cfg.get("env_steps") is None:
        raise UsageError(f"{where('env_steps')}: set a budget: steps (high-level steps) and/or env_steps")


def check_files(cfg: Mapping[str, Any], sources: Optional[Mapping[str, str]] = None) -> None:
    """Raise ``FileNotFoundError`` naming the first missing model file of the run, where its path came from
    (``sources``) and how to produce it."""
    keys = ["in_model", "in_weights", "weights"]
    if cfg.get("highlevel_model"):
        keys.append("highlevel_model")
    if cfg.get("discrete"):
        keys.append("codebook")
    if cfg.get("goal_prior") or cfg.get("initialize_with_prior"):
        keys.append("prior_weights")
    for key in keys:
        if not Path(cfg[key]).is_file():
            raise FileNotFoundError(f"{source_of(sources, key)}: {key} file not found: {cfg[key]} -- "
                                    f"{FILE_HINTS[key]} (or pass --{key} PATH)")


def select_device(device: Optional[str] = None, cpu: bool = False) -> torch.device:
    """``cpu`` if asked, else ``device`` if given, else ``cuda`` when available, else ``cpu``."""
    if cpu:
        return torch.device("cpu")
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_codebook(cfg: Mapping[str, Any]):
    """The run's ``KMeansCodebook`` (or None for continuous goals)."""
    if not cfg.get("discrete"):
        return None
    from goal_prior.codebook import KMeansCodebook

    return KMeansCodebook(cfg["codebook"])


def load_low_level(cfg: Mapping[str, Any], action_space: Any, goal_dim: Optional[int], device: torch.device,
                   sources: Optional[Mapping[str, str]] = None):
    """The frozen goal-conditioned low-level policy (STEVE-1 format, ``steve1.MineRLConditionalAgent``'s builder and
    strict loader), eval, on ``device``.

    ``goal_dim``: the goal size the high level feeds (the codebook's D); it must match the model config's
    ``goal_dim`` when that has one, else the goal size of the weights (``net.mineclip_embed_linear.weight``).
    ``sources``: where the config values came from (named in errors).

    Raises:
        steve1.utils.cli.UsageError: goal sizes disagree (the message blames the codebook). FileNotFoundError / WeightsLoadError: missing, unreadable or mismatching
            weights (plain VPT weights included).
    """
    from steve1.embed_conditioned_policy import DEFAULT_GOAL_DIM, GOAL_KEY_PREFIX, load_model_config
    from steve1.MineRLConditionalAgent import build_conditional_policy, load_conditional_policy_weights
    from VPT.lib.loading import read_state_dict

    config_dim = load_model_config(cfg["in_model"])[0].get("goal_dim")
    state_dict = read_state_dict(cfg["in_weights"])
    goal_weight = state_dict.get(GOAL_KEY_PREFIX + "weight")  # [hidsize, D]: the goal size the policy was trained on
    weights_dim = None if goal_weight is None or goal_weight.ndim != 2 else int(goal_weight.shape[1])
    model_dim = config_dim if config_dim is not None else weights_dim
    if model_dim is not None and goal_dim is not None and int(model_dim) != int(goal_dim):
        what = f"the model config {cfg['in_model']}" if config_dim is not None else f"the weights {cfg['in_weights']}"
        raise UsageError(f"{source_of(sources, 'codebook')}: the codebook {cfg.get('codebook')} holds goals of size "
                         f"{goal_dim}, but the low-level policy ({what}) takes goals of size {model_dim}")
    policy = build_conditional_policy(cfg["in_model"], action_space,
                                      goal_dim=int(goal_dim or model_dim or DEFAULT_GOAL_DIM))
    # strict: plain VPT weights are refused (§12.1.12)
    load_conditional_policy_weights(policy, cfg["in_weights"], state_dict=state_dict)
    for p in policy.parameters():
        p.requires_grad_(False)
    return policy.to(device).eval()


def prior_temperature(cfg: Mapping[str, Any]) -> float:
    """The goal prior's softmax temperature: the one stored in its weights file, else its model config's."""
    from goal_prior.load_prior import read_prior_info
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim

    info = read_prior_info(cfg["prior_weights"])
    if info.temperature is not None:
        return float(info.temperature)
    return float(load_model_config(cfg["in_model"])[1].get("temperature", 1.0))


def load_prior(cfg: Mapping[str, Any], n_codes: int, device: torch.device):
    """The goal prior (``goal_prior.load_prior.make_prior_model``, strict), or None without ``goal_prior``."""
    if not cfg.get("goal_prior"):
        return None
    from goal_prior.load_prior import make_prior_model

    prior = make_prior_model(cfg["in_model"], cfg["prior_weights"], n_codes=n_codes, device=device,
                             codebook_path=cfg.get("codebook"))
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior.eval()


def load_trunk(cfg: Mapping[str, Any], device: torch.device):
    """The frozen high-level trunk (:class:`sb3_vpt.policy.VPTTrunk`).

    Architecture: ``highlevel_model`` (default ``in_model``; its goal input, if any, is dropped). Weights: the
    trunk tensors of ``weights`` (VPT), or of ``prior_weights`` with ``initialize_with_prior`` (upstream loads the
    whole prior then).
    """
    from goal_prior.load_prior import load_part_vpt_weights
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim
    from VPT.lib.policy import MinecraftPolicy

    policy_kwargs, _ = load_model_config(cfg.get("highlevel_model") or cfg["in_model"])
    policy_kwargs.pop("goal_dim", None)
    trunk = VPTTrunk(MinecraftPolicy(**policy_kwargs))
    source = cfg["prior_weights"] if cfg.get("initialize_with_prior") else cfg["weights"]
    load_part_vpt_weights(trunk, source, prefixes=TRUNK_PREFIXES)
    return trunk.to(device).eval()


def _resolve_auto_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_auto_device(v, device) for k, v in value.items()}
    return str(device) if value == "auto" else value


def make_envs(cfg: Mapping[str, Any], n_envs: int, device: torch.device) -> list:
    """``n_envs`` instances of the task (``tasks.make(config, **env_overrides)``)."""
    import tasks

    overrides = _resolve_auto_device(dict(cfg.get("env_overrides") or {}), device)
    return [tasks.make(cfg["config"], **overrides) for _ in range(n_envs)]


def _plugin_actions(cfg: Mapping[str, Any], env: Any):
    """(agent action space, agent_action_to_env) from the simulator plugin; for a plugin without them and a
    ``Discrete`` env the agent action is the env action (an int)."""
    import tasks
    from gymnasium import spaces

    plugin = tasks.get_plugin(cfg["sim"])
    action_space = getattr(plugin, "ACTION_SPACE", None)
    to_env = getattr(plugin, "agent_action_to_env", None)
    if action_space is None or to_env is None:
        if not isinstance(env.action_space, spaces.Discrete):
            raise AttributeError(f"simulator plugin {plugin.__name__} must define ACTION_SPACE and agent_action_to_env")
        action_space = action_space or env.action_space

        def to_env(agent_action):  # noqa: F811 - Discrete: the agent's int64 [1, 1] action is the env's int
            return int(np.asarray(agent_action).reshape(-1)[0])
    return action_space, to_env


def make_highlevel_env(cfg: Mapping[str, Any], device: torch.device, n_envs: Optional[int] = None,
                       record_frames: bool = False, envs: Optional[list] = None,
                       sources: Optional[Mapping[str, str]] = None):
    """Build every model of the run and the :class:`HighlevelVecEnv` (not yet reset).

    Returns:
        ``(venv, parts)`` with ``parts = {'codebook', 'low_level', 'prior', 'trunk'}``.
    Raises:
        SimulatorNotInstalledError: the task's simulator is missing. FileNotFoundError: a model file is missing
        (message says how to produce it). steve1.utils.cli.UsageError: a file that cannot be read or that does not
        fit the others (the message starts with where its path came from, ``sources``).
    """
    from hierarchical.high_level_wrapper import HighlevelVecEnv

    check_files(cfg, sources)
    n_envs = int(n_envs or cfg["n_envs"])
    from VPT.lib.loading import WeightsLoadError

    def named(key: str, load, *args):  # a loader's error, prefixed with where the file's path came from
        try:
            return load(*args)
        except (ValueError, WeightsLoadError) as exc:
            if isinstance(exc, UsageError):
                raise
            raise UsageError(f"{source_of(sources, key)}: {exc}") from exc

    codebook = named("codebook", load_codebook, cfg)
    envs = envs if envs is not None else make_envs(cfg, n_envs, device)
    action_space, to_env = _plugin_actions(cfg, envs[0])
    goal_dim = codebook.codes.shape[1] if codebook is not None else cfg.get("goal_dim")
    low_level = named("in_weights", load_low_level, cfg, action_space, goal_dim, device, sources)
    prior = named("prior_weights", load_prior, cfg, codebook.N, device) if codebook is not None else None
    trunk = named("prior_weights" if cfg.get("initialize_with_prior") else "weights", load_trunk, cfg, device)
    img_shape = getattr(trunk.net, "img_shape", None)
    venv = HighlevelVecEnv(
        envs, low_level, trunk, to_env, codebook=codebook, goal_dim=low_level.goal_dim,
        goal_bound=None if cfg["goal_bound"] is None else float(cfg["goal_bound"]), prior=prior,
        cond_scale=cfg["cond_scale"], low_level_steps=int(cfg["low_level_steps"]),
        kl_reward=float(cfg["kl_reward"] or 0.0) if prior else 0.0, kl_direction=cfg["kl_direction"], device=device,
        frame_size=None if img_shape is None else tuple(img_shape[:2]), record_frames=record_frames,
        bootstrap_truncation=bool(cfg["bootstrap_truncation"]))
    return venv, {"codebook": codebook, "low_level": low_level, "prior": prior, "trunk": trunk}
