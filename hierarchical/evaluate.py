"""Evaluate a trained policy of any method: success rate with a 95% Wilson interval, episode lengths, death causes,
rollout GIFs.

Loads a checkpoint written by ``ppo_highlevel.py`` (``<run>/checkpoints/*.zip``) and the run's ``config.yaml``,
builds the method's environment with one env that logs nothing to the run (:func:`make_eval_env`), runs
``--n_episodes`` episodes and writes a JSON report plus a few GIFs of whole episodes (every env step). Upstream has
no evaluation script (spec §12.4). Every ``--method`` of ``ppo_highlevel.py`` (``hierarchical/methods.py``):

* ``ptgm``, ``ptgm_no_prior``, ``ptgm_continuous``: the hierarchical env (:func:`hierarchical.build.make_highlevel_env`)
  and the high-level policy (one decision = one goal for ``low_level_steps`` env steps);
* ``ppo`` (:class:`hierarchical.flat_ppo.FlatPPO`), ``ppo_sb3`` (SB3 ``PPO``): the raw frames
  (:class:`hierarchical.flat_baselines.FlatFrameWrapper`), one decision per env step;
* ``bc_ppo``, ``bc_ppo_kl``: the BC policy's frozen trunk as observation
  (:class:`hierarchical.bc_ppo.FlatTrunkVecEnv`; evaluation leaves out ``bc_ppo_kl``'s KL term, a training
  reward);
* ``steve1_prompt`` (no checkpoint, no learning): ``--run_dir`` of its run; the low-level policy follows the run's
  prompt goal (``<run>/prompt_goal/centers.pkl``, a one-code codebook) through the hierarchical env, as in training.

A run's method is its ``config.yaml`` ``method`` (:func:`hierarchical.methods.run_method`: a ``ppo`` run made
before the recipe, without ``impala_chans``, is ``ppo_sb3``); the config is read as ``--load`` reads it
(:func:`hierarchical.methods.load_run_config`).

    python -m hierarchical.evaluate --checkpoint results/<run>/checkpoints/final.zip --n_episodes 50 --seed 0
    python -m hierarchical.evaluate --run_dir results/<steve1_prompt run> --n_episodes 50

Settings (:class:`EvaluationConfig`: episodes, seed, sampling, GIFs) live in ``--config`` (default
``configs/evaluation.yaml``, one file for every simulator and method); a flag of the same name overrides each
(``--n_episodes 50``). What to evaluate (``--checkpoint`` or ``--run_dir``), where to write (``--out``) and the
device (``--cpu``, ``--device``) stay flags. The resolved settings are written beside the report, as
``<report without .json>_config.yaml``.

The JSON (default ``<run>/eval/<checkpoint name>_seed<S>.json``) holds ``method``, ``success_rate``, ``success_ci95``
(Wilson score interval), ``successes``, ``n_episodes``, per-episode ``episode_lengths`` (env steps),
``episode_decisions`` (policy decisions: high-level steps, or env steps for the flat methods), for ``ptgm`` and
``ptgm_no_prior`` (a discrete codebook) ``n_codes`` and ``code_counts`` (``{code index as a string: decisions that
picked it}`` over all episodes, most picked first: which codes the trained high level uses) and ``code_entropy``
(nats, of those counts' shares: ln ``n_codes`` for uniform picks, 0 for one code), ``episode_returns``
(summed env reward, shaping included, KL excluded), what killed the player (``episode_death_causes``, None for an
episode that did not end in death, and their counts ``death_causes``; Crafter only,
``tasks.crafter.env.death_cause``), the GIF paths, per-episode ``episode_achievements`` (names unlocked at least
once, from the env's ``info['achievements']``; empty lists for an env without them) and, for a task whose spec sets
``benchmark_score: true`` (``crafter_score``), ``benchmark_score``: the simulator's benchmark over these episodes
(Crafter: ``tasks/crafter/score.py``; ``{"episodes", "score", "success_rates"}``).
"""
from __future__ import annotations

import argparse
import collections
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from hierarchical.methods import make_eval_env  # the method's evaluation env (one registry of the methods)
from steve1.utils.checks import Range
from steve1.utils.config import StageConfig, add_flags, flag_values, load_config, setting, write_config

__all__ = ["EvaluationConfig", "DEFAULT_CONFIG", "wilson_interval", "evaluate", "make_eval_env", "main", "write_gif"]

#: The config file read when ``--config`` is not given (every simulator); relative to the repository root.
DEFAULT_CONFIG = "configs/evaluation.yaml"


