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

``survival`` (what the player's time and deaths go to; :class:`SurvivalLog`, on the player's own day clock
``tasks.crafter.player.rules``: dusk from env step 70, night from 125 to 20 of the next 300-step cycle):
``frame_share_by_subgoal`` (share of env steps per sub-goal), ``food_at`` (mean food, 0-9, and the share of cycles
at food <= 1, at the start of dusk, of night, and in the morning when the night ends), ``hunts`` (``eat_cow``
attempts: a run of ``eat_cow`` steps, interruptions of up to 10 env steps by threats or drinking included, that
succeeds when a cow is eaten; the share of failed ones in which no cow was ever in the player's view, what ended the
failed ones (the sub-goal that took over, ``death`` or ``episode_end``), and, read from the whole map the player
never sees, the share of hunting env steps with a cow within 10 tiles), the share of
env steps at food 0 (health then drains by 1 per ~15 env steps), ``nights`` (per night, for all nights and split
by food at its start, ``fed`` > 1 or ``starving`` <= 1: the share never sealed in a shelter, the share that the
player did not survive, the median env steps from nightfall to sealed in; the same figures by the sub-goal the player
was on as the night began and by the stones it carried then), ``deaths_by_phase`` (day, dusk, night)
and ``deaths_starving`` (share of deaths at food 0, whatever the last blow), ``meals`` (per food source, cows
and plants: meals per 300-env-step cycle, the mean food before a meal, the food gained per cycle after crafter's cap
of 9, and the meals at each food level 0-9).

