"""Did RL move the policy? Task success early and late in a benchmark round's runs, pooled over seeds.

For each run ``<runs_dir>/<task>/<method>/seed<k>`` of ``bench/sample_efficiency.py`` (its first ``run_*`` folder: a
resumed or extended run appends to it), the episodes of ``episodes.jsonl`` are placed on the env-step axis the way
``bench/score_by_budget.py`` cuts a run: in log order, by the running sum of their lengths (env steps). Only the
episodes within ``--max_env_steps`` are read, so a run extended past a budget is read at that budget. Per task and
method, pooled over seeds: the successes and episodes of the episodes that ended in the first ``--early`` env steps
and in the last ``--late`` env steps before ``--max_env_steps``, each with a Wilson 95% interval; and per seed the
rate over all its episodes read. A policy that RL improves has ``late`` above ``early``; one that RL degrades (e.g.
a behaviour-cloned policy whose head PPO moves off, ``--method bc_ppo``) has it below::

    python bench/early_late.py --runs_dir results/bench_v7_cs0 --out bench/results/benchmark_v7/early_late_200k.json

Beside the windows, ``ends`` says how those episodes ended and when, pooled over seeds (all episodes read): the
share ending in success, in each death cause (``death:<cause>``, ``tasks.crafter.env.death_cause``) or at the task's
step limit; the median length of the successes and of the others; the share of successes that came within each of
``--within`` env steps of the episode's start; and the share of all episodes still running after each of them. On
Crafter's long tasks this is where the ceiling of a high level's RL shows: an agent that dies in the first night
(env step ~180) can only succeed within it.

``welch`` compares every two methods of a task by Welch's t-test (``scipy.stats.ttest_ind``, unequal variances) on
their per-seed success rates over the episodes read: ``{task: {"<a> vs <b>": {"t", "p", "seeds": [n_a, n_b]}}}``,
for the pairs where both methods have at least two seeds with episodes.

With ``n_envs`` parallel envs the cut is approximate (the episodes still running at a window's edge fall on the
next side), the same way for every run. A bad flag, or a ``--runs_dir`` without runs, ends with one line and exit
code 2, before anything is written.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from steve1.utils.cli import UsageError, fail
from steve1.utils.io import atomic_write_text

# ``python bench/x.py`` puts bench/ on the module path
from efficiency_report import read_episodes
from score_by_budget import episodes_within

__all__ = ["wilson_interval", "select_runs", "filters_text", "early_late", "episode_ends", "welch_tests", "main"]


def wilson_interval(successes: int, n: int, z: float = 1.96) -> list[float]:
    """The Wilson score interval ``[low, high]`` of a success rate (``z`` 1.96: 95%); ``[0.0, 1.0]`` when ``n`` is 0.

    Raises:
        ValueError: ``successes`` not in ``[0, n]``.
    """
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not in [0, {n}]")
    if n == 0:
        return [0.0, 1.0]
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def _window(successes: int, n: int) -> dict[str, Any]:
    return {"successes": successes, "episodes": n, "rate": round(successes / n, 4) if n else None,
            "wilson95": wilson_interval(successes, n)}


def episode_ends(episodes: Sequence[dict[str, Any]], within: Sequence[int] = (200, 500)) -> dict[str, Any]:
    """How ``episodes`` (``episodes.jsonl`` lines: ``length`` in env steps, ``success``, ``end``, ``death_cause``)
    ended: ``{"episodes", "by_end": {"success" | "death:<cause>" | "limit": share}, "median_length_success",
    "median_length_other", "success_within": {"<n>": share of the successes with length <= n}, "alive_after":
    {"<n>": share of all episodes with length > n}}``; shares rounded to 4 places, medians None without episodes.
    A death with no recorded cause counts as ``death:unknown``.
    """
    n = len(episodes)
    counts: dict[str, int] = {}
    for ep in episodes:
        end = ep.get("end") or ("success" if ep.get("success") else "unknown")
        if end == "death":
            end = f"death:{ep.get('death_cause') or 'unknown'}"
        counts[end] = counts.get(end, 0) + 1
    hits = [int(ep["length"]) for ep in episodes if ep.get("success")]
    rest = [int(ep["length"]) for ep in episodes if not ep.get("success")]
    share = (lambda k, m: round(k / m, 4) if m else None)
    return {"episodes": n,
            "by_end": {k: share(v, n) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))},
            "median_length_success": float(statistics.median(hits)) if hits else None,
            "median_length_other": float(statistics.median(rest)) if rest else None,
            "success_within": {str(w): share(sum(h <= w for h in hits), len(hits)) for w in within},
            "alive_after": {str(w): share(sum(int(ep["length"]) > w for ep in episodes), n) for w in within}}


def welch_tests(result: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Welch's t-test between every two methods of each task of an :func:`early_late` result, on the per-seed
    success rates: ``{task: {"<a> vs <b>": {"t": float, "p": float, "seeds": [n_a, n_b]}}}`` (methods in sorted
    order, ``t`` positive when ``a``'s mean rate is higher; rounded to 4 places). Pairs where a method has fewer than
    two seeds with episodes, or where both have zero variance, are left out.
    """
    from scipy.stats import ttest_ind

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for task, methods in result.items():
        rates = {m: [s["rate"] for s in r["seeds"].values() if s["rate"] is not None] for m, r in methods.items()}
        names = sorted(m for m, v in rates.items() if len(v) >= 2)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                t, p = ttest_ind(rates[a], rates[b], equal_var=False)
                if math.isfinite(float(t)) and math.isfinite(float(p)):
                    out.setdefault(task, {})[f"{a} vs {b}"] = {"t": round(float(t), 4), "p": round(float(p), 4),
                                                             "seeds": [len(rates[a]), len(rates[b])]}
    return out


