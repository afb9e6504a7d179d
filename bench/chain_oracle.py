"""Could any goal prior drive the shipped low level along a task's chain? An oracle high level (issue 18).

    python bench/chain_oracle.py --tasks crafter_iron crafter_stone_pickaxe --episodes 200 \
        --out bench/results/chain_oracle/chain_oracle.json

Issue 18 asks codes drawn from the goal prior (no RL) to succeed on ``crafter_iron`` and ``crafter_stone_pickaxe``
at least as often as the unconditional low level (``bench/pretraining_report.py``, ``prior_driven_success``). This
bench replaces the prior by an oracle that knows the task's chain: before every high-level step (every
``low_level_steps`` env steps) it reads the env's true inventory and whether a table is at hand, names the
chain's next link (:func:`next_link`: wood, table, wood pickaxe, stone, stone pickaxe, iron) and gives the low level
that link's **best code** (``competence[link]["best_code"]`` of ``--competence_json``, default the shipped models'
``bench/results/pretraining.json``: the code that reached the link most often from the states where the scripted
player chose it; ``--link_code LINK=CODE`` sets another). A prior can hardly pick better codes for the chain than
the code that best reaches each link, so if this oracle does not beat the zero goal, the prior-driven figure is
limited by how the low level follows codes, not by the prior. Arms: ``oracle`` and ``zero`` (the unconditional low level); the same worlds (``--seed`` + j) and
protocol as the report's figure (:func:`pretraining_report.play_episodes`).

Three more arms bound what a high level can gain on a task from where its RL starts: ``uniform`` draws a code
uniformly from the codebook every high-level step (PTGM's high level before any update, which starts uniform; draws
from a NumPy generator seeded with ``--seed``), ``prior`` draws it from the goal prior (the report's prior-driven
figure; a high level initialised with the prior), and ``fixed`` holds each code of ``--fixed_codes`` for whole
episodes (one arm ``code_<C>`` per code): a high level that learnt only "always pick C" gets that code's rate.

The oracle reads the simulator's state (inventory, the map around the player) that the high level never sees: it is
a bound, not a method.

Written (``--out``, atomically): the command, the best codes, ``fixed_codes``, the codebook's size ``n_codes``, per
task and arm the success rate, median episode length and the fraction of episodes that unlocked each achievement,
and how often the oracle named each link. Bad flags (a fixed code outside the codebook, ``--arms fixed`` without
``--fixed_codes``) end with one line and exit code 2 before anything is played.

    python bench/chain_oracle.py --tasks crafter_coal --arms zero uniform prior fixed --fixed_codes 15 37 \
        --episodes 200 --out bench/results/benchmark_v7/coal/no_rl.json
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Mapping, Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: The links of the tasks' chain, in order (Crafter's tech tree to iron).
CHAIN = ("collect_wood", "place_table", "make_wood_pickaxe", "collect_stone", "make_stone_pickaxe", "collect_iron")


#: The arms (``--arms``; module docstring).
ARMS = ("oracle", "zero", "prior", "uniform", "fixed")


#: Tiles (Chebyshev) within which a table counts as at hand: crafting needs one within 1 (``world.nearby(pos, 1)``,
#: ``crafter/objects.py``); within 3 it is in the 9x7 view and the low level can step to it.
TABLE_REACH = 3


def next_link(inventory: Mapping[str, int], table_near: bool) -> Optional[str]:
    """The chain's next link from an inventory (Crafter's recipes, ``crafter/data.yaml``: a table uses 2 wood, a
    wood pickaxe 1 wood, a stone pickaxe 1 wood and 1 stone, both near a table; iron needs a stone pickaxe).

    Args:
        inventory: item -> count (``info["inventory"]``).
        table_near: a table lies within :data:`TABLE_REACH` tiles.
    Returns:
        One of :data:`CHAIN`, or None once the player holds iron (the chain is done).
    """
    inv = {k: int(v) for k, v in inventory.items()}
    wood = inv.get("wood", 0)
    if inv.get("iron", 0) > 0:
        return None
    if inv.get("stone_pickaxe", 0) > 0:
        return "collect_iron"
    has_wood_pickaxe = inv.get("wood_pickaxe", 0) > 0
    if has_wood_pickaxe and inv.get("stone", 0) < 1:
        return "collect_stone"
    craft = "make_stone_pickaxe" if has_wood_pickaxe else "make_wood_pickaxe"
    if table_near:
        return craft if wood >= 1 else "collect_wood"
    return "place_table" if wood >= 2 else "collect_wood"


def env_link(env) -> Optional[str]:
    """:func:`next_link` of a gymnasium env whose ``unwrapped`` is :class:`tasks.crafter.env.CrafterEnv`."""
    crafter_env = env.unwrapped.crafter_env
    player = crafter_env._player
    materials, _ = crafter_env._world.nearby(player.pos, TABLE_REACH)
    return next_link(player.inventory, "table" in materials)


def best_codes(competence: Mapping[str, Any]) -> dict[str, int]:
    """``{link: best code}`` of the chain's links from a report's ``competence`` section.

    Raises:
        ValueError: a link of :data:`CHAIN` is missing (names it).
    """
    missing = [a for a in CHAIN if a not in competence or competence[a].get("best_code") is None]
    if missing:
        raise ValueError(f"competence has no best_code for {', '.join(missing)}")
    return {a: int(competence[a]["best_code"]) for a in CHAIN}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--highlevel_config", default="configs/crafter/highlevel.yaml",
                   help="high-level config naming the low level, codebook, cond_scale, low_level_steps")
    p.add_argument("--competence_json", default="bench/results/pretraining.json",
                   help="a pretraining report whose competence section gives each link's best code")
    p.add_argument("--link_code", nargs="+", default=[], metavar="LINK=CODE",
                   help="use CODE for LINK instead of its best code (e.g. make_wood_pickaxe=10)")
    p.add_argument("--tasks", nargs="+", default=["crafter_iron", "crafter_stone_pickaxe"])
    p.add_argument("--arms", nargs="+", choices=ARMS, default=["oracle", "zero"],
                   help="oracle: each link's best code; zero: the unconditional low level; prior: codes from the "
                        "goal prior; uniform: a uniform code every high-level step; fixed: each code of "
                        "--fixed_codes held for whole episodes")
    p.add_argument("--fixed_codes", type=int, nargs="+", default=[], metavar="CODE",
                   help="the codes of the 'fixed' arm (indices into the config's codebook)")
    p.add_argument("--episodes", type=int, default=200, help="episodes per task and arm")
    p.add_argument("--cond_scale", type=float, default=None, help="classifier-free guidance (default: the config's)")
    p.add_argument("--n_envs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=9001, help="episode j is played in world seed + j")
    p.add_argument("--out", default="bench/results/chain_oracle/chain_oracle.json")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict:
    import json

    import torch

    from goal_prior.codebook import read_codebook_file
    from hierarchical_throughput import task_config
    from pretraining_report import _achievement_rates, play_episodes
    from steve1.utils.io import atomic_write_json

    p = build_parser()
    args = p.parse_args(argv)
    if args.episodes < 1 or args.n_envs < 1 or args.threads < 1:
        p.error("--episodes, --n_envs and --threads must be >= 1")
    if ("fixed" in args.arms) != bool(args.fixed_codes):
        p.error("--arms fixed and --fixed_codes go together")
    if not os.path.isfile(args.competence_json):
        p.error(f"--competence_json {args.competence_json}: no such file")
    with open(args.competence_json) as f:
        try:
            codes = best_codes(json.load(f).get("competence") or {})
        except ValueError as e:
            p.error(f"--competence_json {args.competence_json}: {e}")
    for item in args.link_code:
        link, _, code = item.partition("=")
        if link not in CHAIN or not code.isdigit():
            p.error(f"--link_code {item!r}: expected LINK=CODE with LINK one of {', '.join(CHAIN)}")
        codes[link] = int(code)
    torch.set_num_threads(args.threads)
    overrides = {"n_envs": args.n_envs, **({} if args.cond_scale is None else {"cond_scale": args.cond_scale})}
    base = task_config(args.tasks[0], overrides, args.highlevel_config)
    n_codes = len(read_codebook_file(base.codebook))
    bad = [c for c in args.fixed_codes if not 0 <= c < n_codes]
    if bad:
        p.error(f"--fixed_codes {' '.join(map(str, bad))}: the codebook {base.codebook} has codes 0-{n_codes - 1}")
    arms = [a for a in args.arms if a != "fixed"] + [f"code_{c}" for c in args.fixed_codes if "fixed" in args.arms]
    rng = np.random.default_rng(args.seed)
    result: dict[str, Any] = {"command": "python bench/chain_oracle.py " + " ".join(argv if argv is not None
                                                                                   else sys.argv[1:]),
                              "highlevel_config": args.highlevel_config, "competence_json": args.competence_json,
                              "best_codes": codes, "fixed_codes": args.fixed_codes, "n_codes": n_codes,
                              "cond_scale": base.cond_scale,
                              "low_level_steps": base.low_level_steps, "episodes": args.episodes,
                              "seed": args.seed, "tasks": {}}
    t0 = time.time()
    for task in args.tasks:
        cfg = task_config(task, overrides, args.highlevel_config)
        result["tasks"][task] = {}
        for arm in arms:
            named: Counter = Counter()

            def oracle(envs):
                links = [env_link(e) for e in envs]
                named.update(str(x) for x in links)
                # the chain done (iron held): the iron code is kept; the episode ends on success anyway
                return np.array([codes.get(x, codes["collect_iron"]) for x in links], np.int64)

            if arm in ("zero", "prior"):
                chooser = None
            elif arm == "oracle":
                chooser = oracle
            elif arm == "uniform":
                chooser = (lambda envs: rng.integers(0, n_codes, len(envs)).astype(np.int64))
            else:  # code_<C>
                chooser = (lambda envs, c=int(arm[5:]): np.full(len(envs), c, np.int64))
            with tempfile.TemporaryDirectory() as tmp:
                records = play_episodes(cfg, args.episodes, args.seed, arm if chooser is None else "chooser",
                                        args.n_envs, tmp, f"{task} {arm}", chooser=chooser)
            entry = {"success": round(float(np.mean([r["success"] for r in records])), 4),
                     "median_episode_length": float(np.median([r["length"] for r in records])),
                     "achievement_rates": _achievement_rates(records)}
            if arm == "oracle":
                total = sum(named.values())
                entry["links_named"] = {k: round(v / total, 4) for k, v in named.most_common()}
            result["tasks"][task][arm] = entry
            print(f"[chain_oracle] {task} {arm}: success {entry['success']}", flush=True)
    result["seconds"] = round(time.time() - t0, 1)
    atomic_write_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