``--food_bonus AMOUNT START EVERY`` is a what-if, not the player's play: it adds food the player did not find
(after env step START and every EVERY env steps after it, capped at 9), to measure what a food source would be worth
before building it into the player (e.g. ``4 400 300``: one plant, ripe from env step 400 and every 300 env steps
of growth after). The JSON records it as ``food_bonus``.
"""
from __future__ import annotations

import argparse
import collections
import multiprocessing
import shlex
import sys
import time
from typing import Any, Optional, Sequence

import crafter.constants
import numpy as np
from tqdm import tqdm

from steve1.utils.io import atomic_write_json
from tasks.crafter.env import ACHIEVEMENTS, CrafterEnv
from tasks.crafter.generate_play_data import episode_seeds
from tasks.crafter.player.rules import _DAY, _DUSK_START, _NIGHT_END, _NIGHT_START, S, day_phase
from tasks.crafter.scripted_player import PLAYER_VERSION, ScriptedPlayer

#: Crafter's cap on food (``data.yaml``); eating a cow gives 6 and a ripe plant 4 (``crafter.objects.Player``).
_FOOD_MAX = int(crafter.constants.items["food"]["max"])
TARGETS = {"median_episode_length": 1000, "make_stone_pickaxe": 0.8, "collect_iron": 0.4}
#: Env steps of another sub-goal (a threat, a drink) that do not end an ``eat_cow`` attempt.
_HUNT_GAP = 10


class SurvivalLog:
    """Per-episode log of where the player's time goes and how food runs (the ``survival`` figures of the module
    docstring). Call :meth:`update` once per env step, after the player acted on ``info`` and before the env
    steps; :meth:`record` at the end with the episode's last ``info``."""

    def __init__(self) -> None:
        self.subgoal_steps: collections.Counter = collections.Counter()
        self.food_at: dict[str, list[int]] = {"dusk_start": [], "night_start": [], "morning": []}
        self.hunts: list[dict[str, Any]] = []
        self.food_zero_steps = 0
        self._hunt: Optional[dict[str, Any]] = None
        self.nights: list[dict[str, Any]] = []  # per night: food at its start, env steps until sealed in, died
        self.hunting_steps = 0
        self.hunting_steps_cow_within_10 = 0
        self.meals: list[tuple[str, int]] = []  # (cow | plant, food just before the meal)
        self._last: Optional[tuple[int, int, int]] = None  # (food, eat_cow, eat_plant) at the previous call

    def _count_meals(self, info: dict[str, Any]) -> None:
        """Record the meals of the env step that led to ``info`` (cows and plants eaten since the last call), each
        with the food shown just before it (the last call's)."""
        food = int(info["inventory"]["food"])
        eaten, plants = int(info["achievements"]["eat_cow"]), int(info["achievements"]["eat_plant"])
        if self._last is not None:
            self.meals += [("cow", self._last[0])] * (eaten - self._last[1])
            self.meals += [("plant", self._last[0])] * (plants - self._last[2])
        self._last = (food, eaten, plants)

    def _end_hunt(self, success: bool, ended_by: str) -> None:
        hunt, self._hunt = self._hunt, None
        self.hunts.append({"steps": hunt["last"] - hunt["start"] + 1, "success": success,
                           "cow_seen": hunt["cow_seen"], "ended_by": ended_by})

    def update(self, player: ScriptedPlayer, info: dict[str, Any]) -> None:
        step = int(info["episode_step"])
        food = int(info["inventory"]["food"])
        self.subgoal_steps[player.subgoal] += 1
        self.food_zero_steps += food == 0
        t = step % _DAY
        if t == _DUSK_START:
            self.food_at["dusk_start"].append(food)
        elif t == _NIGHT_START:
            self.food_at["night_start"].append(food)
            self.nights.append({"food": food, "sealed_after": None, "died": False, "subgoal": player.subgoal,
                                "stone": int(info["inventory"]["stone"])})
        elif t == _NIGHT_END and step >= _DAY:
            self.food_at["morning"].append(food)
        if self.nights and day_phase(step) == "night" and self.nights[-1]["sealed_after"] is None and player._sealed():
            self.nights[-1]["sealed_after"] = (t - _NIGHT_START) % _DAY
        self._count_meals(info)
        eaten = int(info["achievements"]["eat_cow"])
        hunt = self._hunt
        if hunt is not None and (eaten > hunt["eaten"] or step - hunt["last"] > _HUNT_GAP):
            self._end_hunt(eaten > hunt["eaten"], "eaten" if eaten > hunt["eaten"] else player.subgoal)
            hunt = None
        if player.subgoal == "eat_cow":
            if hunt is None:
                self._hunt = hunt = {"start": step, "eaten": eaten, "cow_seen": False}
            hunt["last"] = step
            # ground truth, not the player's knowledge: how far the nearest cow of the whole map is (tiles, Chebyshev)
            cows = np.argwhere(info["semantic"] == S["cow"])
            near = bool(len(cows)) and int(np.abs(cows - np.asarray(info["player_pos"])).max(1).min()) <= 10
            self.hunting_steps += 1
            self.hunting_steps_cow_within_10 += near
        if hunt is not None:
            hunt["cow_seen"] = hunt["cow_seen"] or bool(player._visible([S["cow"]]).any())

    def record(self, info: dict[str, Any]) -> dict[str, Any]:
        """This episode's log; an attempt still running at the end counts as failed unless the last step ate."""
        if self._hunt is not None:
            success = int(info["achievements"]["eat_cow"]) > self._hunt["eaten"]
            self._end_hunt(success, "eaten" if success else ("death" if info["dead"] else "episode_end"))
        if self.nights and info["dead"] and day_phase(int(info["episode_step"])) == "night":
            self.nights[-1]["died"] = True
        lost = [h for h in self.hunts if not h["success"]]
        hunts = {"attempts": len(self.hunts), "success_steps": [h["steps"] for h in self.hunts if h["success"]],
                 "failed_without_cow_in_view": sum(not h["cow_seen"] for h in lost),
                 "failed_ended_by": dict(collections.Counter(h["ended_by"] for h in lost)),
                 "steps": self.hunting_steps, "steps_cow_within_10": self.hunting_steps_cow_within_10}
        self._count_meals(info)  # a meal in the episode's last env step
        return {"subgoal_steps": dict(self.subgoal_steps), "food_at": self.food_at, "hunts": hunts, "nights": self.nights,
                "meals": [list(m) for m in self.meals],
                "food_zero_steps": self.food_zero_steps, "death_phase": day_phase(int(info["episode_step"])),
                "food_at_end": int(info["inventory"]["food"])}


def play(seed: int, index: int, max_episode_len: int, env: Optional[CrafterEnv] = None,
         food_bonus: tuple[int, int, int] = (0, 1, _DAY), night_work: bool = True,
         early_plant: float = 0.0) -> dict[str, Any]:
    """Play episode ``index`` of a run seeded ``seed``; returns its record (length in env steps, end, death cause,
    achievements unlocked, random actions, the sub-goal at the end). ``food_bonus`` = (amount, start, every): a
    what-if, not the player's play: after env step ``start`` and every ``every`` env steps after it, ``amount``
    food (capped at 9) is added to the player's inventory, as a food source the player did not have to find would
    give (a plant: 4 food once ripe, every 300 env steps of growth); amount 0 (default) changes nothing.
    ``night_work``, ``early_plant``: :class:`ScriptedPlayer`'s options of those names."""
    env = env or CrafterEnv(max_steps=max_episode_len)
    amount, start, every = food_bonus
    env_seed, player_seed = episode_seeds(seed, index)
    player = ScriptedPlayer(seed=player_seed, night_work=night_work, early_plant=early_plant)
    _, info = env.reset(seed=env_seed)
    player.reset(env, info)
    random_actions = 0
    log = SurvivalLog()
    while True:
        action = player.act(info)
        random_actions += bool(player.random_action)
        log.update(player, info)
        _, _, terminated, truncated, info = env.step(action)
        step = int(info["episode_step"])
        if amount and not (terminated or truncated) and step >= start and (step - start) % every == 0:
            inventory = env.crafter_env._player.inventory
            inventory["food"] = min(_FOOD_MAX, inventory["food"] + amount)
            info["inventory"]["food"] = inventory["food"]
        if terminated or truncated:
            break
    return {"index": index, "env_seed": env_seed, "player_seed": player_seed, "length": int(info["episode_step"]),
            "end": "death" if info["dead"] else "max_steps", "death_cause": info["death_cause"],
            "last_subgoal": player.subgoal, "random_actions": random_actions,
            "early_plant": player.early_plant_episode,
            "unlocked": sorted(a for a in ACHIEVEMENTS if info["achievements"][a] > 0),
            "survival": log.record(info)}


