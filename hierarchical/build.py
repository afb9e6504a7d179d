"""Building a high-level run from its typed config (:class:`hierarchical.config.HighLevelConfig`): model loading, the
task envs, the hierarchical VecEnv.

Shared by ``ppo_highlevel.py`` (training), ``hierarchical/evaluate.py`` (evaluation) and the bench scripts, so all
build exactly the same environment from a run's config. The config is resolved and checked once before
(:func:`hierarchical.methods.resolve_config`, :func:`hierarchical.methods.load_run_config`); the builders take that
:class:`~hierarchical.config.HighLevelConfig` only (a plain mapping raises ``TypeError``:
:func:`hierarchical.config.require_config`) and read its fields.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import torch

from hierarchical.config import HighLevelConfig, require_config
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import read_yaml  # the one YAML loader of the stage configs (bench scripts import it here)

__all__ = ["FILE_HINTS", "check_files", "select_device", "load_codebook", "load_low_level", "load_prior",
           "load_trunk", "make_envs", "make_highlevel_env", "read_yaml", "prior_temperature"]

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


def check_files(cfg: HighLevelConfig, sources: Optional[Mapping[str, str]] = None) -> None:
    """Raise ``FileNotFoundError`` naming the first missing model file of the run, where its path came from
    (``sources``) and how to produce it. Called once per build, by the builders that load the files
    (:func:`make_highlevel_env`, ``hierarchical.bc_ppo.make_bc_trunk_venv``)."""
    require_config(cfg, "hierarchical.build.check_files")
    keys = ["in_model", "in_weights", "weights"]
    if cfg.highlevel_model:
        keys.append("highlevel_model")
    if cfg.discrete:
        keys.append("codebook")
    if cfg.goal_prior or cfg.initialize_with_prior:
        keys.append("prior_weights")
    for key in keys:
        path = getattr(cfg, key)
        if not Path(path).is_file():
            raise FileNotFoundError(f"{source_of(sources, key)}: {key} file not found: {path} -- "
                                    f"{FILE_HINTS[key]} (or pass --{key} PATH)")


def select_device(device: Optional[str] = None, cpu: bool = False) -> torch.device:
    """``cpu`` if asked, else ``device`` if given, else ``cuda`` when available, else ``cpu``."""
    if cpu:
        return torch.device("cpu")
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_codebook(cfg: HighLevelConfig):
    """The run's ``KMeansCodebook`` (or None for continuous goals)."""
    if not cfg.discrete:
        return None
    from goal_prior.codebook import KMeansCodebook

    return KMeansCodebook(cfg.codebook)


def load_low_level(cfg: HighLevelConfig, action_space: Any, goal_dim: Optional[int], device: torch.device,
                   sources: Optional[Mapping[str, str]] = None):
    """The frozen goal-conditioned low-level policy (STEVE-1 format, ``steve1.MineRLConditionalAgent``'s builder and
    strict loader), eval, on ``device``.

    ``goal_dim``: the goal size the high level feeds (the codebook's D); it must match the model config's
    ``goal_dim`` when that has one, else the goal size of the weights (``net.mineclip_embed_linear.weight``).
    ``sources``: where the config values came from (named in errors).

    Raises:
        TypeError: ``cfg`` is not a :class:`HighLevelConfig`.
        steve1.utils.cli.UsageError: goal sizes disagree (the message blames the codebook). FileNotFoundError / WeightsLoadError: missing, unreadable or mismatching
            weights (plain VPT weights included).
    """
    from steve1.embed_conditioned_policy import DEFAULT_GOAL_DIM, GOAL_KEY_PREFIX, load_model_config
    from steve1.MineRLConditionalAgent import build_conditional_policy, load_conditional_policy_weights
    from VPT.lib.loading import read_state_dict

    require_config(cfg, "hierarchical.build.load_low_level")
    config_dim = load_model_config(cfg.in_model)[0].get("goal_dim")
    state_dict = read_state_dict(cfg.in_weights)
    goal_weight = state_dict.get(GOAL_KEY_PREFIX + "weight")  # [hidsize, D]: the goal size the policy was trained on
    weights_dim = None if goal_weight is None or goal_weight.ndim != 2 else int(goal_weight.shape[1])
    model_dim = config_dim if config_dim is not None else weights_dim
    if model_dim is not None and goal_dim is not None and int(model_dim) != int(goal_dim):
        what = f"the model config {cfg.in_model}" if config_dim is not None else f"the weights {cfg.in_weights}"
        raise UsageError(f"{source_of(sources, 'codebook')}: the codebook {cfg.codebook} holds goals of size "
                         f"{goal_dim}, but the low-level policy ({what}) takes goals of size {model_dim}")
    policy = build_conditional_policy(cfg.in_model, action_space,
                                      goal_dim=int(goal_dim or model_dim or DEFAULT_GOAL_DIM))
    # strict: plain VPT weights are refused (§12.1.12)
    load_conditional_policy_weights(policy, cfg.in_weights, state_dict=state_dict)
    for p in policy.parameters():
        p.requires_grad_(False)
    return policy.to(device).eval()


def prior_temperature(cfg: HighLevelConfig) -> float:
    """The goal prior's softmax temperature: the one stored in its weights file, else its model config's."""
    from goal_prior.load_prior import read_prior_info
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim

    info = read_prior_info(cfg.prior_weights)
    if info.temperature is not None:
        return float(info.temperature)
    return float(load_model_config(cfg.in_model)[1].get("temperature", 1.0))


