"""The one registry of ``ppo_highlevel.py --method``: names, presets, the config resolution that applies them, the
SB3 class of each method's checkpoints and a builder per method (PTGM paper §5; what ``ppo_highlevel.py``,
``hierarchical/evaluate.py`` and ``bench/sample_efficiency.py`` dispatch on).

==================  =================================================================================================
``ptgm``            PTGM: high-level PPO over the goal codebook with the goal prior's KL reward (the config as is;
                    :func:`hierarchical.build.make_highlevel_env`)
``ptgm_no_prior``   PTGM without the goal prior: ``goal_prior: false``, ``kl_reward: 0`` (paper's "w/o prior")
``ptgm_continuous`` PTGM without the codebook: the high level outputs goal embeddings ``Box(-goal_bound, goal_bound,
                    (D,))`` (``discrete: false``; no prior, which needs codes)
``ppo``             flat PPO from scratch on the raw frames and actions, the field's PPO-ResNet recipe for Crafter
                    (Moon et al. 2023; IMPALA ResNet trunk, value normalization, gamma 0.95, lambda 0.65, 8 envs x
                    512 steps, 3 epochs): :mod:`hierarchical.flat_ppo`, hyperparameters in
                    ``configs/crafter/ppo.yaml`` (:data:`hierarchical.flat_ppo.RECIPE_PATH`)
``ppo_sb3``         flat PPO from scratch with SB3's defaults: ``stable_baselines3.PPO('CnnPolicy')`` (NatureCNN) on
                    the raw 64x64 frames (:mod:`hierarchical.flat_baselines`); every run before issue 19 that was
                    called ``ppo``
``bc_ppo``          the behaviour-cloned low-level policy fine-tuned with PPO on the raw action space (the
                    VPT-finetune analogue without its KL term; :mod:`hierarchical.bc_ppo`)
``bc_ppo_kl``       ``bc_ppo`` with VPT-finetune's KL term to the frozen BC policy, as a reward like PTGM's:
                    ``-kl_reward * KL(pi || pi_BC)`` per env step (``kl_reward`` and ``kl_direction`` of the config,
                    > 0; :mod:`hierarchical.bc_ppo`)
``steve1_prompt``   the goal-conditioned low-level policy following the task prompt's text goal embedding, no RL
                    (:mod:`hierarchical.prompt_baseline`)
==================  =================================================================================================

Every method writes the same run directory as PTGM (``stats.csv`` with one row per PPO iteration or evaluation
window, ``tb/``, ``checkpoints/``, ``results.json``, and ``episodes.jsonl``: one line per ended episode with its
unlocked Crafter achievements, :class:`hierarchical.episode_log.EpisodeLog`), counts **env steps** (every low-level
step) and reports the success rate of the episodes that ended in each row, so the curves compare directly.

Design choices (documented where they differ from a literal reading of the paper):

* ``ppo`` lays ``configs/crafter/ppo.yaml`` (the recipe, :func:`hierarchical.flat_ppo.load_recipe`) over the task's
  high-level config, under the given flags (:func:`method_overrides`); its network is narrower than published
  (``impala_chans`` [8, 16, 16] instead of [64, 128, 128]: the widest measured that trains 1M env steps in <= ~5 h
  on one CPU core, ``bench/results/flat_ppo_throughput.json``).
* ``ppo_sb3``, ``bc_ppo`` and ``bc_ppo_kl`` use SB3's defaults (``n_steps=2048`` per env, ``batch_size=64``,
  ``n_epochs=10``, ``lr=3e-4``, ``gamma=0.99``, ``gae_lambda=0.95``, ``clip_range=0.2``, ``ent_coef=0``): the
  well-tested flat baseline, not weakened and not tuned against PTGM. The high-level config's PPO keys are *not*
  used (they are per-goal-step values), but for ``bc_ppo_kl``'s ``lr`` and ``value_init`` (below).
* ``bc_ppo_kl`` takes ``kl_reward`` from the config (the file's, PTGM's 0.05, unless a flag gives another): the
  same weight per decision as PTGM's KL to its prior, a decision being one env step here. It also takes ``lr``
  (the file's 3e-4 is SB3's default) and, as every method with :class:`sb3_vpt.policy.VPTHeadPolicy`,
  ``value_init``; its other PPO values are SB3's defaults, as ``bc_ppo``'s.
* ``bc_ppo``, ``bc_ppo_kl`` and ``steve1_prompt``: see :mod:`hierarchical.bc_ppo` and
  :mod:`hierarchical.prompt_baseline`.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from hierarchical.config import LEGACY_VALUES, HighLevelConfig, with_values
from steve1.utils.cli import UsageError
from steve1.utils.config import load_config, read_yaml

__all__ = ["METHODS", "METHOD_PRESETS", "method_overrides", "algorithm_class", "run_method", "config_path",
           "resolve_config", "load_run_config", "TRAINING", "make_eval_env"]

#: Method names accepted by ``ppo_highlevel.py --method`` (and a config file's ``method`` key).
METHODS = ("ptgm", "ppo", "ppo_sb3", "bc_ppo", "bc_ppo_kl", "ptgm_no_prior", "ptgm_continuous", "steve1_prompt")
#: Config values each method sets (given command-line flags still override them).
METHOD_PRESETS: dict[str, dict[str, Any]] = {
    "ptgm": {},
    "ptgm_no_prior": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "ptgm_continuous": {"discrete": False, "goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "ppo": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},  # + configs/crafter/ppo.yaml
    "ppo_sb3": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "bc_ppo": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
    "bc_ppo_kl": {"goal_prior": False, "initialize_with_prior": False},  # kl_reward: the config's, to the BC policy
    "steve1_prompt": {"goal_prior": False, "kl_reward": 0.0, "initialize_with_prior": False},
}


def method_overrides(method: Optional[str], given: Mapping[str, Any]) -> dict[str, Any]:
    """The config overrides of ``method``'s preset (None: ``ptgm``, no preset), under the explicitly given flags
    ``given``, with ``method`` itself.

    For ``ppo`` the preset also holds every key of the recipe file (:func:`hierarchical.flat_ppo.load_recipe`,
    ``configs/crafter/ppo.yaml``), so the recipe's PPO values replace the high-level config's and a given flag
    still wins.

    Raises:
        ValueError: unknown method; a bad recipe file.
        FileNotFoundError: the recipe file is missing.
    """
    method = method or "ptgm"
    if method not in METHOD_PRESETS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    preset = dict(METHOD_PRESETS[method])
    if method == "ppo":
        from hierarchical.flat_ppo import load_recipe

        preset.update(load_recipe())
    return {**preset, **{k: v for k, v in given.items() if v is not None}, "method": method}


def algorithm_class(method: Optional[str]):
    """The SB3 algorithm class that saves and loads ``method``'s checkpoints: :class:`hierarchical.flat_ppo.FlatPPO`
    for ``ppo`` (its value normalization lives in the rollout hook), ``stable_baselines3.PPO`` otherwise."""
    if method == "ppo":
        from hierarchical.flat_ppo import FlatPPO

        return FlatPPO
    from stable_baselines3 import PPO

    return PPO


def run_method(cfg: Union[HighLevelConfig, Mapping[str, Any]]) -> str:
    """The method of a run's resolved config (a :class:`HighLevelConfig` or its ``config.yaml`` as a mapping), with
    the legacy rule of issue 19: a run made before ``ppo`` became the PPO-ResNet recipe says ``method: ppo`` but has
    no recipe keys (``impala_chans`` absent or null); it is an SB3-defaults run and is ``ppo_sb3``. No ``method``
    key (the oldest runs) is ``ptgm``."""
    get = cfg.get if isinstance(cfg, Mapping) else lambda key: getattr(cfg, key)
    method = get("method") or LEGACY_VALUES["method"]
    return "ppo_sb3" if method == "ppo" and get("impala_chans") is None else method


def config_path(task_spec: Mapping[str, Any], given: Optional[Union[str, os.PathLike]] = None) -> str:
    """The high-level config file of a task: ``given`` (``--highlevel_config``), else the spec's
    ``highlevel_config``, else ``configs/<sim>/highlevel.yaml`` when that exists (relative to the working directory).

    Raises:
        KeyError: none of them.
    """
    path = given or task_spec.get("highlevel_config")
    if not path and Path(f"configs/{task_spec['sim']}/highlevel.yaml").is_file():
        path = f"configs/{task_spec['sim']}/highlevel.yaml"  # convention when the spec names none
    if not path:
        raise KeyError(f"task {task_spec.get('name')!r} has no 'highlevel_config' key in tasks/task_specs.yaml and "
                       f"configs/{task_spec['sim']}/highlevel.yaml does not exist; add the key (e.g. "
                       "configs/crafter/highlevel.yaml) or pass --highlevel_config")
    return str(path)


def _check_method(cfg: HighLevelConfig, sources: Mapping[str, str]) -> None:
    if cfg.method not in METHODS:
        raise UsageError(f"{sources.get('method', 'config key method')}: method must be one of {', '.join(METHODS)}, "
                         f"got {cfg.method!r}")


def resolve_config(task_spec: Mapping[str, Any], flags: Mapping[str, Any],
                   highlevel_config: Optional[Union[str, os.PathLike]] = None, method: Optional[str] = None,
                   ) -> tuple[HighLevelConfig, dict[str, str]]:
    """A new run's config: the task's high-level config file (:func:`config_path`), the preset of its method
    (``method``, i.e. ``--method``, else the file's ``method`` key; :func:`method_overrides`) over it, the given
    ``flags`` over that; ``config``/``sim``/``highlevel_config`` from the task; ``name`` null ->
    ``ppo_highlevel_<task>``. Checked once (:meth:`HighLevelConfig.check`).

    Args:
        task_spec: ``tasks.get_specs(task)``.
        flags: config values given on the command line (None values are ignored).
        highlevel_config: ``--highlevel_config`` (None: the task's file).
        method: ``--method`` (None: the file's ``method``).
    Returns:
        ``(config, sources)``: sources maps each key to ``"--key"``, ``"<file> key 'key'"``, or the preset
        (``"--method ppo preset (hierarchical/methods.py)"``).
    Raises:
        KeyError: no config file for the task. FileNotFoundError: the file is missing (or the recipe file of
        ``ppo``). steve1.utils.cli.UsageError (a ValueError): unknown or missing keys, a value out of range or of the
        wrong type, options that do not fit together, an unknown method.
    """
    path = config_path(task_spec, highlevel_config)
    where = "--method"
    if method is None:  # the file names the method: its preset applies as --method's would
        method, where = read_yaml(path).get("method"), f"{path} key 'method'"
    overrides = {k: v for k, v in flags.items() if v is not None}
    sources: dict[str, str] = {}
    if method in METHODS:
        label = f"--method {method} preset (hierarchical/methods.py)" if where == "--method" else \
            f"{where} ({method} preset, hierarchical/methods.py)"
        overrides = method_overrides(method, overrides)
        sources = {k: label for k in overrides if k not in flags}
        if where == "--method":
            sources["method"] = "--method"
        else:
            del overrides["method"]  # the file's own value
    elif method is not None and where == "--method":
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    from_spec = f"tasks/task_specs.yaml task '{task_spec['name']}'"
    overrides.update(config=task_spec["name"], sim=task_spec["sim"], highlevel_config=path)
    sources.update(config=from_spec, sim=from_spec,
                   highlevel_config="--highlevel_config" if highlevel_config else f"{from_spec} key 'highlevel_config'")
    cfg, sources = load_config(HighLevelConfig, path, overrides, sources)
    _check_method(cfg, sources)
    if cfg.name is None:
        cfg = dataclasses.replace(cfg, name=f"ppo_highlevel_{cfg.config}")
    return cfg, sources


def load_run_config(path: Union[str, os.PathLike], flags: Mapping[str, Any],
                    override_sources: Optional[Mapping[str, str]] = None) -> tuple[HighLevelConfig, dict[str, str]]:
    """A run's resolved ``config.yaml`` (``--load``, evaluation) with ``flags`` over it; no preset is applied again.
    A file written before a key existed gets the key's :data:`hierarchical.config.LEGACY_VALUES`.

    Raises:
        FileNotFoundError: no such file. steve1.utils.cli.UsageError: as :func:`resolve_config`.
    """
    cfg, sources = load_config(HighLevelConfig, path, flags, override_sources, base=LEGACY_VALUES)
    _check_method(cfg, sources)
    return cfg, sources


# ---- builders: what each method trains ------------------------------------------------------------------------
def _ptgm_env(cfg: HighLevelConfig, run_dir: Path, device, sources: Mapping[str, str]):
    from hierarchical.build import make_highlevel_env
    from hierarchical.episode_log import make_logged_envs

    # envs log each episode's achievements to <run dir>/episodes.jsonl (Crafter score)
    return make_highlevel_env(cfg, device, envs=make_logged_envs(cfg, run_dir, device), sources=sources)


def _ptgm_model(cfg: HighLevelConfig, venv, parts: Mapping[str, Any], device):
    """SB3 ``PPO`` on :class:`sb3_vpt.policy.VPTHeadPolicy` with the config's PPO values; with
    ``initialize_with_prior`` the head is the prior's, at the prior's temperature (fix §12.1.3)."""
    from stable_baselines3 import PPO

    from hierarchical.build import prior_temperature
    from sb3_vpt.policy import VPTHeadPolicy

    temperature = prior_temperature(cfg) if cfg.initialize_with_prior else cfg.temperature
    model = PPO(VPTHeadPolicy, venv, learning_rate=cfg.lr, n_steps=cfg.steps_per_iter, batch_size=cfg.batch_size,
                n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda, clip_range=cfg.clip_range,
                normalize_advantage=cfg.normalize_advantage, ent_coef=cfg.ent_coef, vf_coef=cfg.vf_coef,
                max_grad_norm=cfg.max_grad_norm, target_kl=cfg.target_kl,
                policy_kwargs={"temperature": temperature, "value_init": cfg.value_init}, seed=cfg.seed,
                device=device, verbose=0)
    if cfg.initialize_with_prior:
        from goal_prior.load_prior import make_prior_model

        prior = parts["prior"] or make_prior_model(cfg.in_model, cfg.prior_weights, n_codes=parts["codebook"].N,
                                                   device=device)
        model.policy.copy_head_from(prior)
    return model


def _flat_env(cfg: HighLevelConfig, run_dir: Path, device, sources: Mapping[str, str]):
    from hierarchical.flat_baselines import make_flat_venv

    return make_flat_venv(cfg, run_dir, device), {}


def _recipe_model(cfg: HighLevelConfig, venv, parts: Mapping[str, Any], device):
    from hierarchical.flat_ppo import make_recipe_ppo

    return make_recipe_ppo(venv, cfg, cfg.seed, device)


def _sb3_model(cfg: HighLevelConfig, venv, parts: Mapping[str, Any], device):
    from hierarchical.flat_baselines import make_flat_ppo

    return make_flat_ppo(venv, cfg.seed, device)


def _bc_env(cfg: HighLevelConfig, run_dir: Path, device, sources: Mapping[str, str]):
    from hierarchical.bc_ppo import make_bc_trunk_venv

    venv, bc_policy = make_bc_trunk_venv(cfg, run_dir, device, sources=sources)
    return venv, {"bc_policy": bc_policy}


def _bc_model(cfg: HighLevelConfig, venv, parts: Mapping[str, Any], device):
    from hierarchical.bc_ppo import make_bc_ppo

    kwargs = {"value_init": cfg.value_init}
    if cfg.method == "bc_ppo_kl":  # its learning rate is the config's (SB3's default 3e-4 = the file's lr)
        kwargs["learning_rate"] = cfg.lr
    return make_bc_ppo(venv, parts["bc_policy"], cfg.seed, device, ppo_kwargs=kwargs)


#: Per trained method: ``(make_env(cfg, run_dir, device, sources) -> (venv, parts), make_model(cfg, venv, parts,
#: device) -> SB3 model)``. ``steve1_prompt`` trains nothing:
#: :func:`hierarchical.prompt_baseline.run_prompt_evaluation`.
TRAINING: dict[str, tuple[Callable, Callable]] = {
    "ptgm": (_ptgm_env, _ptgm_model), "ptgm_no_prior": (_ptgm_env, _ptgm_model),
    "ptgm_continuous": (_ptgm_env, _ptgm_model), "ppo": (_flat_env, _recipe_model),
    "ppo_sb3": (_flat_env, _sb3_model), "bc_ppo": (_bc_env, _bc_model),
    "bc_ppo_kl": (_bc_env, _bc_model),
}


def make_eval_env(cfg: HighLevelConfig, method: str, device: Any, run_dir: Path):
    """One-env VecEnv of ``method`` for evaluation, recording every episode's frames and logging nothing to the run
    (``run_dir``: the run, whose ``prompt_goal/centers.pkl`` is ``steve1_prompt``'s goal).

    Returns:
        ``(venv, act)``: ``act(model, obs, deterministic) -> actions`` (``model`` is None for ``steve1_prompt``).
    Raises:
        ValueError: unknown method.
    """
    import numpy as np
    import torch
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    from hierarchical.build import make_envs, make_highlevel_env
    from hierarchical.episode_log import EpisodeFrames

    device = torch.device(device)

    def predict(model, obs, deterministic):
        return model.predict(obs, deterministic=deterministic)[0]

    if method in ("ppo", "ppo_sb3"):
        from hierarchical.flat_baselines import FlatFrameWrapper

        env = FlatFrameWrapper(EpisodeFrames(make_envs(cfg, 1, device)[0]))
        return VecMonitor(DummyVecEnv([lambda: env])), predict
    if method in ("bc_ppo", "bc_ppo_kl"):
        from hierarchical.bc_ppo import make_bc_trunk_venv

        envs = [EpisodeFrames(e) for e in make_envs(cfg, 1, device)]
        venv, _ = make_bc_trunk_venv(cfg, None, device, envs=envs, with_kl=False)
        return venv, predict
    if method == "steve1_prompt":
        run_cfg = with_values(cfg, codebook=str(Path(run_dir) / "prompt_goal" / "centers.pkl"), discrete=True,
                              goal_prior=False, kl_reward=0.0)
        venv, _ = make_highlevel_env(run_cfg, device, n_envs=1, record_frames=True)
        return venv, lambda model, obs, deterministic: np.zeros(len(obs), np.int64)  # the one code: the prompt
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (one of {', '.join(METHODS)})")
    venv, _ = make_highlevel_env(cfg, device, n_envs=1, record_frames=True)
    return venv, predict
