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
import math
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from hierarchical.methods import METHODS

__all__ = ["build_parser", "parse_args", "main", "run"]

def build_parser() -> argparse.ArgumentParser:
    """The CLI: the run-only flags, then one flag per :class:`hierarchical.config.HighLevelConfig` setting
    (``steve1.utils.config.add_flags``). Every option defaults to None: its value comes from the task's high-level
    config file."""
    from hierarchical.config import HighLevelConfig
    from steve1.utils.config import add_flags

    p = argparse.ArgumentParser(
        description="PTGM high-level PPO over a goal codebook. Every option's default is the value in the task's "
                    "high-level config (tasks/task_specs.yaml key highlevel_config, else configs/<sim>/highlevel.yaml: "
                    "configs/minecraft/highlevel.yaml, configs/crafter/highlevel.yaml); a given flag overrides it.",
        epilog="Example: python ppo_highlevel.py --config crafter_wood --env_steps 200000. Outputs go to "
               "<results_dir>/<name>_<time>/ (config.yaml, stats.csv, tb/, checkpoints/, results.json, "
               "success_rate.png). Ctrl-C (or SIGTERM) saves a checkpoint of the last PPO update, prints the "
               "command that resumes it and exits with code 130 (143).")
    g = p.add_argument_group("task and run")
    g.add_argument("--config", type=str, default=None,
                   help="task name in tasks/task_specs.yaml (e.g. crafter_wood, log_plains); not needed with --load")
    g.add_argument("--method", choices=list(METHODS), default=None,
                   help="the config file's method (ptgm) or a baseline/ablation preset laid over the file "
                        "(hierarchical/methods.py): ppo = flat PPO from scratch, the PPO-ResNet recipe "
                        "(configs/crafter/ppo.yaml), ppo_sb3 = flat SB3 PPO('CnnPolicy') with SB3's defaults, "
                        "bc_ppo = the BC low-level policy fine-tuned with PPO, bc_ppo_kl = bc_ppo with a KL term to "
                        "the BC policy (kl_reward per env step, VPT's fine-tuning), ptgm_no_prior = no goal prior "
                        "(kl_reward 0), ptgm_continuous = goal embeddings instead of codes, steve1_prompt = the "
                        "low-level policy on the task's text prompt (no RL)")
    g.add_argument("--highlevel_config", type=str, default=None,
                   help="high-level config YAML to use instead of the task spec's highlevel_config")
    g.add_argument("--load", type=str, default=None,
                   help="resume the run of this checkpoint zip (parameters, optimizer, step counters, RNG; "
                        "its run directory and config.yaml are reused, given flags override them)")
    g.add_argument("--cpu", action="store_true", default=None, help="run every network on the CPU")
    g.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available, else cpu)")
    add_flags(p.add_argument_group("config (the high-level config file's keys; a given flag overrides the file)"),
              HighLevelConfig)
    return p


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    return build_parser().parse_args(argv)


def _fail(msg: Any) -> None:
    """One line on stderr, exit code 2 (``steve1.utils.cli.fail``)."""
    from steve1.utils.cli import fail

    fail("ppo_highlevel.py", msg)


def _resolve(args: argparse.Namespace) -> tuple[Any, dict[str, str], Path, Optional[Path]]:
    """(config, where each value came from, run dir, checkpoint to resume or None); writes nothing; bad task
    names, config files or values end the program with one line."""
    from hierarchical.config import FLAG_FIELDS

    flags = {k: getattr(args, k) for k in FLAG_FIELDS if getattr(args, k) is not None}
    try:
        return _resolve_or_raise(args, flags)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        _fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc))


def _resolve_or_raise(args: argparse.Namespace, flags: dict[str, Any]):
    import tasks
    from hierarchical.methods import load_run_config, resolve_config

    if args.load:
        ckpt = Path(args.load)
        if not ckpt.is_file():
            _fail(f"--load {ckpt}: no such checkpoint file")
        run_dir = ckpt.resolve().parent.parent
        if ckpt.resolve().parent.name != "checkpoints" or not (run_dir / "config.yaml").is_file():
            _fail(f"--load {ckpt}: not a checkpoint of a run directory (expected <run dir>/checkpoints/<name>.zip "
                  f"beside <run dir>/config.yaml; no {run_dir / 'config.yaml'})")
        given = dict(flags, **({"method": args.method} if args.method else {}))  # no preset applied again
        cfg, sources = load_run_config(run_dir / "config.yaml", given)
        tasks.get_plugin(cfg.sim)  # fail fast if the simulator is missing
        return cfg, sources, run_dir, ckpt
    if not args.config:
        _fail("--config TASK is required (a name in tasks/task_specs.yaml), unless --load is given")
    spec = tasks.get_specs(args.config)
    tasks.get_plugin(spec["sim"])  # fail fast, before loading any model, if the simulator is missing
    cfg, sources = resolve_config(spec, flags, args.highlevel_config, args.method)
    run_dir = Path(cfg.results_dir) / f"{cfg.name}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    return cfg, sources, run_dir, None


