"""Why the low level misses a competence link: what its test starts show, and how its episodes from them end.

    python bench/competence_failures.py --out bench/results/competence_failures.json    # every link of the report
    python bench/competence_failures.py --achievements collect_coal collect_iron --out /tmp/coal_iron.json

Issue 18's competence figure (``bench/pretraining_report.py``, ``competence``) holds each link's best code, and the
zero goal, for up to ``--horizon`` env steps from test starts: states of held-out scripted-player episodes at which
the link was the player's next one. The player reached the link from nearly every start, so where the low level
does not, this bench asks why. It rebuilds the report's test starts (the same player episodes of the report's
``test_seed``, the same start rule, :func:`pretraining_report.next_link_starts`) and plays the report's best code
and the zero goal from them with the report's own function and seeds (:func:`pretraining_report.
run_goals_from_starts`), so every episode is the report's (checked: each arm's success equals the report's). Each
episode also records:

* at the start: whether the link's target (:data:`pretraining_report.SUBGOAL_TARGETS`: the material or creature
  it needs, or the table for crafting) is in the agent's view (its 9x7 window, :meth:`tasks.crafter.env.CrafterEnv.
  local_view`) and the L1 distance in tiles from the player to the nearest one on the whole map (which the
  scripted player may have seen earlier and remembered, and the low level has no memory of beyond its 64 frames);
  the daylight (the player also works at night, sealed in its shelter, so some starts are at night);
* on the way: whether it came next to a target (``came_next_to_target``, :func:`next_to_target`), the env steps
  it was at a target (:func:`at_target`: facing it, or for crafting within reach of it) and the link's
  :func:`key_action` it took there, its first :data:`FIRST_ACTIONS` actions;
* at the end: ``success``, ``death`` (with crafter's cause, :func:`tasks.crafter.env.death_cause`) or ``horizon``;
  for the episodes that ran out of time, whether the link's requirements (:func:`pretraining_report.requirements`)
  were still held, and the L1 distance to the nearest target then (closer or not).

Written (``--out``, atomically): the command, the report it follows and its ``model_md5``, and per link and arm
(``best_code``, ``zero``): successes, starts, how the episodes ended, success split by target in view at the start
and by distance bins (:data:`DISTANCE_BINS`), and, of the episodes that ran out of time, the share still holding
the requirements and the share that ended nearer a target than they started; success and deaths by the start's
daylight (:data:`DAYLIGHT_BINS`); successes and deaths within the first :data:`EARLY_STEPS` env steps
(``early``) and the success of the episodes still going then (``later``); of the failed episodes, how many came
next to a target, were at one, and the key actions they took there (``failures``); and each episode's record
(``records``). Bad flags (and a report whose competence was not measured on test starts) end with one line and
exit code 2 before anything is played.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pretraining_report as pr  # noqa: E402

#: Daylight bins of a start (crafter's ``world.daylight``, 1 = full day; zombies spawn on grass at a rate that
#: grows as it falls, ``crafter/env.py``): ``night`` below 0.3, ``twilight`` 0.3-0.7, ``day`` from 0.7.
DAYLIGHT_BINS = ((0.3, "night"), (0.7, "twilight"), (float("inf"), "day"))
#: Env steps of the "early" window: a link reached within it, and of the episodes still going at its end, the
#: share that reach it later (``early``, ``later`` in the summary).
EARLY_STEPS = 50
#: Actions kept per episode record (``first_actions``).
FIRST_ACTIONS = 12
#: Upper edges (L1 tiles) of the distance bins: ``<= 1`` (next to it), ``2-4`` (in view or nearly), ``5-8``,
#: ``9-16``, ``> 16``; ``none`` where the map holds no target.
DISTANCE_BINS = (1, 4, 8, 16)


def target_ids(achievement: str) -> tuple[list[int], list[str]]:
    """(material ids, object texture prefixes) of ``achievement``'s target (:data:`pretraining_report.
    SUBGOAL_TARGETS`); empty lists for a link without one."""
    from tasks.crafter.env import SEMANTIC_NAMES

    names = pr.SUBGOAL_TARGETS.get(achievement, ())
    materials = [SEMANTIC_NAMES.index(n) for n in names if n not in ("cow", "zombie", "skeleton")]
    objects = [n for n in names if n in ("cow", "zombie", "skeleton")]
    return materials, objects


def target_distance(env, achievement: str) -> Optional[int]:
    """L1 distance in tiles from the player to the nearest target of ``achievement`` on the whole world map of
    ``env`` (:class:`tasks.crafter.env.CrafterEnv`), None when the map holds none (or the link has no target)."""
    import crafter.objects

    materials, objects = target_ids(achievement)
    world = env.crafter_env._world
    pos = np.asarray(env.crafter_env._player.pos)
    best: Optional[int] = None
    if materials:
        xs, ys = np.nonzero(np.isin(world._mat_map, materials))
        if len(xs):
            best = int(np.min(np.abs(xs - pos[0]) + np.abs(ys - pos[1])))
    kinds = {"cow": crafter.objects.Cow, "zombie": crafter.objects.Zombie, "skeleton": crafter.objects.Skeleton}
    for obj in world.objects:
        if any(isinstance(obj, kinds[k]) for k in objects):
            d = int(np.abs(np.asarray(obj.pos) - pos).sum())
            best = d if best is None else min(best, d)
    return best


def target_in_view(env, achievement: str) -> Optional[bool]:
    """Whether a target of ``achievement`` is in the agent's 9x7 view of ``env`` (None for a link without one)."""
    materials, objects = target_ids(achievement)
    if not materials and not objects:
        return None
    view = env.local_view()
    in_view = bool(np.isin(view.materials, materials).any()) if materials else False
    return in_view or (bool(objects) and any(t.startswith(tuple(objects)) for t in view.textures.values()))


def next_to_target(env, achievement: str) -> bool:
    """Whether a target of ``achievement`` is on one of the four tiles next to the player of ``env`` (L1 distance 1;
    a local read, cheap enough for every env step); False for a link without one."""
    materials, objects = target_ids(achievement)
    world, player = env.crafter_env._world, env.crafter_env._player
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        x, y = int(player.pos[0]) + dx, int(player.pos[1]) + dy
        if not (0 <= x < world.area[0] and 0 <= y < world.area[1]):
            continue
        obj = world[(x, y)][1]
        if int(world._mat_map[x, y]) in materials or (
                objects and obj is not None and str(obj.texture).startswith(tuple(objects))):
            return True
    return False


def key_action(achievement: str) -> str:
    """The action that unlocks ``achievement`` once the player is at its target: ``do`` for ``collect_*``,
    ``eat_*`` and ``defeat_*``, else the achievement's own action (``make_stone_pickaxe``, ``place_furnace``)."""
    return "do" if achievement.split("_")[0] in ("collect", "eat", "defeat") else achievement


def at_target(env, achievement: str) -> bool:
    """Whether the player of ``env`` is where :func:`key_action` would act on ``achievement``'s target: for
    ``make_*`` and ``place_*`` a target (table, furnace) within crafter's crafting reach (``world.nearby(pos, 1)``:
    the 3x3 tiles around the player); otherwise it faces a target tile or creature (the tile ``do`` acts on).
    False for a link without a target."""
    materials, objects = target_ids(achievement)
    if not materials and not objects:
        return False
    world, player = env.crafter_env._world, env.crafter_env._player
    x, y = (int(v) for v in player.pos)
    if achievement.split("_")[0] in ("make", "place"):
        area = world._mat_map[max(0, x - 1):x + 2, max(0, y - 1):y + 2]
        return bool(np.isin(area, materials).any())
    fx, fy = x + int(player.facing[0]), y + int(player.facing[1])
    if not (0 <= fx < world.area[0] and 0 <= fy < world.area[1]):
        return False
    obj = world[(fx, fy)][1]
    return (int(world._mat_map[fx, fy]) in materials
            or (obj is not None and str(obj.texture).startswith(tuple(objects)) if objects else False))


def daylight_bin(light: float) -> str:
    """Crafter daylight in [0, 1] -> its :data:`DAYLIGHT_BINS` label."""
    return next(label for hi, label in DAYLIGHT_BINS if light < hi)


def distance_bin(d: Optional[int]) -> str:
    """``d`` (L1 tiles or None) -> its :data:`DISTANCE_BINS` label."""
    if d is None:
        return "none"
    lo = 0
    for hi in DISTANCE_BINS:
        if d <= hi:
            return f"{lo}-{hi}"
        lo = hi + 1
    return f">{DISTANCE_BINS[-1]}"


class RecordingStarts(pr.SnapshotStarts):
    """:class:`pretraining_report.SnapshotStarts` whose records also hold the start's target view and distance, the
    daylight, how the episode ended (``success``, ``death``, ``horizon``), crafter's death cause, and at a
    ``horizon`` end whether the link's requirements were still held and the target distance then. Plays the same
    episodes as its base class (it only reads the env)."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self._start = {"in_view": target_in_view(self._env, self.achievement),
                       "distance": target_distance(self._env, self.achievement),
                       "daylight": round(float(info["daylight"]), 3)}
        self._track = {"came_next_to_target": next_to_target(self._env, self.achievement), "at_target_steps": 0,
                       "key_action_at_target": 0, "first_actions": []}
        return obs, info

    def step(self, action):
        from tasks.crafter.env import ACTION_NAMES

        n = len(self.records)
        track, name = self._track, ACTION_NAMES[int(action)]
        if len(track["first_actions"]) < FIRST_ACTIONS:
            track["first_actions"].append(name)
        if at_target(self._env, self.achievement):
            track["at_target_steps"] += 1
            track["key_action_at_target"] += name == key_action(self.achievement)
        out = super().step(action)
        if len(self.records) == n:
            track["came_next_to_target"] = track["came_next_to_target"] or next_to_target(self._env, self.achievement)
        else:
            info = out[4]
            rec = self.records[-1]
            end = "success" if rec["success"] else "death" if info.get("dead") else "horizon"
            rec.update(self._start, **track, end=end, death_cause=info.get("death_cause"))
            if end == "horizon":
                need = pr.requirements(self.achievement)
                rec["requirements_held"] = all(info["inventory"].get(k, 0) >= v for k, v in need.items())
                rec["end_distance"] = target_distance(self._env, self.achievement)
        return out


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per-arm summary of :class:`RecordingStarts` records (module docstring)."""
    def rate(rs) -> dict[str, Any]:
        k = sum(bool(r["success"]) for r in rs)
        return {"successes": k, "starts": len(rs), "success": round(k / len(rs), 4) if rs else None}

    ends = Counter(r["end"] if r["end"] != "death" else f"death:{r['death_cause']}" for r in records)
    by_view = {label: rate([r for r in records if r["in_view"] is flag])
               for label, flag in (("in_view", True), ("out_of_view", False))}
    bins = [distance_bin(r["distance"]) for r in records]
    by_distance = {b: rate([r for r, rb in zip(records, bins) if rb == b]) for b in sorted(set(bins))}
    by_light = {}
    for _, label in DAYLIGHT_BINS:
        rs = [r for r in records if daylight_bin(r["daylight"]) == label]
        if rs:
            deaths = sum(r["end"] == "death" for r in rs)
            by_light[label] = {**rate(rs), "deaths": deaths, "death_share": round(deaths / len(rs), 4)}
    timeouts = [r for r in records if r["end"] == "horizon"]
    nearer = [r for r in timeouts if r["distance"] is not None and r["end_distance"] is not None]
    going = [r for r in records if r["steps"] > EARLY_STEPS]  # neither succeeded nor died by then
    failed = [r for r in records if not r["success"]]
    reached = [r for r in failed if r["at_target_steps"] > 0]
    return {**rate(records), "ends": dict(sorted(ends.items(), key=lambda kv: (-kv[1], kv[0]))),
            "early": {"env_steps": EARLY_STEPS,
                      "successes": sum(bool(r["success"]) and r["steps"] <= EARLY_STEPS for r in records),
                      "deaths": sum(r["end"] == "death" and r["steps"] <= EARLY_STEPS for r in records)},
            "later": rate(going),
            "failures": {"episodes": len(failed),
                         "came_next_to_a_target": sum(r["came_next_to_target"] for r in failed),
                         "at_a_target": len(reached),
                         "median_steps_at_it": float(np.median([r["at_target_steps"] for r in reached]))
                         if reached else None,
                         "key_actions_at_it": sum(r["key_action_at_target"] for r in reached)},
            "by_target_in_view": by_view, "by_distance": by_distance, "by_start_daylight": by_light,
            "timeouts": {"episodes": len(timeouts),
                         "requirements_held": (round(float(np.mean([r["requirements_held"] for r in timeouts])), 4)
                                               if timeouts else None),
                         "ended_nearer_a_target": (round(float(np.mean([r["end_distance"] < r["distance"]
                                                                         for r in nearer])), 4)
                                                   if nearer else None)},
            "median_start_distance": (float(np.median([r["distance"] for r in records if r["distance"] is not None]))
                                      if any(r["distance"] is not None for r in records) else None)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--report", default="bench/results/pretraining.json",
                   help="the report whose test starts and best codes are followed (its competence measured on test "
                        "starts: bench/pretraining_report.py since session 37)")
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the models (must be the report's: checked by model_md5)")
    p.add_argument("--achievements", nargs="+", default=None,
                   help="links to follow (default: every competence link of the report)")
    p.add_argument("--n_envs", type=int, default=8, help="envs stepped together (the report's default: 8)")
    p.add_argument("--out", default="bench/results/competence_failures.json", help="result JSON")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    pr.check_flags(p, args, positive=("n_envs",), files=("report", "highlevel_config"), json_out=("out",))
    report, links = pr.read_report_links(p, args.report, args.achievements, test_starts=True)
    comp = report["competence"]

    import torch

    from steve1.utils.io import atomic_write_json
    from VPT.lib.loading import load_model_config

    torch.set_num_threads(1)
    cfg = pr.report_config(p, report, args.highlevel_config, args.n_envs)
    counts, test_seed = report["counts"], int(report["test_seed"])
    size = int(load_model_config(cfg.in_model)[0]["img_shape"][0])
    horizon = int(counts["horizon"])
    from goal_prior.codebook import KMeansCodebook

    codes = np.asarray(KMeansCodebook(cfg.codebook).codes, np.float32)
    t0 = time.time()
    out: dict[str, Any] = {
        "command": "python bench/competence_failures.py " + " ".join(
            map(shlex.quote, sys.argv[1:] if argv is None else argv)),
        "report": args.report, "model_md5": report["model_md5"], "test_seed": test_seed,
        "test_episodes": counts["test_episodes"], "horizon": horizon, "cond_scale": cfg.cond_scale,
        "distance_bins": list(DISTANCE_BINS), "links": {}, "complete": False}
    with tempfile.TemporaryDirectory(prefix="competence_failures_") as tmp:
        ep_dir = os.path.join(tmp, "episodes")
        os.makedirs(ep_dir)
        dirs = pr.generate_player_episodes(ep_dir, test_seed, int(counts["test_episodes"]),
                                           int(counts["max_episode_len"]), size)
        for a in links:
            c = comp[a]
            starts, origin, kind = pr.next_link_starts(dirs, a, int(counts["test_worlds"]), test_seed, size)
            if [(o["world_seed"], o["frame"]) for o in origin] != [(o["world_seed"], o["frame"]) for o in c["starts"]]:
                raise RuntimeError(f"{a}: the rebuilt test starts differ from the report's")
            goals = np.concatenate([codes[int(c["best_code"])][None], np.zeros((1, codes.shape[1]), np.float32)])
            best, zero = pr.run_goals_from_starts(cfg, goals, starts, a, horizon, len(starts), args.n_envs, tmp,
                                                  f"{a} test", test_seed, starts_env=RecordingStarts)
            entry = {"best_code": int(c["best_code"]), "start": kind, "starts": len(starts),
                     "teacher_within_horizon": c.get("teacher_within_horizon"),
                     "arms": {"best_code": summarize(best), "zero": summarize(zero)},
                     "records": {"best_code": best, "zero": zero}}
            for arm, key in (("best_code", "success"), ("zero", "unconditional_success")):
                if entry["arms"][arm]["success"] != c[key]:
                    raise RuntimeError(f"{a} {arm}: success {entry['arms'][arm]['success']} differs from the "
                                       f"report's {c[key]}: not the report's episodes")
            out["links"][a] = entry
            out["seconds_so_far"] = round(time.time() - t0, 1)
            atomic_write_json(args.out, out)
            print(a, {arm: (v["success"], v["ends"], v["by_target_in_view"]) for arm, v in entry["arms"].items()},
                  flush=True)
    out.pop("seconds_so_far", None)
    out["complete"], out["seconds"] = True, round(time.time() - t0, 1)
    atomic_write_json(args.out, out)
    return out


if __name__ == "__main__":
    from steve1.utils.checks import run_main

    run_main("competence_failures.py", main)
