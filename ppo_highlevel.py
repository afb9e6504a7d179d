"""Train PTGM's high-level policy over the goal codebook with PPO (paper §4.3; spec §9).

Recipe: parse args -> resolve the config -> build the hierarchical env and PPO -> learn -> write artefacts.

* The task (``--config``, a ``tasks/task_specs.yaml`` name) names its simulator's high-level config file
  (``highlevel_config``, e.g. ``configs/minecraft/highlevel.yaml``), which holds every hyperparameter; the flags
  below default to None and only override the values they are given. The resolved config is written to
  ``<run dir>/config.yaml``.
* One high-level step = one goal (a code of the codebook) executed by the frozen goal-conditioned low-level policy
  for up to ``low_level_steps`` env steps (:class:`hierarchical.high_level_wrapper.HighlevelVecEnv`); reward =
  summed env rewards - ``kl_reward`` * KL(pi_high || goal prior).
* The high-level network is VPT-shaped with a frozen image encoder and transformer (run inside the VecEnv) and a
  trainable head (:class:`sb3_vpt.policy.VPTHeadPolicy`), trained by ``stable_baselines3.PPO``.

Outputs in ``<results_dir>/<name>_<YYYY-mm-dd_HH-MM-SS>/``: ``config.yaml``, ``stats.csv`` (one row per PPO
iteration), ``tb/`` (TensorBoard), ``checkpoints/`` (SB3 zips + counters/RNG sidecars; ``final.zip``),
``results.json`` (final success rate, counters) and ``success_rate.png`` (success rate vs env steps).

Examples::

    python ppo_highlevel.py --config crafter_wood --env_steps 200000
    python ppo_highlevel.py --config log_plains --name ppo_highlevel_log --discrete --goal_prior --kl_reward 0.05 \
        --low_level_steps 100 --steps_per_iter 40 --steps 15000 --in_weights <steve1>.weights \
        --prior_weights <prior>.weights --codebook <codebook>/centers.pkl
    python ppo_highlevel.py --load results/<run>/checkpoints/final.zip --env_steps 400000   # resume

Where we deliberately differ from upstream ``ppo_highlevel.py`` (spec §9.6, §12): no forked PPO (see
``sb3_vpt/policy.py``); ``--load`` resumes (parameters, optimizer, step counters, RNG); ``--cpu``/``--device`` work;
``--env_steps`` budget; seeds for torch, NumPy, Python and the envs; missing files give an error saying how to get
them; the config is not hard-coded (one source of truth).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from hierarchical.baselines import METHODS, method_overrides

__all__ = ["parse_args", "main", "run"]

_RUN_KEYS_NOT_IN_CONFIG = ("load", "cpu", "device", "highlevel_config", "config")


def build_parser() -> argparse.ArgumentParser:
    """The CLI. Every option defaults to None: its value comes from the task's high-level config file."""
    p = argparse.ArgumentParser(
        description="PTGM high-level PPO over a goal codebook. Every option's default is the value in the task's "
                    "high-level config (tasks/task_specs.yaml key highlevel_config, else configs/<sim>/highlevel.yaml: "
                    "configs/minecraft/highlevel.yaml, configs/crafter/highlevel.yaml); a given flag overrides it.",
        epilog="Example: python ppo_highlevel.py --config crafter_wood --env_steps 200000. Outputs go to "
               "<results_dir>/<name>_<time>/ (config.yaml, stats.csv, tb/, checkpoints/, results.json, "
               "success_rate.png). Ctrl-C (or SIGTERM) saves a checkpoint of the last PPO update, prints the "
               "command that resumes it and exits with code 130 (143).")
    bool_flag = argparse.BooleanOptionalAction
    g = p.add_argument_group("task and run")
    g.add_argument("--config", type=str, default=None,
                   help="task name in tasks/task_specs.yaml (e.g. crafter_wood, log_plains); not needed with --load")
    g.add_argument("--method", choices=list(METHODS), default=None,
                   help="ptgm (default) or a baseline/ablation preset (hierarchical/baselines.py): ppo = flat PPO "
                        "from scratch, the PPO-ResNet recipe (configs/crafter/ppo.yaml), ppo_sb3 = flat SB3 "
                        "PPO('CnnPolicy') with SB3's defaults, bc_ppo = the BC low-level policy fine-tuned with PPO, "
                        "ptgm_no_prior = no goal prior (kl_reward 0), ptgm_continuous = goal embeddings instead of "
                        "codes, steve1_prompt = the low-level policy on the task's text prompt (no RL)")
    g.add_argument("--highlevel_config", type=str, default=None,
                   help="high-level config YAML to use instead of the task spec's highlevel_config")
    g.add_argument("--name", type=str, default=None, help="run name; the run directory is <results_dir>/<name>_<time>")
    g.add_argument("--results_dir", type=str, default=None, help="where run directories are created (./results)")
    g.add_argument("--seed", type=int, default=None, help="seed of torch, NumPy, Python random and the envs")
    g.add_argument("--n_envs", type=int, default=None, help="parallel envs (batched through every network)")
    g.add_argument("--steps", type=int, default=None,
                   help="budget in high-level steps, summed over envs (upstream semantics)")
    g.add_argument("--env_steps", type=int, default=None,
                   help="budget in env steps; training stops when either budget is reached")
    g.add_argument("--load", type=str, default=None,
                   help="resume the run of this checkpoint zip (parameters, optimizer, step counters, RNG; "
                        "its run directory and config.yaml are reused, given flags override them)")
    g.add_argument("--save_freq", type=int, default=None, help="checkpoint every N PPO iterations")
    g.add_argument("--print_freq", type=int, default=None, help="print the recent success rate every N iterations")
    g.add_argument("--cpu", action="store_true", default=None, help="run every network on the CPU")
    g.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available, else cpu)")

    g = p.add_argument_group("models and goals")
    g.add_argument("--in_model", type=str, default=None,
                   help="model config (VPT .model pickle or YAML) of the low-level policy and the goal prior")
    g.add_argument("--in_weights", type=str, default=None, help="weights of the goal-conditioned low-level policy")
    g.add_argument("--highlevel_model", type=str, default=None,
                   help="model config of the high-level trunk (default: --in_model)")
    g.add_argument("--weights", type=str, default=None,
                   help="VPT weights whose image encoder + transformer initialise the frozen high-level trunk")
    g.add_argument("--prior_weights", type=str, default=None, help="weights of the goal prior")
    g.add_argument("--goal_embedder", type=str, default=None,
                   help="goal embedder file for text prompts (--method steve1_prompt; Crafter: CrafterCLIP)")
    g.add_argument("--codebook", type=str, default=None, help="goal codebook centers.pkl")
    g.add_argument("--discrete", action=bool_flag, default=None,
                   help="actions are code indices of the codebook (--no-discrete: continuous goal embeddings)")
    g.add_argument("--goal_dim", type=int, default=None, help="continuous goals: their size D")
    g.add_argument("--goal_bound", type=float, default=None, help="continuous goals: box [-b, b]^D")
    g.add_argument("--goal_prior", action=bool_flag, default=None, help="use the goal prior and its KL reward")
    g.add_argument("--initialize_with_prior", action=bool_flag, default=None,
                   help="initialise the high-level head and trunk from the goal prior, with the prior's temperature, "
                        "so the initial policy is the prior")
    g.add_argument("--temperature", type=float, default=None,
                   help="softmax temperature of the high-level head (ignored with --initialize_with_prior)")

    g = p.add_argument_group("hierarchy and reward")
    g.add_argument("--cond_scale", type=float, default=None, help="classifier-free guidance scale of the low level")
    g.add_argument("--low_level_steps", type=int, default=None, help="env steps per goal")
    g.add_argument("--kl_reward", type=float, default=None,
                   help="alpha: reward = sum of env rewards - alpha * KL (0 or no prior: no KL term)")
    g.add_argument("--kl_direction", choices=["forward", "reverse"], default=None,
                   help="forward: KL(pi_high || prior) (upstream); reverse: KL(prior || pi_high)")
    g.add_argument("--bootstrap_truncation", action=bool_flag, default=None,
                   help="bootstrap the value at time-limit ends (upstream: no, truncation = termination)")

    g = p.add_argument_group("PPO (stable_baselines3.PPO)")
    g.add_argument("--steps_per_iter", type=int, default=None, help="high-level steps per env per rollout (n_steps)")
    g.add_argument("--batch_size", type=int, default=None, help="minibatch size")
    g.add_argument("--n_epochs", type=int, default=None, help="epochs per rollout")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (constant)")
    g.add_argument("--gamma", type=float, default=None, help="discount per high-level step")
    g.add_argument("--gae_lambda", type=float, default=None, help="GAE lambda")
    g.add_argument("--clip_range", type=float, default=None, help="PPO clip range")
    g.add_argument("--vf_coef", type=float, default=None, help="value loss coefficient")
    g.add_argument("--ent_coef", type=float, default=None, help="entropy bonus coefficient")
    g.add_argument("--max_grad_norm", type=float, default=None, help="gradient clipping norm")
    g.add_argument("--normalize_advantage", action=bool_flag, default=None, help="normalise advantages per minibatch")
    g.add_argument("--target_kl", type=float, default=None, help="early-stop an update above this approx KL")
    g.add_argument("--impala_chans", type=int, nargs="+", default=None,
                   help="--method ppo: channels of the IMPALA ResNet stages (configs/crafter/ppo.yaml; published "
                        "64 128 128)")
    return p