def select_runs(runs_dir: Path, seeds: Optional[Sequence[int]] = None, methods: Optional[Sequence[str]] = None,
                tasks: Optional[Sequence[str]] = None) -> list[Path]:
    """The run folders ``<runs_dir>/<task>/<method>/seed<k>`` of a ``bench/sample_efficiency.py`` round, sorted, of
    the ``seeds``, ``methods`` and ``tasks`` asked for (None: all of them); folders not named ``seed<k>`` are left
    out."""
    keep_seeds = None if seeds is None else {f"seed{k}" for k in seeds}
    return [r for r in sorted(runs_dir.glob("*/*/seed*"))
            if r.name[4:].isdigit() and (keep_seeds is None or r.name in keep_seeds)
            and (methods is None or r.parent.name in methods) and (tasks is None or r.parent.parent.name in tasks)]


def filters_text(seeds: Optional[Sequence[int]] = None, methods: Optional[Sequence[str]] = None,
                 tasks: Optional[Sequence[str]] = None) -> str:
    """The filters given, for an error line: e.g. ``" of --seeds 7 of --methods ppo"`` ("" when none)."""
    return ((f" of --seeds {' '.join(map(str, seeds))}" if seeds is not None else "")
            + (f" of --methods {' '.join(methods)}" if methods is not None else "")
            + (f" of --tasks {' '.join(tasks)}" if tasks is not None else ""))