def load_prior(cfg: HighLevelConfig, n_codes: int, device: torch.device):
    """The goal prior (``goal_prior.load_prior.make_prior_model``, strict), or None without ``goal_prior``."""
    if not cfg.goal_prior:
        return None
    from goal_prior.load_prior import make_prior_model

    prior = make_prior_model(cfg.in_model, cfg.prior_weights, n_codes=n_codes, device=device,
                             codebook_path=cfg.codebook)
    for p in prior.parameters():
        p.requires_grad_(False)
    return prior.eval()


def load_trunk(cfg: HighLevelConfig, device: torch.device):
    """The frozen high-level trunk (:class:`sb3_vpt.policy.VPTTrunk`).

    Architecture: ``highlevel_model`` (default ``in_model``; its goal input, if any, is dropped). Weights: the
    trunk tensors of ``weights`` (VPT), or of ``prior_weights`` with ``initialize_with_prior`` (upstream loads the
    whole prior then).
    """
    from goal_prior.load_prior import load_part_vpt_weights
    from sb3_vpt.policy import TRUNK_PREFIXES, VPTTrunk
    from steve1.embed_conditioned_policy import load_model_config  # the model config may hold goal_dim
    from VPT.lib.policy import MinecraftPolicy

    policy_kwargs, _ = load_model_config(cfg.in_model if cfg.highlevel_model is None else cfg.highlevel_model)
    policy_kwargs.pop("goal_dim", None)
    trunk = VPTTrunk(MinecraftPolicy(**policy_kwargs))
    source = cfg.prior_weights if cfg.initialize_with_prior else cfg.weights
    load_part_vpt_weights(trunk, source, prefixes=TRUNK_PREFIXES)
    return trunk.to(device).eval()


def _resolve_auto_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, dict):
        return {k: _resolve_auto_device(v, device) for k, v in value.items()}
    return str(device) if value == "auto" else value


def make_envs(cfg: HighLevelConfig, n_envs: int, device: torch.device) -> list:
    """``n_envs`` instances of the task (``tasks.make(config, **env_overrides)``)."""
    import tasks

    require_config(cfg, "hierarchical.build.make_envs")
    overrides = _resolve_auto_device(dict(cfg.env_overrides), device)
    return [tasks.make(cfg.config, **overrides) for _ in range(n_envs)]


def _plugin_actions(cfg: HighLevelConfig, env: Any):
    """(agent action space, agent_action_to_env) from the simulator plugin; for a plugin without them and a
    ``Discrete`` env the agent action is the env action (an int)."""
    import tasks
    from gymnasium import spaces

    plugin = tasks.get_plugin(cfg.sim)
    action_space = getattr(plugin, "ACTION_SPACE", None)
    to_env = getattr(plugin, "agent_action_to_env", None)
    if action_space is None or to_env is None:
        if not isinstance(env.action_space, spaces.Discrete):
            raise AttributeError(f"simulator plugin {plugin.__name__} must define ACTION_SPACE and agent_action_to_env")
        action_space = action_space or env.action_space

        def to_env(agent_action):  # noqa: F811 - Discrete: the agent's int64 [1, 1] action is the env's int
            return int(np.asarray(agent_action).reshape(-1)[0])
    return action_space, to_env


def make_highlevel_env(cfg: HighLevelConfig, device: torch.device, n_envs: Optional[int] = None,
                       record_frames: bool = False, envs: Optional[list] = None,
                       sources: Optional[Mapping[str, str]] = None):
    """Build every model of the run and the :class:`HighlevelVecEnv` (not yet reset), after :func:`check_files`.

    ``n_envs``: None: ``cfg.n_envs`` (ignored when ``envs`` are given).

    Returns:
        ``(venv, parts)`` with ``parts = {'codebook', 'low_level', 'prior', 'trunk'}``.
    Raises:
        TypeError: ``cfg`` is not a :class:`HighLevelConfig`.
        SimulatorNotInstalledError: the task's simulator is missing. FileNotFoundError: a model file is missing
        (message says how to produce it). steve1.utils.cli.UsageError: a file that cannot be read or that does not
        fit the others (the message starts with where its path came from, ``sources``).
    """
    from hierarchical.high_level_wrapper import HighlevelVecEnv

    require_config(cfg, "hierarchical.build.make_highlevel_env")
    check_files(cfg, sources)
    n_envs = cfg.n_envs if n_envs is None else n_envs
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
    goal_dim = codebook.codes.shape[1] if codebook is not None else cfg.goal_dim
    low_level = named("in_weights", load_low_level, cfg, action_space, goal_dim, device, sources)
    prior = named("prior_weights", load_prior, cfg, codebook.N, device) if codebook is not None else None
    trunk = named("prior_weights" if cfg.initialize_with_prior else "weights", load_trunk, cfg, device)
    img_shape = getattr(trunk.net, "img_shape", None)
    venv = HighlevelVecEnv(
        envs, low_level, trunk, to_env, codebook=codebook, goal_dim=low_level.goal_dim, goal_bound=cfg.goal_bound,
        prior=prior, cond_scale=cfg.cond_scale, low_level_steps=cfg.low_level_steps,
        # kl_reward null (or no prior): no KL term
        kl_reward=cfg.kl_reward if prior is not None and cfg.kl_reward is not None else 0.0,
        kl_direction=cfg.kl_direction, device=device, frame_size=None if img_shape is None else tuple(img_shape[:2]),
        record_frames=record_frames, bootstrap_truncation=cfg.bootstrap_truncation)
    return venv, {"codebook": codebook, "low_level": low_level, "prior": prior, "trunk": trunk}