#: Keys a high-level config file may hold: every flag except the run-only ones, plus the env overrides.
def config_keys(parser: Optional[argparse.ArgumentParser] = None) -> set[str]:
    parser = parser or build_parser()
    keys = {a.dest for a in parser._actions if a.dest != "help"} - set(_RUN_KEYS_NOT_IN_CONFIG)
    return keys | {"env_overrides"}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    return build_parser().parse_args(argv)


def _fail(msg: Any) -> None:
    """One line on stderr, exit code 2 (``steve1.utils.cli.fail``)."""
    from steve1.utils.cli import fail

    fail("ppo_highlevel.py", msg)


def _resolve(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str], Path, Optional[Path]]:
    """(config, where each value came from, run dir, checkpoint to resume or None); writes nothing; bad task
    names, config files or values end the program with one line."""
    flags = {k: v for k, v in vars(args).items() if v is not None and k not in _RUN_KEYS_NOT_IN_CONFIG}
    given = dict(flags) if args.load else method_overrides(args.method, flags)  # the method's preset under the flags
    preset = f"--method {given.get('method')} preset (hierarchical/baselines.py)"
    override_sources = {k: preset for k in given if k not in flags}
    try:
        return _resolve_or_raise(args, given, override_sources)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))


def _resolve_or_raise(args: argparse.Namespace, given: dict[str, Any], override_sources: dict[str, str]):
    import tasks
    from hierarchical.build import check_config, read_yaml, resolve_config

    if args.load:
        ckpt = Path(args.load)
        if not ckpt.is_file():
            _fail(f"--load {ckpt}: no such checkpoint file")
        run_dir = ckpt.resolve().parent.parent
        if ckpt.resolve().parent.name != "checkpoints" or not (run_dir / "config.yaml").is_file():
            _fail(f"--load {ckpt}: not a checkpoint of a run directory (expected <run dir>/checkpoints/<name>.zip "
                  f"beside <run dir>/config.yaml; no {run_dir / 'config.yaml'})")
        cfg = read_yaml(run_dir / "config.yaml")
        sources = {k: f"{run_dir / 'config.yaml'} key '{k}'" for k in cfg}
        cfg.update(given)
        sources.update({k: override_sources.get(k, f"--{k}") for k in given})
        check_config(cfg, sources)
        tasks.get_plugin(cfg["sim"])  # fail fast if the simulator is missing
        return cfg, sources, run_dir, ckpt
    if not args.config:
        _fail("--config TASK is required (a name in tasks/task_specs.yaml), unless --load is given")
    spec = tasks.get_specs(args.config)
    tasks.get_plugin(spec["sim"])  # fail fast, before loading any model, if the simulator is missing
    sources: dict[str, str] = {}
    cfg = resolve_config(spec, given, config_keys(), config_path=args.highlevel_config, sources=sources,
                         override_sources=override_sources)
    cfg.setdefault("name", None)
    cfg["name"] = cfg.get("name") or f"ppo_highlevel_{cfg['config']}"
    cfg["results_dir"] = cfg.get("results_dir") or "results"
    run_dir = Path(cfg["results_dir"]) / f"{cfg['name']}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    return cfg, sources, run_dir, None