def early_late(runs_dir: Path, max_env_steps: int, early: int, late: int,
               seeds: Optional[Sequence[int]] = None, within: Sequence[int] = (200, 500),
               methods: Optional[Sequence[str]] = None, tasks: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """``{task: {method: {"early": window, "late": window, "ends": episode_ends(...), "seeds": {"seed<k>":
    {"successes", "episodes", "rate", "env_steps_read"}}}}}``, a window being ``{"successes", "episodes", "rate",
    "wilson95"}`` (module docstring), ``ends`` over every episode read (:func:`episode_ends` with ``within``, env
    steps); only the runs of ``seeds``, ``methods`` and ``tasks`` (None: all of them).

    Raises:
        UsageError: no ``<task>/<method>/seed<k>/run_*/episodes.jsonl`` under ``runs_dir`` (of the ``seeds``,
            ``methods`` and ``tasks`` asked for).
    """
    found = [(root, sorted(root.glob("run_*/episodes.jsonl"))) for root in select_runs(runs_dir, seeds, methods, tasks)]
    found = [(root, files[0]) for root, files in found if files]
    if not found:
        raise UsageError(f"--runs_dir {runs_dir}: no <task>/<method>/seed<k>/run_*/episodes.jsonl"
                         + filters_text(seeds, methods, tasks))
    counts: dict[str, dict[str, dict[str, Any]]] = {}
    late_from = max_env_steps - late
    for root, path in found:
        task, method = root.parent.parent.name, root.parent.name
        c = counts.setdefault(task, {}).setdefault(method, {"early": [0, 0], "late": [0, 0], "seeds": {},
                                                            "episodes": []})
        t, seed_hits, kept = 0, 0, episodes_within(read_episodes(path), max_env_steps)
        c["episodes"].extend(kept)
        for ep in kept:
            t += int(ep["length"])
            hit = bool(ep.get("success"))
            seed_hits += hit
            for name, inside in (("early", t <= early), ("late", t > late_from)):
                if inside:
                    c[name][0] += hit
                    c[name][1] += 1
        c["seeds"][root.name] = {"successes": seed_hits, "episodes": len(kept),
                                 "rate": round(seed_hits / len(kept), 4) if kept else None, "env_steps_read": t}
    return {task: {method: {"early": _window(*c["early"]), "late": _window(*c["late"]),
                            "ends": episode_ends(c["episodes"], within), "seeds": c["seeds"]}
                   for method, c in methods.items()} for task, methods in counts.items()}


def build_parser() -> argparse.ArgumentParser:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs_dir", required=True, help="the --runs_dir of a bench/sample_efficiency.py round")
    p.add_argument("--max_env_steps", type=int, default=200_000, help="read each run up to this many env steps")
    p.add_argument("--early", type=int, default=20_000,
                   help="early window: episodes ended in the first EARLY env steps")
    p.add_argument("--late", type=int, default=50_000,
                   help="late window: episodes ended in the last LATE env steps before --max_env_steps")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="only these seeds' runs (default: all)")
    p.add_argument("--methods", nargs="+", default=None, help="only these methods' runs (default: all)")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks' runs (default: all)")
    p.add_argument("--within", type=int, nargs="+", default=[200, 500],
                   help="env steps from an episode's start at which 'ends' counts successes so far and episodes "
                        "still running")
    p.add_argument("--out", required=True, help="JSON file to write (atomically)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Measure, write ``--out`` and print one line per task and method."""
    args = build_parser().parse_args(argv)
    try:
        for flag, value in (("--early", args.early), ("--late", args.late)):
            if not 0 < value <= args.max_env_steps:
                raise UsageError(f"{flag} {value}: expected env steps in (0, --max_env_steps {args.max_env_steps}]")
        if any(w <= 0 for w in args.within):
            raise UsageError(f"--within {' '.join(map(str, args.within))}: expected positive env steps")
        if Path(args.out).is_dir():
            raise UsageError(f"--out {args.out}: is a folder, expected a JSON file path")
        res = early_late(Path(args.runs_dir), args.max_env_steps, args.early, args.late, args.seeds, args.within,
                         args.methods, args.tasks)
        result = {"command": "python bench/early_late.py " + " ".join(
                      shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
                  "runs_dir": args.runs_dir, "max_env_steps": args.max_env_steps, "early": args.early,
                  "late": args.late, "seeds": args.seeds, "methods": args.methods, "tasks": args.tasks,
                  "within": args.within,
                  "cut": "episodes in log order, placed at the running sum of their lengths (env steps)",
                  "result": res, "welch": welch_tests(res),
                  "updated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    except UsageError as exc:
        fail("bench/early_late.py", exc)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    for task, methods in result["result"].items():
        for method, r in methods.items():
            e, l = r["early"], r["late"]
            print(f"{task:24s} {method:16s} early {e['rate']} ({e['episodes']} episodes)  late {l['rate']} "
                  f"({l['episodes']} episodes)  per seed "
                  + " ".join(f"{s}: {v['rate']}" for s, v in sorted(r["seeds"].items())))
    return result


if __name__ == "__main__":
    main()
