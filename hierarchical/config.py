"""The typed configuration of the high-level stage (``ppo_highlevel.py``, every ``--method``; issue 20).

:class:`HighLevelConfig` has one field per key of a high-level config file (``configs/crafter/highlevel.yaml``,
``configs/minecraft/highlevel.yaml``) and of a run's ``config.yaml``: every value comes from the file (the one source
of truth), a method preset (``hierarchical.methods.method_overrides``; ``--method ppo`` lays
``configs/crafter/ppo.yaml`` over the file) or a given flag, and is checked once (:meth:`HighLevelConfig.check`,
through :func:`steve1.utils.config.load_config`). The resolution itself is :func:`hierarchical.methods.resolve_config`
(a task's config file) and :func:`hierarchical.methods.load_run_config` (a run's ``config.yaml``, for ``--load`` and
evaluation).

The builders (``hierarchical.build``, ``hierarchical.flat_ppo``, ``hierarchical.flat_baselines``,
``hierarchical.bc_ppo``, ``hierarchical.episode_log``, ``hierarchical.prompt_baseline``) take a
:class:`HighLevelConfig` only (:func:`require_config`: a plain mapping is a ``TypeError``, never read silently) and
read its fields as attributes. A caller that measures with other values (a bench script: its own goals as the
codebook, no prior, fewer envs) lays them over a resolved config with :func:`with_values`, which checks the result
again; :func:`as_config` is the explicit converter of a mapping with every key into the checked object.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Union

from steve1.utils.checks import Range
from steve1.utils.cli import UsageError, source_of
from steve1.utils.config import StageConfig, config_dict, load_config, setting

__all__ = ["HighLevelConfig", "RECIPE_NETWORK_KEYS", "LEGACY_VALUES", "FLAG_FIELDS", "as_config", "with_values",
           "require_config", "config_dict"]

#: Network / normalizer keys of the flat-PPO recipe (``configs/crafter/ppo.yaml``, ``hierarchical.flat_ppo``): null
#: for every method but ``ppo``.
RECIPE_NETWORK_KEYS = ("value_norm_beta", "impala_chans", "impala_blocks", "impala_outsize", "hidsize",
                       "impala_group_norm")

#: Values of keys that a run's ``config.yaml`` written before a key existed lacks (read only for such runs):
#: ``method`` (the oldest runs are PTGM), the recipe keys (before issue 19: null; a ``ppo`` run without them is an
#: SB3-defaults run, ``hierarchical.methods.run_method``), ``goal_embedder`` (before ``steve1_prompt``),
#: ``value_init`` (before it: VPT's init).
LEGACY_VALUES: dict[str, Any] = {"method": "ptgm", "goal_embedder": None, "value_init": "vpt",
                                  **{k: None for k in RECIPE_NETWORK_KEYS}}

_KL_DIRECTIONS = ("forward", "reverse")  # hierarchical.high_level_wrapper.KL_DIRECTIONS (not imported: torch)


@dataclass
class HighLevelConfig(StageConfig):
    """Every setting of a high-level run (module docstring); field help strings give units and meanings."""

    # ---- models and goals
    in_model: str = setting("model config (VPT .model pickle or YAML) of the low-level policy and the goal prior")
    in_weights: str = setting("weights of the goal-conditioned low-level policy")
    highlevel_model: Optional[str] = setting("model config of the high-level trunk (null: in_model)", nullable=True)
    weights: str = setting("VPT weights whose image encoder + transformer initialise the frozen high-level trunk")
    prior_weights: Optional[str] = setting("weights of the goal prior (needed with goal_prior or "
                                           "initialize_with_prior)", nullable=True)
    codebook: Optional[str] = setting("goal codebook centers.pkl (needed with discrete goals)", nullable=True)
    goal_embedder: Optional[str] = setting("goal embedder file for text prompts (--method steve1_prompt; Crafter: "
                                           "CrafterCLIP; null: none)", nullable=True)
    discrete: bool = setting("actions are code indices of the codebook (--no-discrete: continuous goal embeddings)")
    goal_dim: Optional[int] = setting("continuous goals: their size D (null: the low-level model's goal size)",
                                      Range(int, lo=1, optional=True))
    goal_bound: Optional[float] = setting("continuous goals: box [-b, b]^D", Range(float, lo=0, lo_open=True,
                                                                                   optional=True))
    goal_prior: bool = setting("use the goal prior and its KL reward (needs discrete goals)")
    initialize_with_prior: bool = setting(
        "initialise the high-level head and trunk from the goal prior, with the prior's temperature, so the initial "
        "policy is the prior")
    temperature: float = setting("softmax temperature of the high-level head (ignored with --initialize_with_prior)",
                                 Range(float, lo=0, lo_open=True))
    # ---- hierarchy and reward
    cond_scale: Optional[float] = setting("classifier-free guidance scale of the low level (null: no guidance)",
                                          Range(float, optional=True, note="classifier-free guidance scale"))
    low_level_steps: int = setting("env steps per goal", Range(int, lo=1, note="env steps per goal"))
    kl_reward: Optional[float] = setting("alpha: reward = sum of env rewards - alpha * KL (0, null or no prior: no "
                                         "KL term)", Range(float, lo=0, optional=True,
                                                           note="the weight of the KL penalty"))
    kl_direction: str = setting("forward: KL(pi_high || prior) (upstream); reverse: KL(prior || pi_high)",
                                choices=_KL_DIRECTIONS)
    bootstrap_truncation: bool = setting("bootstrap the value at time-limit ends (upstream: no, truncation = "
                                         "termination)")
    # ---- PPO (stable_baselines3.PPO)
    steps_per_iter: int = setting("steps per env per rollout (SB3 n_steps; high-level steps, env steps for the "
                                  "flat methods)", Range(int, lo=1, note="high-level steps per env per rollout"))
    batch_size: int = setting("minibatch size", Range(int, lo=1))
    n_epochs: int = setting("epochs per rollout", Range(int, lo=1))
    lr: float = setting("Adam learning rate (constant)", Range(float, lo=0, lo_open=True))
    gamma: float = setting("discount per high-level step (per env step for the flat methods)",
                           Range(float, lo=0, hi=1, lo_open=True))
    gae_lambda: float = setting("GAE lambda", Range(float, lo=0, hi=1))
    clip_range: float = setting("PPO clip range", Range(float, lo=0, lo_open=True))
    vf_coef: float = setting("value loss coefficient", Range(float, lo=0))
    value_init: str = setting("initial value head: vpt (upstream: unit-norm orthogonal rows, values of order 1) or "
                              "zero (the value is 0 until trained); ptgm and bc_ppo methods", choices=("vpt", "zero"))
    ent_coef: float = setting("entropy bonus coefficient", Range(float, lo=0))
    max_grad_norm: float = setting("gradient clipping norm", Range(float, lo=0, lo_open=True))
    normalize_advantage: bool = setting("normalise advantages per minibatch")
    target_kl: Optional[float] = setting("early-stop an update above this approx KL (null: never)",
                                         Range(float, lo=0, lo_open=True, optional=True))
    # ---- run
    steps: Optional[int] = setting("budget in high-level steps, summed over envs (upstream semantics; null: none)",
                                   Range(int, lo=1, optional=True, note="high-level steps"))
    env_steps: Optional[int] = setting("budget in env steps; training stops when either budget is reached (null: "
                                       "none)", Range(int, lo=1, optional=True, note="env steps"))
    n_envs: int = setting("parallel envs (batched through every network)", Range(int, lo=1))
    seed: int = setting("seed of torch, NumPy, Python random and the envs", Range(int, lo=0))
    save_freq: int = setting("checkpoint every N PPO iterations (0: only the final checkpoint)",
                             Range(int, lo=0, note="PPO iterations; 0: only the final checkpoint"))
    print_freq: int = setting("print the recent success rate every N PPO iterations (0: never)",
                              Range(int, lo=0, note="PPO iterations; 0: never"))
    env_overrides: dict = setting("keyword arguments of tasks.make(task, ...) (device 'auto': the run's device)",
                                  flag=False)
    # ---- the flat-PPO recipe (configs/crafter/ppo.yaml via --method ppo; null for the other methods)
    value_norm_beta: Optional[float] = setting("--method ppo: decay of the value-target EWMA normalizer per PPO update",
                                               Range(float, lo=0, hi=1, hi_open=True, optional=True))
    impala_chans: Optional[list[int]] = setting("--method ppo: channels of the IMPALA ResNet stages "
                                                "(configs/crafter/ppo.yaml; published 64 128 128)", nullable=True)
    impala_blocks: Optional[int] = setting("--method ppo: residual blocks per IMPALA stage",
                                           Range(int, lo=1, optional=True))
    impala_outsize: Optional[int] = setting("--method ppo: IMPALA trunk output size", Range(int, lo=1, optional=True))
    hidsize: Optional[int] = setting("--method ppo: the dense layer after the trunk (features of the heads)",
                                     Range(int, lo=1, optional=True))
    impala_group_norm: Optional[bool] = setting("--method ppo: GroupNorm(1) in the IMPALA trunk", nullable=True)
    # ---- the run (method, where it goes, what task)
    method: str = setting("ptgm or a baseline/ablation preset (hierarchical/methods.py); --method overrides it and "
                          "lays its preset over the file", flag=False)
    results_dir: str = setting("where run directories are created")
    name: Optional[str] = setting("run name; the run directory is <results_dir>/<name>_<time> (null: "
                                  "ppo_highlevel_<task>)", nullable=True)
    config: str = setting("task name in tasks/task_specs.yaml (from --config)", flag=False)
    sim: str = setting("the task's simulator (tasks/task_specs.yaml)", flag=False)
    highlevel_config: str = setting("the high-level config file the run was resolved from", flag=False)

    def check_consistency(self, sources: Mapping[str, str]) -> None:
        """A goal prior needs discrete goals and prior weights (so does ``initialize_with_prior``), discrete goals a
        codebook, a run a budget, ``--method bc_ppo_kl`` a ``kl_reward`` > 0, and ``--method ppo`` either every
        recipe key or none (a run made before the recipe, resumed as ``ppo_sb3``).

        Raises:
            UsageError: naming the flag or ``<file> key '<key>'`` (``sources``).
        """
        def where(key: str) -> str:
            return source_of(sources, key)

        def need(key: str) -> None:
            if getattr(self, key) is None:
                raise UsageError(f"{where(key)}: '{key}' is not set (set it in {self.highlevel_config or 'the config'} "
                                 f"or pass --{key})")

        if self.discrete:
            need("codebook")
        for key in ("goal_prior", "initialize_with_prior"):
            if getattr(self, key):
                if not self.discrete:
                    why = " (the prior is a distribution over the codes; spec §12.1.2)" if key == "goal_prior" else ""
                    raise UsageError(f"{where(key)}: {key} needs discrete goals{why}, but {where('discrete')} sets "
                                     "discrete: false")
                need("prior_weights")
        if self.steps is None and self.env_steps is None:
            raise UsageError(f"{where('env_steps')}: set a budget: steps (high-level steps) and/or env_steps")
        if self.method == "bc_ppo_kl" and not (self.kl_reward or 0) > 0:
            raise UsageError(f"{where('kl_reward')}: method bc_ppo_kl needs kl_reward > 0 (the weight of its KL to the "
                             f"BC policy), got {self.kl_reward} (kl_reward 0 is method bc_ppo)")
        if self.method == "ppo":
            unset = [k for k in RECIPE_NETWORK_KEYS if getattr(self, k) is None]
            if unset and len(unset) < len(RECIPE_NETWORK_KEYS):
                raise UsageError(f"{where(unset[0])}: method ppo needs every recipe key of configs/crafter/ppo.yaml, "
                                 f"but {', '.join(unset)} {'is' if len(unset) == 1 else 'are'} null")


#: Fields a command-line flag of ``ppo_highlevel.py`` overrides (the others: config file, or run-only flags).
FLAG_FIELDS = tuple(f.name for f in dataclasses.fields(HighLevelConfig) if f.metadata.get("flag", True))


def as_config(cfg: Union[HighLevelConfig, Mapping[str, Any]]) -> HighLevelConfig:
    """``cfg`` as a checked :class:`HighLevelConfig`: itself, or a mapping with every key (a run's ``config.yaml``
    read as a mapping -- keys it lacks because it predates them get :data:`LEGACY_VALUES` -- or :func:`config_dict`
    of a config with values laid over it, :func:`with_values`; other keys are ignored). The explicit converter at the
    edges: the builders take only the object (:func:`require_config`).

    Raises:
        steve1.utils.cli.UsageError: a missing key or a value out of range (``config key '<key>'``).
    """
    if isinstance(cfg, HighLevelConfig):
        return cfg
    return load_config(HighLevelConfig, None, {}, base={**LEGACY_VALUES, **dict(cfg)})[0]


def with_values(cfg: HighLevelConfig, **values: Any) -> HighLevelConfig:
    """A new :class:`HighLevelConfig`: ``cfg`` (unchanged) with ``values`` (field name -> value; None is a value,
    e.g. ``codebook=None``) laid over it, checked again as a whole (:meth:`HighLevelConfig.check`, through
    :func:`as_config`).

    Raises:
        TypeError: ``cfg`` is not a :class:`HighLevelConfig`.
        steve1.utils.cli.UsageError: a value out of range, or values that do not fit together (``config key
            '<key>'``).
    """
    require_config(cfg, "with_values")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(HighLevelConfig)})
    if unknown:
        raise TypeError(f"with_values: unknown HighLevelConfig field(s) {unknown}")
    return as_config({**config_dict(cfg), **values})


def require_config(cfg: Any, who: str) -> HighLevelConfig:
    """``cfg`` itself when it is a :class:`HighLevelConfig` (the check at the entry of every builder).

    Raises:
        TypeError: anything else (e.g. a plain dict), naming the builder ``who`` and how to get the object.
    """
    if not isinstance(cfg, HighLevelConfig):
        raise TypeError(f"{who} takes a hierarchical.config.HighLevelConfig (hierarchical.methods.resolve_config or "
                        f"load_run_config; hierarchical.config.as_config converts a mapping), got "
                        f"{type(cfg).__name__}")
    return cfg