def _write_run_config(run_dir: Path, cfg: dict[str, Any]) -> None:
    """Create the run directory and write the resolved ``config.yaml`` (atomically)."""
    from hierarchical.build import write_yaml_atomic

    run_dir.mkdir(parents=True, exist_ok=True)
    write_yaml_atomic(run_dir / "config.yaml", cfg)


def _load_checkpoint(ckpt: Path, algorithm: Any, venv: Any, device: Any) -> tuple[dict[str, Any], Any]:
    """(counters/RNG sidecar state, model) of a checkpoint zip; reads only.

    Raises:
        steve1.utils.cli.UsageError: the zip or its sidecar cannot be read (truncated, not a checkpoint of this
            method, or made for other envs).
    """
    from sb3_vpt.logging import load_checkpoint_state
    from steve1.utils.cli import UsageError

    try:
        state = load_checkpoint_state(ckpt)
        model = algorithm.load(ckpt, env=venv, device=device)
    except Exception as exc:  # any failure to read it means the file is not a usable checkpoint of this run
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"--load {ckpt}: not a readable checkpoint of this run ({type(exc).__name__}: "
                         f"{detail[:200]})") from exc
    return state, model


def _plot_success(stats_path: Path, out: Path, title: str) -> Optional[Path]:
    """success_rate vs env_steps as a PNG titled ``title`` (None when there is nothing to plot)."""
    from sb3_vpt.logging import read_stats

    rows = [r for r in read_stats(stats_path) if r.get("success_rate") not in ("", None)]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [float(r["env_steps"]) for r in rows]
    y = [float(r["success_rate"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, y, marker=".")
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate (episodes ended per iteration)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(out)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume) one high-level run; returns the final results dict (also written to results.json)."""
    import numpy as np
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    from hierarchical import baselines
    from hierarchical.build import check_files, make_highlevel_env, prior_temperature, select_device
    from sb3_vpt.logging import HighLevelLogger, set_rng_state
    from sb3_vpt.policy import VPTHeadPolicy

    # Every input is checked and every model built (and a checkpoint loaded) before the run directory is created
    # or its config.yaml written: a bad input ends with one line (main) and leaves nothing behind.
    cfg, sources, run_dir, ckpt = _resolve(args)  # values checked by hierarchical.build.check_config
    check_files(cfg, sources)
    device = select_device(args.device, bool(args.cpu))
    seed = int(cfg["seed"])
    set_random_seed(seed, using_cuda=device.type == "cuda")

    method = baselines.run_method(cfg)  # a legacy "ppo" run (SB3 defaults, before issue 19) resumes as ppo_sb3
    if method == "steve1_prompt":  # no RL: the low-level policy on the prompt's goal (hierarchical/baselines.py)
        _write_run_config(run_dir, cfg)
        return baselines.run_prompt_evaluation(cfg, run_dir, device)
    if method in ("ppo", "ppo_sb3"):  # flat PPO from scratch on the raw frames and actions
        venv, parts = baselines.make_flat_venv(cfg, run_dir, device), {}
    elif method == "bc_ppo":  # the BC policy's frozen trunk as observation, one step = one env step
        venv, bc_policy = baselines.make_bc_trunk_venv(cfg, run_dir, device)
        parts = {}
    else:  # envs log each episode's achievements to <run dir>/episodes.jsonl (Crafter score)
        venv, parts = make_highlevel_env(cfg, device, envs=baselines.make_logged_envs(cfg, run_dir, device),
                                         sources=sources)
    venv.seed(seed)
    temperature = float(cfg["temperature"])
    if cfg.get("initialize_with_prior"):
        temperature = prior_temperature(cfg)  # the initial policy must be the prior's distribution (fix §12.1.3)
    counters = {"env_steps": 0, "iteration": 0}
    if ckpt is None and method == "ppo":  # the PPO-ResNet recipe (hierarchical/flat_ppo.py, configs/crafter/ppo.yaml)
        from hierarchical.flat_ppo import make_recipe_ppo

        model = make_recipe_ppo(venv, cfg, seed, device)
    elif ckpt is None and method == "ppo_sb3":
        model = baselines.make_flat_ppo(venv, seed, device)
    elif ckpt is None and method == "bc_ppo":
        model = baselines.make_bc_ppo(venv, bc_policy, seed, device)
    elif ckpt is None:
        model = PPO(
            VPTHeadPolicy, venv, learning_rate=float(cfg["lr"]), n_steps=int(cfg["steps_per_iter"]),
            batch_size=int(cfg["batch_size"]), n_epochs=int(cfg["n_epochs"]), gamma=float(cfg["gamma"]),
            gae_lambda=float(cfg["gae_lambda"]), clip_range=float(cfg["clip_range"]),
            normalize_advantage=bool(cfg["normalize_advantage"]), ent_coef=float(cfg["ent_coef"]),
            vf_coef=float(cfg["vf_coef"]), max_grad_norm=float(cfg["max_grad_norm"]),
            target_kl=cfg.get("target_kl"), policy_kwargs={"temperature": temperature}, seed=seed, device=device,
            verbose=0)
        if cfg.get("initialize_with_prior"):
            from goal_prior.load_prior import make_prior_model

            prior = parts["prior"] or make_prior_model(cfg["in_model"], cfg["prior_weights"],
                                                       n_codes=parts["codebook"].N, device=device)
            model.policy.copy_head_from(prior)
    else:
        state, model = _load_checkpoint(ckpt, baselines.algorithm_class(method), venv, device)
        model._last_obs = None  # the simulator cannot be restored: learn() starts from a fresh reset
        counters = state["counters"]
        set_rng_state(state["rng"])
    if hasattr(venv, "attach_policy"):
        venv.attach_policy(model.policy)
    _write_run_config(run_dir, cfg)  # the first write: every input has been read and fits

    budget_env = cfg.get("env_steps")
    budget_high = cfg.get("steps")
    total_timesteps = int(budget_high) if budget_high is not None else 2**62
    logger = HighLevelLogger(run_dir, env_step_budget=budget_env, save_freq=int(cfg["save_freq"]),
                             print_freq=int(cfg["print_freq"]), env_steps=int(counters["env_steps"]),
                             iteration=int(counters["iteration"]), episodes=int(counters.get("episodes", 0)))
    print(f"run directory: {run_dir}\ndevice: {device} | task {cfg['config']} | {venv.num_envs} env(s) | "
          f"{venv.action_space} | budget: {budget_high} high-level steps, {budget_env} env steps", flush=True)
    already_done = (budget_env is not None and logger.env_steps >= int(budget_env)) or \
                   (model.num_timesteps >= total_timesteps)
    if not already_done:
        from steve1.utils.interrupt import catch_interrupts

        # Ctrl-C / SIGTERM: the logger stops learn() at the next step and checkpoints the last PPO update
        with catch_interrupts() as logger.interrupt:
            model.learn(total_timesteps=total_timesteps, callback=logger, reset_num_timesteps=ckpt is None,
                        progress_bar=False)
        if logger.interrupted:  # no final.zip / results.json: the run is not finished
            venv.close()
            _exit_interrupted(logger, args)
    else:
        logger.model = model
    final = logger.save("final")
    venv.close()

    recent = list(logger.recent_success)
    results = {
        "task": cfg["config"],
        "method": method,
        "final_success_rate": float(np.mean(recent)) if recent else float("nan"),
        "final_success_rate_episodes": len(recent),
        "env_steps": logger.env_steps,
        "high_level_steps": int(model.num_timesteps),
        "iterations": logger.iteration,
        "final_checkpoint": str(final),
    }
    tmp = run_dir / "results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(run_dir / "results.json")
    plot = _plot_success(run_dir / "stats.csv", run_dir / "success_rate.png",
                         f"task {cfg['config']}, method {method} (seed {seed}): success rate")
    rate = results["final_success_rate"]
    print(f"final success rate: {'n/a (no episode ended)' if math.isnan(rate) else f'{rate:.3f}'} "
          f"(last {len(recent)} episodes) after {logger.env_steps} env steps\n"
          f"logs: {run_dir}/stats.csv, TensorBoard: tensorboard --logdir {run_dir}/tb\n"
          f"checkpoints: {run_dir}/checkpoints (final: {final})"
          + (f"\nplot: {plot}" if plot else ""), flush=True)
    return results


def _exit_interrupted(logger: Any, args: argparse.Namespace) -> None:
    """Print the interrupt checkpoint and the command that resumes it; raise ``Interrupted`` (exit code 130 on
    SIGINT, 143 on SIGTERM). The run's ``config.yaml`` holds every setting, so ``--load`` (plus the device flags,
    which are not stored) resumes it with the same budget."""
    import os

    script = os.path.relpath(os.path.abspath(__file__))
    command = ["python", script if not script.startswith("..") else os.path.abspath(__file__),
               "--load", str(logger.last_checkpoint)]
    command += ["--cpu"] if args.cpu else []
    command += ["--device", args.device] if args.device else []
    logger.interrupt.exit(logger.last_checkpoint, command,
                          detail=f"{logger.env_steps} env steps, {logger.iteration} PPO "
                                 f"iteration{'' if logger.iteration == 1 else 's'}")


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Entry point. A user's mistake (a flag or config value out of range, a missing or unreadable file, files that
    do not fit together, a missing simulator) ends the program with one line on stderr and exit code 2, before
    anything is written (``steve1.utils.cli``)."""
    from goal_prior.load_prior import PriorSizeMismatchError
    from steve1.utils.cli import UsageError
    from tasks import SimulatorNotInstalledError
    from VPT.lib.loading import WeightsLoadError

    args = parse_args(argv)
    try:
        return run(args)
    except (SimulatorNotInstalledError, FileNotFoundError, PriorSizeMismatchError, WeightsLoadError,
            UsageError) as exc:
        _fail(str(exc))


if __name__ == "__main__":
    main(sys.argv[1:])