@dataclass
class EvaluationConfig(StageConfig):
    """Settings of an evaluation (``configs/evaluation.yaml``); a flag of the same name overrides each."""

    n_episodes: int = setting("episodes to run", Range(int, lo=1, note="episodes"))
    seed: int = setting("seed of torch, NumPy, Python random and the env", Range(int))
    deterministic: bool = setting("take the most likely action instead of sampling")
    n_gifs: int = setting("GIFs of the first N episodes (0: none)", Range(int, lo=0, note="GIFs"))
    gif_fps: float = setting("GIF frame rate (env steps per second)", Range(float, lo=0, lo_open=True))
    gif_max_frames: int = setting("frames per GIF at most: longer episodes are subsampled evenly",
                                  Range(int, lo=1, note="frames"))


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% for the default ``z``).

    ``center = (p + z^2/2n) / (1 + z^2/n)``, ``half = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)``.

    Raises:
        ValueError: ``n < 1`` or ``successes`` outside ``[0, n]``.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: need 0 <= successes <= n and n >= 1, got {successes}/{n}")
    p = successes / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact ends at 0 and n successes (the formula gives them only up to float rounding, e.g. 5.6e-17 for 0/3)
    return (0.0 if successes == 0 else max(0.0, center - half)), (1.0 if successes == n else min(1.0, center + half))


def write_gif(path: Path, frames: np.ndarray, fps: float, max_frames: int) -> Path:
    """Write uint8 frames [L, H, W, 3] as a looping GIF at ``fps`` frames per second (atomically); an episode of
    more than ``max_frames`` frames is subsampled evenly to ``max_frames``."""
    import imageio.v3 as iio

    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    tmp = path.with_name(path.stem + ".tmp.gif")
    iio.imwrite(tmp, frames, duration=1000.0 / fps, loop=0)
    tmp.replace(path)
    return path


def evaluate(checkpoint: Optional[Path], config: EvaluationConfig, device: Any, gif_dir: Optional[Path] = None,
             config_overrides: Optional[dict] = None, run_dir: Optional[Path] = None) -> dict[str, Any]:
    """Run ``config.n_episodes`` episodes of a run's policy (one env) and return the report dict (module docstring).

    Args:
        checkpoint: a checkpoint zip of the run (None only for ``steve1_prompt``, with ``run_dir``).
        config: the evaluation's settings (:class:`EvaluationConfig`: episodes, seed, sampling, GIFs).
        device: torch device.
        gif_dir: where the GIFs of the first ``config.n_gifs`` episodes go (default ``<run>/eval``).
        config_overrides: values laid over the run's ``config.yaml`` (e.g. ``env_overrides``).
        run_dir: the run directory (default: the checkpoint's).
    Raises:
        ValueError: no checkpoint for a method that needs one, or neither argument given.
    """
    import torch
    from stable_baselines3.common.utils import set_random_seed

    from hierarchical import methods

    if checkpoint is None and run_dir is None:
        raise ValueError("evaluate: give a checkpoint or a run directory")
    n_episodes, seed, deterministic, n_gifs = config.n_episodes, config.seed, config.deterministic, config.n_gifs
    run_dir = Path(run_dir) if run_dir is not None else checkpoint.resolve().parent.parent
    cfg, _ = methods.load_run_config(run_dir / "config.yaml", dict(config_overrides or {}),
                                     {k: "config_overrides" for k in config_overrides or {}})
    method = methods.run_method(cfg)
    if checkpoint is None and method != "steve1_prompt":
        raise ValueError(f"evaluate: a {method} run needs --checkpoint (a zip in {run_dir}/checkpoints)")
    set_random_seed(seed, using_cuda=torch.device(device).type == "cuda")
    venv, act = make_eval_env(cfg, method, device, run_dir)
    venv.seed(seed)
    model = None
    if method != "steve1_prompt":
        model = methods.algorithm_class(method).load(checkpoint, device=device)
    if model is not None and hasattr(venv, "attach_policy"):
        venv.attach_policy(model.policy)
    gif_dir = gif_dir or run_dir / "eval"
    gif_dir.mkdir(parents=True, exist_ok=True)
    stem = checkpoint.stem if checkpoint is not None else method

    successes, lengths, decisions, returns, gifs, deaths, unlocked = [], [], [], [], [], [], []
    import gymnasium

    # the codebook methods: which codes the high level picks (one env: each step is one decision)
    code_counts = (collections.Counter() if method in ("ptgm", "ptgm_no_prior")
                   and isinstance(venv.action_space, gymnasium.spaces.Discrete) else None)
    obs = venv.reset()
    from tqdm.auto import tqdm

    with tqdm(total=n_episodes, unit="episode", desc="evaluate") as pbar:
        while len(successes) < n_episodes:
            actions = act(model, obs, deterministic)
            if code_counts is not None:
                code_counts[int(np.asarray(actions).reshape(-1)[0])] += 1
            obs, _, dones, infos = venv.step(actions)
            info = infos[0]
            if dones[0]:
                ep = info["episode"]
                successes.append(bool(info["is_success"]))
                lengths.append(int(ep["l"]))
                decisions.append(int(ep.get("l_high", ep["l"])))  # flat methods: one decision per env step
                returns.append(float(ep.get("r_env", ep["r"])))
                deaths.append(info.get("death_cause"))
                unlocked.append(sorted(a for a, v in (info.get("achievements") or {}).items() if v))
                if len(gifs) < n_gifs:
                    tag = "success" if successes[-1] else "fail"
                    name = f"{stem}_seed{seed}_ep{len(successes) - 1:03d}_{tag}.gif"
                    gifs.append(str(write_gif(gif_dir / name, info["episode_frames"], fps=config.gif_fps,
                                              max_frames=config.gif_max_frames)))
                pbar.update(1)
    venv.close()
    k, n = int(sum(successes)), len(successes)
    lo, hi = wilson_interval(k, n)
    report = {
        "task": cfg.config, "method": method, "checkpoint": None if checkpoint is None else str(checkpoint),
        "run_dir": str(run_dir), "seed": seed, "deterministic": deterministic,
        "n_episodes": n, "successes": k, "success_rate": k / n, "success_ci95": [lo, hi],
        "episode_lengths": lengths, "mean_episode_length": float(np.mean(lengths)),
        "episode_decisions": decisions, "episode_returns": returns, "episode_death_causes": deaths,
        "death_causes": dict(collections.Counter(d for d in deaths if d is not None).most_common()), "gifs": gifs,
        "episode_achievements": unlocked,
    }
    if code_counts is not None:
        report["n_codes"] = int(venv.action_space.n)
        report["code_counts"] = {str(c): k for c, k in code_counts.most_common()}
        shares = np.array(list(code_counts.values()), np.float64) / sum(code_counts.values())
        report["code_entropy"] = float(-(shares * np.log(shares)).sum())  # nats; ln(n_codes) for uniform picks
    import tasks

    if tasks.get_specs(cfg.config).get("benchmark_score"):  # e.g. crafter_score: the simulator's benchmark score
        report["benchmark_score"] = tasks.get_plugin(cfg.sim).benchmark_score([{"achievements": a} for a in unlocked])
    return report


