"""Survival probe: does the agent die because it sleeps in the open? A trained high-level checkpoint is played with and
without the ``sleep`` action, on the same Crafter worlds.

    python bench/survival_probe.py --checkpoint results/bench/crafter_iron/ptgm/seed1/<run>/checkpoints/final.zip

Why: a Crafter player that presses ``sleep`` with energy below its maximum falls asleep and stays asleep (every
action is replaced by ``sleep``) until its energy is full or it is hurt, and a zombie deals 7 damage to a sleeping
player instead of 2 (crafter 1.8 ``objects.py``: ``Player.update``, ``Zombie.update``). The low level imitates a
scripted player that sleeps in a sealed shelter (``tasks/crafter/scripted_player.py``); if it learnt to sleep without
the shelter, sleeping would be a cause of the short episodes on the long-horizon tasks (``bench/results/README.md``).

Per condition (``--conditions``: ``default`` plays the policy as trained; ``no_sleep`` replaces every ``sleep`` the
low level chooses by ``noop``), ``--n_episodes`` episodes are played with one env; episode j of every condition is
played in Crafter world ``--seed`` + j (:class:`low_level_competence.AchievementTimer`), so the conditions differ only
by the policy's behaviour. Recorded per episode (:class:`SurvivalTrace`): length (env steps), success, end, death
cause, how many times the low level chose ``sleep``, env steps asleep, the first env step asleep, whether the player
was asleep when it died, health points lost in total and while asleep, and the daylight at the end.

Written (``--out``, default ``<run>/eval/survival_probe_<checkpoint>_seed<S>.json``; printed): per condition the
summary (success, mean and median length, death causes, share of episodes with a sleep, deaths while asleep, share of
the health lost while asleep) and the per-episode records.
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import gymnasium
import numpy as np

CONDITIONS = ("default", "no_sleep")


class SurvivalTrace(gymnasium.Wrapper):
    """Wraps a ``tasks.crafter.env.CrafterEnv`` (its ``info`` has ``sleeping``, ``daylight``, ``inventory``,
    ``dead``, ``death_cause``, ``success``) and appends one record per ended episode to ``self.records``:
    ``{"length", "success", "dead", "death_cause", "sleep_chosen", "steps_asleep", "first_asleep" (env step index or
    None), "asleep_at_death", "health_lost", "health_lost_asleep", "daylight_end"}``. Health lost on a step counts as
    lost asleep when the player was asleep before that step.

    Args:
        env: the Crafter task env (``Discrete(17)`` actions, crafter's action order).
        forbid_sleep: replace the ``sleep`` action by ``noop`` (the choice is still counted in ``sleep_chosen``).
    """

    def __init__(self, env: gymnasium.Env, forbid_sleep: bool = False):
        super().__init__(env)
        from tasks.crafter.env import ACTION_NAMES

        self.sleep_action, self.noop_action = ACTION_NAMES.index("sleep"), ACTION_NAMES.index("noop")
        self.forbid_sleep = bool(forbid_sleep)
        self.records: list[dict[str, Any]] = []
        self._new_episode()

    def _new_episode(self) -> None:
        self._t, self._chosen, self._asleep, self._first = 0, 0, 0, None
        self._was_asleep, self._health, self._lost, self._lost_asleep = False, None, 0, 0

    def reset(self, **kwargs):
        self._new_episode()
        obs, info = self.env.reset(**kwargs)
        self._health = int(info["inventory"]["health"])
        return obs, info

    def step(self, action):
        action = int(np.asarray(action).reshape(-1)[0])
        if action == self.sleep_action:
            self._chosen += 1
            if self.forbid_sleep:
                action = self.noop_action
        obs, reward, terminated, truncated, info = self.env.step(action)
        health = int(info["inventory"]["health"])
        lost = max(0, self._health - health)
        self._lost += lost
        self._lost_asleep += lost if self._was_asleep else 0
        asleep = bool(info["sleeping"])
        if asleep:
            self._asleep += 1
            self._first = self._t if self._first is None else self._first
        self._t += 1
        if terminated or truncated:
            dead = bool(info.get("dead"))
            self.records.append({
                "length": self._t, "success": bool(info.get("success", False)), "dead": dead,
                "death_cause": info.get("death_cause"), "sleep_chosen": self._chosen, "steps_asleep": self._asleep,
                "first_asleep": self._first, "asleep_at_death": dead and (asleep or self._was_asleep),
                "health_lost": self._lost, "health_lost_asleep": self._lost_asleep,
                "daylight_end": round(float(info["daylight"]), 3)})
        self._health, self._was_asleep = health, asleep
        return obs, reward, terminated, truncated, info


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Summary of :class:`SurvivalTrace` records (see the module docstring). Raises ValueError: no records."""
    if not records:
        raise ValueError("survival_probe.summarize: no episodes")
    lengths = [r["length"] for r in records]
    asleep = [r["steps_asleep"] for r in records if r["steps_asleep"]]
    lost = sum(r["health_lost"] for r in records)
    return {
        "n_episodes": len(records), "successes": sum(r["success"] for r in records),
        "mean_length": round(float(np.mean(lengths)), 2), "median_length": float(np.median(lengths)),
        "deaths": sum(r["dead"] for r in records),
        "death_causes": dict(collections.Counter(r["death_cause"] for r in records if r["dead"]).most_common()),
        "episodes_with_sleep_chosen": sum(r["sleep_chosen"] > 0 for r in records),
        "episodes_asleep": len(asleep), "median_steps_asleep": float(np.median(asleep)) if asleep else 0.0,
        "median_first_asleep": (float(np.median([r["first_asleep"] for r in records if r["first_asleep"] is not None]))
                                if asleep else None),
        "deaths_asleep": sum(r["asleep_at_death"] for r in records),
        "health_lost": lost, "health_lost_asleep": sum(r["health_lost_asleep"] for r in records),
        "share_health_lost_asleep": round(sum(r["health_lost_asleep"] for r in records) / lost, 3) if lost else 0.0}


def play(checkpoint: Path, forbid_sleep: bool, n_episodes: int, seed: int) -> list[dict[str, Any]]:
    """Play ``n_episodes`` episodes of the checkpoint's high-level policy (sampled actions, one env, CPU) in worlds
    ``seed`` .. ``seed + n_episodes - 1``, built from the run's ``config.yaml`` as ``ppo_highlevel.py --load`` reads it
    (:func:`hierarchical.methods.load_run_config`); returns the :class:`SurvivalTrace` records."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.utils import set_random_seed

    from hierarchical.build import make_envs, make_highlevel_env
    from hierarchical.methods import load_run_config

    from low_level_competence import AchievementTimer  # bench/ is on the path: the script's folder

    device = torch.device("cpu")
    cfg, _ = load_run_config(checkpoint.resolve().parent.parent / "config.yaml", {})
    set_random_seed(seed)
    trace = SurvivalTrace(AchievementTimer(make_envs(cfg, 1, device)[0], [seed + j for j in range(n_episodes)]),
                          forbid_sleep=forbid_sleep)
    venv, _ = make_highlevel_env(cfg, device, n_envs=1, envs=[trace])
    venv.seed(seed)
    model = PPO.load(checkpoint, env=venv, device=device)
    venv.attach_policy(model.policy)
    obs = venv.reset()
    from tqdm.auto import tqdm

    with tqdm(total=n_episodes, unit="episode", desc="no_sleep" if forbid_sleep else "default") as pbar:
        while len(trace.records) < n_episodes:
            done_before = len(trace.records)
            action, _ = model.predict(obs, deterministic=False)
            obs, _, _, _ = venv.step(action)
            pbar.update(len(trace.records) - done_before)
    venv.close()
    return trace.records[:n_episodes]


def check_checkpoint(checkpoint: Path) -> Any:
    """The checkpoint is a readable zip inside a run folder of a Crafter task whose model files exist; returns the
    run's config (:class:`hierarchical.config.HighLevelConfig`, :func:`hierarchical.methods.load_run_config`).

    Raises:
        steve1.utils.cli.UsageError / FileNotFoundError: naming ``--checkpoint`` (or the run's config.yaml and key).
    """
    import zipfile

    from hierarchical.build import check_files
    from hierarchical.methods import load_run_config
    from steve1.utils.checks import check_input_file
    from steve1.utils.cli import UsageError

    check_input_file(checkpoint, "--checkpoint", "a checkpoint zip written by ppo_highlevel.py")
    if not zipfile.is_zipfile(checkpoint):
        raise UsageError(f"--checkpoint {checkpoint}: not a readable checkpoint zip (truncated or another file)")
    config = checkpoint.resolve().parent.parent / "config.yaml"
    if checkpoint.resolve().parent.name != "checkpoints" or not config.is_file():
        raise UsageError(f"--checkpoint {checkpoint}: not a checkpoint of a run directory (expected <run dir>/"
                         f"checkpoints/<name>.zip beside <run dir>/config.yaml; no {config})")
    try:
        cfg, sources = load_run_config(config, {})
    except ValueError as e:  # steve1.utils.cli.UsageError: not YAML, an unknown or missing key, a bad value
        raise UsageError(f"--checkpoint {checkpoint}: the run's {config} cannot be read: {e}") from e
    if cfg.sim != "crafter":
        raise UsageError(f"--checkpoint {checkpoint}: a run of sim {cfg.sim!r} ({config}), expected a Crafter task")
    check_files(cfg, sources)
    return cfg


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Entry point (see ``--help``). A user's mistake (a missing, truncated or foreign checkpoint, a run whose model
    files are gone, a flag out of range, an unusable ``--out``) ends the program with one line on stderr naming the
    flag, and exit code 2, before anything is played or written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("survival_probe.py", lambda: _main(argv))


def _main(argv: Optional[Sequence[str]]) -> dict[str, Any]:
    from steve1.utils.checks import Range, check_output_path, check_ranges

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint zip written by ppo_highlevel.py (a Crafter task)")
    p.add_argument("--n_episodes", type=int, default=40, help="episodes per condition")
    p.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS))
    p.add_argument("--seed", type=int, default=0, help="first Crafter world; also seeds torch, NumPy and random")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--out", default=None, help="JSON (default <run>/eval/survival_probe_<checkpoint>_seed<S>.json)")
    args = p.parse_args(argv)
    checkpoint = Path(args.checkpoint)
    check_ranges(args, {"n_episodes": Range(int, lo=1, note="episodes per condition"), "seed": Range(int, lo=0),
                        "threads": Range(int, lo=1)})
    check_checkpoint(checkpoint)
    out = Path(args.out) if args.out else checkpoint.resolve().parent.parent / "eval" / \
        f"survival_probe_{checkpoint.stem}_seed{args.seed}.json"
    check_output_path(out, "--out")
    import torch

    from steve1.utils.io import atomic_write_json

    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {"checkpoint": str(checkpoint), "seed": args.seed, "worlds": [args.seed,
                                                                                           args.seed + args.n_episodes - 1]}
    for cond in args.conditions:
        records = play(checkpoint, cond == "no_sleep", args.n_episodes, args.seed)
        report[cond] = {"summary": summarize(records), "episodes": records}
        print(cond, json.dumps(report[cond]["summary"]), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, report, indent=1)
    print(f"report: {out}", flush=True)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
