"""Crafter task survey: how far a task's materials lie from the spawn, and how long a random agent survives.

    python bench/crafter_task_survey.py --task crafter_iron --worlds 300 --random_episodes 24

Two facts that bound what any agent can reach within a Crafter task, measured without a model:

* **Distance**: over ``--worlds`` world seeds (0, 1, ...), the L1 distance in tiles from the player's spawn to the
  nearest tile of each material in ``--materials`` (e.g. iron, which lies in the tunnels of mountain areas), read from
  the world map right after ``reset``. One tile is one env step of walking, so this is a lower bound on the env steps
  to the material, before any mining or detours.
* **Survival**: episode lengths (env steps) of a uniform-random policy over the 17 actions, and of the same policy
  without ``sleep`` (a sleeping player takes 7 damage per zombie hit instead of 2), from the task's start state
  (its initial inventory, its episode limit, ending on death or success), on worlds 0, 1, ... Learned agents that die
  as early as these have not learned to survive. ``death_causes`` counts what killed the player
  (``tasks.crafter.env.death_cause``: lava, zombie, arrow, or the necessity that ran out).

Writes ``--out`` (default ``bench/results/crafter_task_survey_<task>.json``) and prints it. Raises ``ValueError`` for a
non-Crafter task or a material Crafter does not have. Uses no torch; a few seconds per 100 worlds (numba installed).
"""
from __future__ import annotations

import argparse
import collections
import json

import numpy as np



def nearest_distances(env, materials: list[str]) -> dict[str, int | None]:
    """L1 distance (tiles) from the player to the nearest tile of each material in the current world, or None when
    the world has none. ``env``: a reset :class:`tasks.crafter.env.CrafterEnv`."""
    world = env.crafter_env._world
    ids = {name: idx for idx, name in world._mat_names.items()}
    unknown = [m for m in materials if m not in ids]
    if unknown:
        raise ValueError(f"unknown Crafter materials {unknown}; known: {sorted(n for n in ids if n)}")
    pos = np.asarray(env.crafter_env._player.pos)
    out = {}
    for name in materials:
        tiles = np.argwhere(world._mat_map == ids[name])
        out[name] = int(np.abs(tiles - pos).sum(1).min()) if len(tiles) else None
    return out


def random_episodes(task: str, episodes: int, no_sleep: bool, seed: int) -> tuple[list[int], list[bool], list]:
    """Env steps, task success and death cause (``info["death_cause"]``, None if the player lived) of ``episodes``
    episodes of a uniform-random policy (without ``sleep`` if ``no_sleep``) in the task env, on worlds
    0..episodes-1."""
    import crafter

    import tasks

    actions = list(range(len(crafter.constants.actions)))
    if no_sleep:
        actions.remove(crafter.constants.actions.index("sleep"))
    rng = np.random.default_rng(seed)
    env = tasks.make(task)
    lengths, successes, causes = [], [], []
    for world in range(episodes):
        env.reset(options={"world_seed": world})
        t, done, info = 0, False, {}
        while not done:
            _, _, terminated, truncated, info = env.step(int(rng.choice(actions)))
            t += 1
            done = terminated or truncated
        lengths.append(t)
        successes.append(bool(info.get("success")))
        causes.append(info.get("death_cause"))
    env.close()
    return lengths, successes, causes


def _stats(lengths: list[int], successes: list[bool], causes: list) -> dict:
    v = np.asarray(lengths, float)
    dead = collections.Counter(c for c in causes if c is not None)
    return {"median_length": float(np.median(v)), "mean_length": round(float(v.mean()), 1), "min_length": int(v.min()),
            "max_length": int(v.max()), "success_rate": round(float(np.mean(successes)), 3),
            "death_causes": dict(dead.most_common())}


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (an unknown or non-Crafter task, an unknown material, a count
    out of range, an unusable ``--out``) ends the program with one line on stderr naming the flag, and exit code 2,
    before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("crafter_task_survey.py", lambda: _main(argv))


def _main(argv) -> dict:
    from steve1.utils.checks import Range, check_output_path, check_ranges, check_value
    from steve1.utils.cli import UsageError

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--task", default="crafter_iron", help="a Crafter task of tasks/task_specs.yaml")
    p.add_argument("--worlds", type=int, default=300, help="world seeds surveyed for distances")
    p.add_argument("--materials", nargs="+", default=["tree", "water", "stone", "coal", "iron", "diamond"])
    p.add_argument("--radii", type=int, nargs="+", default=[10, 15, 20, 30], help="report P(distance <= r)")
    p.add_argument("--random_episodes", type=int, default=24, help="random-policy episodes per variant")
    p.add_argument("--seed", type=int, default=0, help="seed of the random policy")
    p.add_argument("--out", default=None, help="JSON (default bench/results/crafter_task_survey_<task>.json)")
    args = p.parse_args(argv)
    check_ranges(args, {"worlds": Range(int, lo=1, note="world seeds"),
                        "random_episodes": Range(int, lo=1, note="episodes per variant"), "seed": Range(int, lo=0)})
    for r in args.radii:
        check_value(r, "radii", Range(int, lo=0, note="tiles"))
    out = args.out or f"bench/results/crafter_task_survey_{args.task}.json"
    check_output_path(out, "--out")
    import tasks

    try:
        spec = tasks.get_specs(args.task)
    except KeyError as e:
        raise UsageError(f"--task {args.task}: {e.args[0] if e.args else e}") from e
    if spec.get("sim") != "crafter":
        raise UsageError(f"--task {args.task}: sim is {spec.get('sim')!r} in tasks/task_specs.yaml, expected a "
                         f"'crafter' task")
    env = tasks.make(args.task)
    dists: dict[str, list] = {m: [] for m in args.materials}
    for world in range(args.worlds):
        env.reset(options={"world_seed": world})
        try:
            distances = nearest_distances(env, args.materials)
        except ValueError as e:  # unknown material names
            raise UsageError(f"--materials: {e}") from e
        for name, d in distances.items():
            dists[name].append(d)
    env.close()
    distance = {}
    for name, values in dists.items():
        present = [d for d in values if d is not None]
        distance[name] = {"worlds_with_it": round(len(present) / len(values), 3),
                          **({"median_tiles": float(np.median(present))} if present else {}),
                          **{f"p_within_{r}": round(float(np.mean([d is not None and d <= r for d in values])), 3)
                             for r in args.radii}}
    survival = {variant: _stats(*random_episodes(args.task, args.random_episodes, variant == "random_no_sleep",
                                                 args.seed))
                for variant in ("random", "random_no_sleep")}
    result = {"task": args.task, "worlds": args.worlds, "distance_from_spawn_l1": distance,
              "random_policy": survival, "random_episodes": args.random_episodes,
              "max_env_steps": (spec.get("terminal_specs") or {}).get("max_steps")}
    from steve1.utils.io import atomic_write_json

    atomic_write_json(out, result, indent=1)
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
