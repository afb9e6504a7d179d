"""Measure the scripted Crafter play-data player (issue 18, "Must show": the player).

    python bench/player_report.py --episodes 24 --out bench/results/player.json

Plays ``--episodes`` episodes of :class:`tasks.crafter.scripted_player.ScriptedPlayer` (all from an empty
inventory) in :class:`tasks.crafter.env.CrafterEnv` with the dataset generator's episode length
(``--max_episode_len``, default 10000 env steps as in ``tasks/crafter/generate_play_data.py``). Episode ``i`` uses
:func:`tasks.crafter.generate_play_data.episode_seeds` of ``(--seed, i)``; the default seed 9001 is disjoint from the
dataset's (generate_play_data's default seed is 0). No frames are written.

Written (``--out``, atomically; also printed): the command, the player version, the median/mean/min/max episode
length (env steps), per-achievement success rate (share of episodes that unlocked it at least once), how episodes
ended (death causes from ``info["death_cause"]``, or ``max_steps``), frames in all, the share of random (epsilon)
actions, the per-episode records, and the targets of issue 18 with pass/fail (median length >= 1000,
``make_stone_pickaxe`` >= 0.8, ``collect_iron`` >= 0.4).
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import shlex
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np
from tqdm import tqdm

from steve1.utils.io import atomic_write_json
from tasks.crafter.env import ACHIEVEMENTS, CrafterEnv
from tasks.crafter.generate_play_data import episode_seeds
from tasks.crafter.scripted_player import PLAYER_VERSION, ScriptedPlayer

TARGETS = {"median_episode_length": 1000, "make_stone_pickaxe": 0.8, "collect_iron": 0.4}


def play(seed: int, index: int, max_episode_len: int, env: Optional[CrafterEnv] = None) -> dict[str, Any]:
    """Play episode ``index`` of a run seeded ``seed``; returns its record (length in env steps, end, death cause,
    achievements unlocked, random actions, the sub-goal at the end)."""
    env = env or CrafterEnv(max_steps=max_episode_len)
    env_seed, player_seed = episode_seeds(seed, index)
    player = ScriptedPlayer(seed=player_seed)
    _, info = env.reset(seed=env_seed)
    player.reset(env, info)
    random_actions = 0
    while True:
        action = player.act(info)
        random_actions += bool(player.random_action)
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            break
    return {"index": index, "env_seed": env_seed, "player_seed": player_seed, "length": int(info["episode_step"]),
            "end": "death" if info["dead"] else "max_steps", "death_cause": info["death_cause"],
            "last_subgoal": player.subgoal, "random_actions": random_actions,
            "unlocked": sorted(a for a in ACHIEVEMENTS if info["achievements"][a] > 0)}


def _play_indexed(job: tuple[int, int, int]) -> dict[str, Any]:
    seed, index, max_episode_len = job
    return play(seed, index, max_episode_len)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures over episode records (see the module docstring)."""
    lengths = np.array([r["length"] for r in records], np.int64)
    n = len(records)
    rates = {a: float(np.mean([a in r["unlocked"] for r in records])) for a in ACHIEVEMENTS}
    ends = collections.Counter(r["death_cause"] if r["end"] == "death" else "max_steps" for r in records)
    median = float(np.median(lengths))
    checks = {"median_episode_length": median >= TARGETS["median_episode_length"],
              "make_stone_pickaxe": rates["make_stone_pickaxe"] >= TARGETS["make_stone_pickaxe"],
              "collect_iron": rates["collect_iron"] >= TARGETS["collect_iron"]}
    return {
        "episodes": n,
        "frames": int(lengths.sum()),
        "median_episode_length": median,
        "episode_length": {"mean": float(lengths.mean()), "min": int(lengths.min()), "max": int(lengths.max())},
        "achievement_success_rate": rates,
        "ends": dict(ends.most_common()),
        "random_action_share": float(sum(r["random_actions"] for r in records) / max(1, lengths.sum())),
        "targets": TARGETS,
        "meets_targets": checks,
    }


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--episodes", type=int, default=24, help="episodes to play")
    p.add_argument("--seed", type=int, default=9001, help="run seed (episode i's seeds derive from (seed, i))")
    p.add_argument("--max_episode_len", type=int, default=10000, help="env steps after which an episode ends")
    p.add_argument("--out", default="bench/results/player.json", help="result JSON")
    p.add_argument("--workers", type=int, default=1, help="worker processes (episodes are independent)")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.exit(2, f"--episodes {args.episodes}: expected an integer >= 1\n")
    if args.workers < 1:
        p.exit(2, f"--workers {args.workers}: expected an integer >= 1\n")
    if args.max_episode_len < 1:
        p.exit(2, f"--max_episode_len {args.max_episode_len}: expected an integer >= 1 (env steps)\n")
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    command = "python bench/player_report.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.time()
    records = []
    bar = tqdm(total=args.episodes, desc="player episodes", unit="episode", dynamic_ncols=True)
    jobs = [(args.seed, i, args.max_episode_len) for i in range(args.episodes)]
    if args.workers == 1:
        env = CrafterEnv(max_steps=args.max_episode_len)
        results = (play(seed, i, n, env) for seed, i, n in jobs)
    else:
        pool = multiprocessing.Pool(args.workers)
        results = pool.imap(_play_indexed, jobs)
    for record in results:
        records.append(record)
        bar.update(1)
        bar.set_postfix(median_len=float(np.median([r["length"] for r in records])))
    bar.close()
    if args.workers > 1:
        pool.close()
    seconds = time.time() - start
    result = {"command": command.strip(), "player_version": PLAYER_VERSION, "seed": args.seed, "workers": args.workers,
              "max_episode_len": args.max_episode_len, **summarize(records),
              "seconds": round(seconds, 1), "env_steps_per_s": round(sum(r["length"] for r in records) / seconds, 1),
              "records": records}
    atomic_write_json(args.out, result)
    print({k: result[k] for k in ("median_episode_length", "ends", "meets_targets")})
    print({a: round(r, 2) for a, r in result["achievement_success_rate"].items()})
    return result


if __name__ == "__main__":
    main()