def _play_indexed(job: tuple[int, int, int, tuple[int, int, int], bool, float]) -> dict[str, Any]:
    seed, index, max_episode_len, food_bonus, night_work, early_plant = job
    return play(seed, index, max_episode_len, food_bonus=food_bonus, night_work=night_work, early_plant=early_plant)


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


def meal_figures(meals: Sequence[Sequence], cycles: float) -> dict[str, Any]:
    """``survival.meals``: per food source (``cow``: +6 food, ``plant``: +4, capped at 9), meals per 300-env-step
    cycle, the mean food before a meal, the food gained per cycle (after the cap) and how many meals came at each
    food level 0-9. ``meals``: (source, food before) pairs; ``cycles``: env steps / 300."""
    out = {}
    for source, amount in (("cow", 6), ("plant", 4)):
        before = np.array([f for s, f in meals if s == source], np.int64)
        gained = np.minimum(before + amount, _FOOD_MAX) - before
        out[source] = {"meals": int(len(before)), "per_cycle": len(before) / cycles if cycles else None,
                       "mean_food_before": float(before.mean()) if len(before) else None,
                       "food_gained_per_cycle": float(gained.sum() / cycles) if cycles else None,
                       "food_before_histogram": [int((before == f).sum()) for f in range(10)]}
    return out