def _write_run_config(run_dir: Path, cfg: Any) -> None:
    """Create the run directory and write the resolved ``config.yaml`` (atomically)."""
    from steve1.utils.config import write_config

    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir / "config.yaml", cfg)


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
    """success_rate vs env_steps as a PNG titled ``title``, written atomically (``steve1.utils.io.atomic_output``);
    None when there is nothing to plot."""
    from sb3_vpt.logging import read_stats
    from steve1.utils.io import atomic_output

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
    with atomic_output(out, suffix=".png") as tmp:  # matplotlib picks the format from the extension
        fig.savefig(tmp)
    plt.close(fig)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume) one high-level run; returns the final results dict (also written to results.json)."""
    import numpy as np
    from stable_baselines3.common.utils import set_random_seed

    from hierarchical import methods
    from hierarchical.build import select_device
    from sb3_vpt.logging import HighLevelLogger, set_rng_state
    from steve1.utils.io import atomic_write_json

    # Every input is checked and every model built (and a checkpoint loaded) before the run directory is created
    # or its config.yaml written: a bad input ends with one line (main) and leaves nothing behind. The model files
    # are checked once, by the method's builder (hierarchical.build.check_files).
    cfg, sources, run_dir, ckpt = _resolve(args)  # checked by hierarchical.config.HighLevelConfig.check
    device = select_device(args.device, bool(args.cpu))
    seed = cfg.seed
    set_random_seed(seed, using_cuda=device.type == "cuda")

    method = methods.run_method(cfg)  # a legacy "ppo" run (SB3 defaults, before issue 19) resumes as ppo_sb3
    if method == "steve1_prompt":  # no RL: the low-level policy on the prompt's goal (hierarchical/prompt_baseline.py)
        from hierarchical.prompt_baseline import run_prompt_evaluation

        _write_run_config(run_dir, cfg)
        return run_prompt_evaluation(cfg, run_dir, device)
    make_env, make_model = methods.TRAINING[method]
    venv, parts = make_env(cfg, run_dir, device, sources)
    venv.seed(seed)
    counters = {"env_steps": 0, "iteration": 0}
    if ckpt is None:
        model = make_model(cfg, venv, parts, device)
    else:
        state, model = _load_checkpoint(ckpt, methods.algorithm_class(method), venv, device)
        model._last_obs = None  # the simulator cannot be restored: learn() starts from a fresh reset
        counters = state["counters"]
        set_rng_state(state["rng"])
    if hasattr(venv, "attach_policy"):
        venv.attach_policy(model.policy)
    _write_run_config(run_dir, cfg)  # the first write: every input has been read and fits

    budget_env = cfg.env_steps
    budget_high = cfg.steps
    total_timesteps = budget_high if budget_high is not None else 2**62
    logger = HighLevelLogger(run_dir, env_step_budget=budget_env, save_freq=cfg.save_freq,
                             print_freq=cfg.print_freq, env_steps=int(counters["env_steps"]),
                             iteration=int(counters["iteration"]), episodes=int(counters.get("episodes", 0)))
    print(f"run directory: {run_dir}\ndevice: {device} | task {cfg.config} | {venv.num_envs} env(s) | "
          f"{venv.action_space} | budget: {budget_high} high-level steps, {budget_env} env steps", flush=True)
    already_done = (budget_env is not None and logger.env_steps >= budget_env) or \
                   (model.num_timesteps >= total_timesteps)
    if not already_done:
        from stable_baselines3.common.logger import Logger

        from steve1.utils.interrupt import catch_interrupts

        # SB3's logger keeps recording PPO's train/* values (HighLevelLogger writes them to TensorBoard) but gets no
        # output folder: without it, every learn() would leave an empty SB3-<time> folder in the system temp dir
        model.set_logger(Logger(folder=None, output_formats=[]))
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
        "task": cfg.config,
        "method": method,
        "final_success_rate": float(np.mean(recent)) if recent else float("nan"),
        "final_success_rate_episodes": len(recent),
        "env_steps": logger.env_steps,
        "high_level_steps": int(model.num_timesteps),
        "iterations": logger.iteration,
        "final_checkpoint": str(final),
    }
    atomic_write_json(run_dir / "results.json", results)
    plot = _plot_success(run_dir / "stats.csv", run_dir / "success_rate.png",
                         f"task {cfg.config}, method {method} (seed {seed}): success rate")
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
