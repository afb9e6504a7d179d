"""Evaluate a trained high-level policy: success rate with a 95% Wilson interval, episode lengths, rollout GIFs.

Loads a checkpoint written by ``ppo_highlevel.py`` (``<run>/checkpoints/*.zip``) and the run's ``config.yaml``,
builds the same hierarchical environment (:func:`hierarchical.build.make_highlevel_env`), runs ``--n_episodes``
episodes and writes a JSON report plus a few GIFs of whole episodes (every env step). Upstream has no evaluation
script (spec §12.4).

    python -m hierarchical.evaluate --checkpoint results/<run>/checkpoints/final.zip --n_episodes 50 --seed 0

The JSON (default ``<run>/eval/<checkpoint name>.json``) holds ``success_rate``, ``success_ci95`` (Wilson score
interval), ``successes``, ``n_episodes``, per-episode ``episode_lengths`` (env steps), ``episode_decisions``
(high-level steps), ``episode_returns`` (summed env reward, shaping included, KL excluded), what killed the player
(``episode_death_causes``, None for an episode that did not end in death, and their counts ``death_causes``; Crafter
only, ``tasks.crafter.env.death_cause``) and the GIF paths.
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["wilson_interval", "evaluate", "main", "write_gif"]


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
    return max(0.0, center - half), min(1.0, center + half)


def write_gif(path: Path, frames: np.ndarray, fps: float = 20.0, max_frames: int = 400) -> Path:
    """Write uint8 frames [L, H, W, 3] as a looping GIF (atomically); long episodes are subsampled evenly."""
    import imageio.v3 as iio

    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    tmp = path.with_name(path.stem + ".tmp.gif")
    iio.imwrite(tmp, frames, duration=1000.0 / fps, loop=0)
    tmp.replace(path)
    return path


def evaluate(checkpoint: Path, n_episodes: int, seed: int, device: Any, deterministic: bool = False,
             n_gifs: int = 3, gif_dir: Optional[Path] = None, gif_fps: float = 20.0,
             config_overrides: Optional[dict] = None) -> dict[str, Any]:
    """Run ``n_episodes`` episodes of the checkpoint's policy (one env) and return the report dict."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    from hierarchical.build import make_highlevel_env, read_yaml

    run_dir = checkpoint.resolve().parent.parent
    cfg = read_yaml(run_dir / "config.yaml")
    cfg.update(config_overrides or {})
    set_random_seed(seed, using_cuda=torch.device(device).type == "cuda")
    venv, _ = make_highlevel_env(cfg, torch.device(device), n_envs=1, record_frames=True)
    venv.seed(seed)
    model = PPO.load(checkpoint, env=venv, device=device)
    venv.attach_policy(model.policy)
    gif_dir = gif_dir or run_dir / "eval"
    gif_dir.mkdir(parents=True, exist_ok=True)

    successes, lengths, decisions, returns, gifs, deaths = [], [], [], [], [], []
    obs = venv.reset()
    from tqdm.auto import tqdm

    with tqdm(total=n_episodes, unit="episode", desc="evaluate") as pbar:
        while len(successes) < n_episodes:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, _, dones, infos = venv.step(action)
            info = infos[0]
            if dones[0]:
                successes.append(bool(info["is_success"]))
                lengths.append(int(info["episode"]["l"]))
                decisions.append(int(info["episode"]["l_high"]))
                returns.append(float(info["episode"]["r_env"]))
                deaths.append(info.get("death_cause"))
                if len(gifs) < n_gifs:
                    tag = "success" if successes[-1] else "fail"
                    name = f"{checkpoint.stem}_seed{seed}_ep{len(successes) - 1:03d}_{tag}.gif"
                    gifs.append(str(write_gif(gif_dir / name, info["episode_frames"], fps=gif_fps)))
                pbar.update(1)
    venv.close()
    k, n = int(sum(successes)), len(successes)
    lo, hi = wilson_interval(k, n)
    return {
        "task": cfg["config"], "checkpoint": str(checkpoint), "seed": seed, "deterministic": deterministic,
        "n_episodes": n, "successes": k, "success_rate": k / n, "success_ci95": [lo, hi],
        "episode_lengths": lengths, "mean_episode_length": float(np.mean(lengths)),
        "episode_decisions": decisions, "episode_returns": returns, "episode_death_causes": deaths,
        "death_causes": dict(collections.Counter(d for d in deaths if d is not None).most_common()), "gifs": gifs,
    }


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description="Evaluate a high-level PPO checkpoint: success rate with a 95% Wilson "
                                            "interval, episode lengths (env steps), GIFs.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint zip written by ppo_highlevel.py "
                                                         "(its run directory's config.yaml is used)")
    p.add_argument("--n_episodes", type=int, default=20, help="episodes to run")
    p.add_argument("--seed", type=int, default=0, help="seed of torch, NumPy, Python random and the env")
    p.add_argument("--deterministic", action="store_true", help="take the most likely code instead of sampling")
    p.add_argument("--n_gifs", type=int, default=3, help="GIFs of the first N episodes")
    p.add_argument("--gif_fps", type=float, default=20.0, help="GIF frame rate (env steps per second)")
    p.add_argument("--out", type=str, default=None, help="report JSON (default <run>/eval/<checkpoint>_seed<S>.json)")
    p.add_argument("--cpu", action="store_true", help="run every network on the CPU")
    p.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available, else cpu)")
    args = p.parse_args(argv)
    if args.n_episodes < 1:
        p.error("--n_episodes must be >= 1")
    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        p.error(f"checkpoint {checkpoint} does not exist")
    from hierarchical.build import select_device

    device = select_device(args.device, args.cpu)
    report = evaluate(checkpoint, args.n_episodes, args.seed, device, deterministic=args.deterministic,
                      n_gifs=args.n_gifs, gif_fps=args.gif_fps)
    out = Path(args.out) if args.out else checkpoint.resolve().parent.parent / "eval" / \
        f"{checkpoint.stem}_seed{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)
    lo, hi = report["success_ci95"]
    print(f"success rate {report['success_rate']:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) over {report['n_episodes']} "
          f"episodes, mean length {report['mean_episode_length']:.1f} env steps\nreport: {out}\n"
          f"GIFs: {', '.join(report['gifs']) or 'none'}", flush=True)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
