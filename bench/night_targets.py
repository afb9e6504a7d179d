"""Where does the scripted player walk at night, and could a low level with a bounded memory know? (issue 18)

    python bench/night_targets.py --episodes 40 --out bench/results/night_dagger/night_targets.json
    python bench/night_targets.py --episodes 1 --max_steps 200 --out /tmp/t.json       # a smoke run

Why: on the player's own night states the low level follows the player's moves only ~28% of the time
(``bench/teacher_agreement.py``, ``by_teacher_action_night``; section "DAgger on the first night" of
``bench/results/README.md``). One reason would be that the player walks to places the low level cannot know: the
player plans over its memory of every tile it has seen, the low level remembers its last ``--memory`` frames (160 for
the shipped low level, ``T`` in ``configs/crafter/steve1.yaml``).

The scripted player (:class:`tasks.crafter.scripted_player.ScriptedPlayer`) plays held-out worlds ``--seed + j``
(empty inventory, player seed = world seed: the teacher condition of ``bench/teacher_agreement.py``) until death or
``--max_steps``. At every night step (daylight below 0.5, as the agreement bench counts night) whose action is a
move along a planned path (:attr:`~tasks.crafter.player.navigation.Navigation.nav_target` set, not a random action),
the destination tile's age is read from the player's memory (``MemoryMap.seen_at``): the env steps since that tile
was last inside the agent's 9x7 view, 0 when it is in view now. Reported (``--out``, written atomically): the number
of such steps, the share of the night's awake non-random moves they make up, the share of destinations in view now,
seen within the last ``--memory`` steps, seen longer ago, and never seen, overall and by the player's sub-goal; the distance
(L1, tiles) to the destination; the command.
"""
from __future__ import annotations

import argparse
import collections
import shlex
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np


def play(world: int, max_steps: int) -> list[dict[str, Any]]:
    """One episode of the player in world ``world``; per night step that is a move along a planned path:
    ``{"age", "distance", "subgoal"}``; per other awake non-random night move ``{"age": None, ...}``."""
    from tasks.crafter.env import CrafterEnv
    from tasks.crafter.player.rules import MOVES
    from tasks.crafter.scripted_player import ScriptedPlayer

    env = CrafterEnv(max_steps=max_steps)
    _, info = env.reset(options={"world_seed": int(world)})
    player = ScriptedPlayer(seed=int(world))
    player.reset(env, info)
    moves = set(MOVES.values())
    out = []
    while True:
        night = float(info["daylight"]) < 0.5
        awake = not bool(info["sleeping"])
        action = player.act(info)
        if night and awake and not player.random_action and action in moves:
            target = player.nav_target
            if target is None:
                out.append({"age": None, "distance": None, "subgoal": player.subgoal})
            else:
                seen = int(player.memory.seen_at[target])
                out.append({"age": (player.step - 1) - seen if seen >= 0 else None,
                            "distance": abs(target[0] - player.pos[0]) + abs(target[1] - player.pos[1]),
                            "subgoal": player.subgoal, "path": True})
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            return out


def summarize(steps: list[dict[str, Any]], memory: int) -> dict[str, Any]:
    """Shares of the path moves by the destination's age: in view now (0), within ``memory`` env steps, older, never
    seen (a path is planned over remembered tiles only, so this share should be 0; it is counted, not dropped)."""
    path = [s for s in steps if s.get("path")]

    def shares(rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {"steps": 0}
        never = np.array([s["age"] is None for s in rows])
        ages = np.array([-1 if s["age"] is None else s["age"] for s in rows])
        seen = ages[~never]
        return {"steps": len(rows), "in_view_now": round(float(np.mean(ages == 0)), 4),
                "seen_within_memory": round(float(np.mean((ages > 0) & (ages <= memory))), 4),
                "seen_longer_ago": round(float(np.mean(ages > memory)), 4),
                "never_seen": round(float(np.mean(never)), 4),
                "median_age": float(np.median(seen)) if seen.size else None,
                "median_distance": float(np.median([s["distance"] for s in rows]))}

    by_subgoal: dict[str, list] = collections.defaultdict(list)
    for s in path:
        by_subgoal[s["subgoal"]].append(s)
    return {"night_moves": len(steps), "path_moves": len(path),
            "path_share": round(len(path) / len(steps), 4) if steps else None,
            **shares(path),
            "by_subgoal": {k: shares(v) for k, v in sorted(by_subgoal.items(), key=lambda kv: -len(kv[1]))}}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--episodes", type=int, default=40, help="held-out worlds")
    p.add_argument("--seed", type=int, default=9001, help="first world seed (and player seed)")
    p.add_argument("--max_steps", type=int, default=320, help="env steps after which an episode ends (320: morning)")
    p.add_argument("--memory", type=int, default=160, help="the low level's memory, frames (env steps)")
    p.add_argument("--out", default="bench/results/night_dagger/night_targets.json", help="result JSON")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    p = build_parser()
    args = p.parse_args(argv)
    from pretraining_report import check_flags

    check_flags(p, args, positive=("episodes", "max_steps", "memory"), non_negative=("seed",), json_out=("out",))
    from tqdm import tqdm

    from steve1.utils.checks import run_main
    from steve1.utils.io import atomic_write_json

    command = "python bench/night_targets.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def body() -> dict[str, Any]:
        t0 = time.time()
        steps = []
        for j in tqdm(range(args.episodes), desc="night targets", unit="episode", dynamic_ncols=True):
            steps.extend(play(args.seed + j, args.max_steps))
        result = {"command": command.strip(), "episodes": args.episodes, "seed": args.seed,
                  "max_steps": args.max_steps, "memory": args.memory, **summarize(steps, args.memory),
                  "seconds": round(time.time() - t0, 1)}
        atomic_write_json(args.out, result)
        print({k: v for k, v in result.items() if k != "by_subgoal"})
        return result

    return run_main("night_targets.py", body)


if __name__ == "__main__":
    main()