def summarize_survival(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``survival`` figures (module docstring) over records of :func:`play`."""
    logs = [r["survival"] for r in records]
    steps: collections.Counter = collections.Counter()
    for log in logs:
        steps.update(log["subgoal_steps"])
    frames = max(1, sum(steps.values()))
    food_at = {}
    for key in ("dusk_start", "night_start", "morning"):
        values = [f for log in logs for f in log["food_at"][key]]
        food_at[key] = {"mean": float(np.mean(values)) if values else None,
                        "share_at_most_1": float(np.mean([f <= 1 for f in values])) if values else None,
                        "cycles": len(values)}
    attempts = sum(log["hunts"]["attempts"] for log in logs)
    won = [n for log in logs for n in log["hunts"]["success_steps"]]
    lost = attempts - len(won)
    deaths = [(r, log) for r, log in zip(records, logs) if r["end"] == "death"]
    nights = [n for log in logs for n in log["nights"]]

    def night_figures(group: list[dict[str, Any]]) -> dict[str, Any]:
        sealed = [n["sealed_after"] for n in group if n["sealed_after"] is not None]
        return {"nights": len(group),
                "never_sealed": float(np.mean([n["sealed_after"] is None for n in group])) if group else None,
                "died": float(np.mean([n["died"] for n in group])) if group else None,
                "median_steps_to_seal": float(np.median(sealed)) if sealed else None}
    return {
        "frame_share_by_subgoal": {k: v / frames for k, v in steps.most_common()},
        "food_at": food_at,
        "hunts": {"attempts": attempts, "success_rate": len(won) / attempts if attempts else None,
                  "median_steps_success": float(np.median(won)) if won else None,
                  "failed_without_cow_in_view": (sum(log["hunts"]["failed_without_cow_in_view"] for log in logs)
                                                 / lost if lost else None),
                  "failed_ended_by": dict(sum((collections.Counter(log["hunts"]["failed_ended_by"]) for log in logs),
                                              collections.Counter()).most_common()),
                  "steps_with_a_cow_within_10_tiles": (sum(log["hunts"]["steps_cow_within_10"] for log in logs)
                                                       / max(1, sum(log["hunts"]["steps"] for log in logs)))},
        "food_zero_step_share": sum(log["food_zero_steps"] for log in logs) / frames,
        "meals": meal_figures([m for log in logs for m in log["meals"]], frames / _DAY),
        "nights": {"all": night_figures(nights), "fed": night_figures([n for n in nights if n["food"] > 1]),
                   "starving": night_figures([n for n in nights if n["food"] <= 1]),
                   # what the player was doing as the night began (the sub-goal of its first night action)
                   "by_subgoal_at_nightfall": {g: night_figures([n for n in nights if n["subgoal"] == g])
                                               for g, _ in collections.Counter(n["subgoal"] for n in nights)
                                               .most_common()},
                   "by_stones_at_nightfall": {f"{lo}-{hi}": night_figures([n for n in nights
                                                                           if lo <= n["stone"] <= hi])
                                              for lo, hi in ((0, 2), (3, 5), (6, 9))}},
        "deaths_by_phase": dict(collections.Counter(log["death_phase"] for _, log in deaths).most_common()),
        "deaths_starving": float(np.mean([log["food_at_end"] == 0 for _, log in deaths])) if deaths else None,
    }


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--episodes", type=int, default=24, help="episodes to play")
    p.add_argument("--seed", type=int, default=9001, help="run seed (episode i's seeds derive from (seed, i))")
    p.add_argument("--max_episode_len", type=int, default=10000, help="env steps after which an episode ends")
    p.add_argument("--out", default="bench/results/player.json", help="result JSON")
    p.add_argument("--workers", type=int, default=1, help="worker processes (episodes are independent)")
    p.add_argument("--food_bonus", type=int, nargs=3, default=[0, 1, _DAY], metavar=("AMOUNT", "START", "EVERY"),
                   help="what-if, not the player's play: add AMOUNT food (capped at 9) after env step START and every "
                        "EVERY env steps after it (e.g. 4 400 300: the yield of one plant ripe from env step 400); "
                        "recorded in the JSON as food_bonus")
    p.add_argument("--no_night_work", action="store_true",
                   help="the player waits or sleeps in its sealed shelter at night instead of crafting and digging "
                        "towards ore (ScriptedPlayer(night_work=False); configs/crafter/play_data.yaml night_work)")
    p.add_argument("--early_plant", type=float, default=0.0, metavar="SHARE",
                   help="share of episodes whose first free sub-goal is a sapling planted in the open "
                        "(ScriptedPlayer(early_plant=SHARE); configs/crafter/play_data.yaml early_plant)")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.exit(2, f"--episodes {args.episodes}: expected an integer >= 1\n")
    if args.workers < 1:
        p.exit(2, f"--workers {args.workers}: expected an integer >= 1\n")
    if args.max_episode_len < 1:
        p.exit(2, f"--max_episode_len {args.max_episode_len}: expected an integer >= 1 (env steps)\n")
    if not 0.0 <= args.early_plant <= 1.0:
        p.exit(2, f"--early_plant {args.early_plant}: expected a share of episodes in 0..1\n")
    amount, start, every = args.food_bonus
    if not (0 <= amount <= _FOOD_MAX and start >= 1 and every >= 1):
        p.exit(2, f"--food_bonus {amount} {start} {every}: expected AMOUNT in 0..{_FOOD_MAX}, START >= 1 and "
                  "EVERY >= 1 (env steps)\n")
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    args = parse_args(argv)
    command = "python bench/player_report.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.time()
    records = []
    bar = tqdm(total=args.episodes, desc="player episodes", unit="episode", dynamic_ncols=True)
    food_bonus = tuple(args.food_bonus)
    night_work = not args.no_night_work
    jobs = [(args.seed, i, args.max_episode_len, food_bonus, night_work, args.early_plant)
            for i in range(args.episodes)]
    if args.workers == 1:
        env = CrafterEnv(max_steps=args.max_episode_len)
        results = (play(seed, i, n, env, food_bonus=bonus, night_work=nw, early_plant=ep)
                   for seed, i, n, bonus, nw, ep in jobs)
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
              "max_episode_len": args.max_episode_len, "night_work": night_work,
              "early_plant": args.early_plant,
              "food_bonus": ({"amount": food_bonus[0], "start": food_bonus[1], "every": food_bonus[2]}
                             if food_bonus[0] else None),
              **summarize(records),
              "survival": summarize_survival(records),
              "seconds": round(seconds, 1), "env_steps_per_s": round(sum(r["length"] for r in records) / seconds, 1),
              "records": records}
    atomic_write_json(args.out, result)
    print({k: result[k] for k in ("median_episode_length", "ends", "meets_targets")})
    print({a: round(r, 2) for a, r in result["achievement_success_rate"].items()})
    return result


if __name__ == "__main__":
    main()