def build_parser() -> argparse.ArgumentParser:
    """What to evaluate (``--checkpoint`` or ``--run_dir``), ``--out``, the device, ``--config`` and a flag per
    :class:`EvaluationConfig` field (default None: the config file's value)."""
    p = argparse.ArgumentParser(description="Evaluate a run of any ppo_highlevel.py --method (ptgm and its ablations, "
                                            "ppo, ppo_sb3, bc_ppo, bc_ppo_kl: a checkpoint; steve1_prompt: its run "
                                            "directory): success rate with a 95% Wilson interval, episode lengths "
                                            "(env steps), death causes, GIFs.")
    p.add_argument("--checkpoint", default=None, help="checkpoint zip written by ppo_highlevel.py "
                                                      "(its run directory's config.yaml is used)")
    p.add_argument("--run_dir", default=None, help="run directory of a steve1_prompt run (no checkpoint; its "
                                                   "config.yaml and prompt_goal/centers.pkl are used)")
    p.add_argument("--out", type=str, default=None,
                   help="report JSON (default <run>/eval/<checkpoint or method>_seed<S>.json); the resolved settings "
                        "go beside it as <report without .json>_config.yaml")
    p.add_argument("--cpu", action="store_true", help="run every network on the CPU")
    p.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--config", default=DEFAULT_CONFIG,
                   help=f"YAML file with the settings below (default {DEFAULT_CONFIG}); flags override it")
    add_flags(p, EvaluationConfig)
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Entry point (``--help``); a bad argument or config value ends the program with one line on stderr naming the
    flag (or the config file and key) and exit code 2."""
    from steve1.utils.checks import USER_ERRORS
    from steve1.utils.cli import fail

    args = build_parser().parse_args(argv)
    prog = "hierarchical/evaluate.py"
    try:
        config, _ = load_config(EvaluationConfig, args.config, flag_values(args, EvaluationConfig))
    except USER_ERRORS as exc:
        fail(prog, exc)
    if (args.checkpoint is None) == (args.run_dir is None):
        fail(prog, "give exactly one of --checkpoint (a checkpoint zip) and --run_dir (a steve1_prompt run)")
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if checkpoint is not None and not checkpoint.is_file():
        fail(prog, f"--checkpoint: {checkpoint} does not exist, expected a checkpoint zip of ppo_highlevel.py")
    run_dir = Path(args.run_dir) if args.run_dir else checkpoint.resolve().parent.parent
    if not (run_dir / "config.yaml").is_file():
        fail(prog, f"--{'run_dir' if args.run_dir else 'checkpoint'}: {run_dir}/config.yaml does not exist, "
                   "expected a run directory of ppo_highlevel.py")
    from hierarchical.build import select_device

    device = select_device(args.device, args.cpu)
    try:
        report = evaluate(checkpoint, config, device, run_dir=run_dir)
    except ValueError as exc:
        fail(prog, str(exc))
    stem = checkpoint.stem if checkpoint is not None else report["method"]
    out = Path(args.out) if args.out else run_dir / "eval" / f"{stem}_seed{config.seed}.json"
    from steve1.utils.io import atomic_write_json

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, report)
    write_config(out.with_name(f"{out.stem}_config.yaml"), config)
    lo, hi = report["success_ci95"]
    print(f"{report['method']}: success rate {report['success_rate']:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) over "
          f"{report['n_episodes']} episodes, mean length {report['mean_episode_length']:.1f} env steps\n"
          f"report: {out}\nGIFs: {', '.join(report['gifs']) or 'none'}", flush=True)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
