"""A task's benchmark score (e.g. the Crafter score) of runs at several env-step budgets, from their episode logs.

The benchmark protocol (e.g. Crafter's: success rate of each achievement over all training episodes) is applied to
the episodes a run finished within each budget: the episodes of ``<run dir>/episodes.jsonl`` in the order they were
written, while the running sum of their lengths stays within the budget (env steps). With ``n_envs`` parallel envs
this cut is approximate: it drops the episodes still running at the budget (at most ``n_envs`` episodes, about
``n_envs`` x the median length env steps), the same way for every run. Used to compare two runs at an equal budget
(e.g. the flat PPO recipe at two network widths, issue 19), and to give a score curve of one run::

    python bench/score_by_budget.py --task crafter_score \\
        --runs ppo_8-16-16=results/bench/crafter_score/ppo/seed1 ppo_16-32-32=results/bench_ppo_w16/crafter_score/ppo/seed1 \\
        --budgets 100000 200000 --out bench/results/flat_ppo_width.json

A run is a run directory, or a folder whose newest sub-directory holding ``episodes.jsonl`` is taken. The simulator's
score function comes from its plugin (``tasks.get_plugin(sim).benchmark_score``), found by the task spec's ``sim``.
Output: a JSON file (the command; per run its training speed in env steps per wall-clock second, from
``stats.csv``, and per budget the score, episodes and success rates in %).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from steve1.utils.cli import UsageError, fail
from steve1.utils.io import atomic_write_text

# the run files' readers: bench/efficiency_report.py (``python bench/x.py`` puts bench/ on the module path)
from efficiency_report import read_episodes, read_rows

__all__ = ["find_run_dir", "episodes_within", "run_env_steps", "training_speed", "score_by_budget", "main"]


def find_run_dir(path: Path) -> Path:
    """``path`` itself when it holds ``episodes.jsonl``, else its newest sub-directory (any depth) that does.

    Raises:
        UsageError: no ``episodes.jsonl`` under ``path``.
    """
    if (path / "episodes.jsonl").is_file():
        return path
    found = sorted(path.glob("**/episodes.jsonl"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise UsageError(f"--runs: no episodes.jsonl in or under {path}")
    return found[-1].parent


def episodes_within(episodes: Sequence[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The leading episodes whose lengths (env steps) sum to at most ``budget``."""
    out, total = [], 0
    for e in episodes:
        total += int(e["length"])
        if total > budget:
            break
        out.append(e)
    return out


def run_env_steps(run_dir: Path, episodes: Sequence[dict[str, Any]]) -> int:
    """The env steps a run trained for: the last ``env_steps`` of its ``stats.csv``, else the sum of its finished
    episodes' lengths."""
    rows = read_rows(run_dir / "stats.csv")
    if rows and rows[-1].get("env_steps"):
        return int(float(rows[-1]["env_steps"]))
    return sum(int(e["length"]) for e in episodes)


def training_speed(run_dir: Path) -> Optional[float]:
    """Env steps per wall-clock second while training, between the first and the last row of ``stats.csv``
    (columns ``env_steps``, ``wall_time``), or None without two rows."""
    rows = [r for r in read_rows(run_dir / "stats.csv") if r.get("env_steps") and r.get("wall_time")]
    if len(rows) < 2:
        return None
    steps = float(rows[-1]["env_steps"]) - float(rows[0]["env_steps"])
    seconds = float(rows[-1]["wall_time"]) - float(rows[0]["wall_time"])
    return round(steps / seconds, 1) if seconds > 0 else None


def score_by_budget(task: str, run_dir: Path, budgets: Sequence[int]) -> dict[str, Any]:
    """``{"run_dir", "episodes_total", "env_steps_total", "env_steps_per_s" (:func:`training_speed`), "by_budget":
    {budget: benchmark result or None}}``; a budget
    beyond the env steps the run trained (:func:`run_env_steps`) gives None (not scored: the run did not get there).

    Raises:
        UsageError: the task's simulator has no benchmark score.
    """
    import tasks

    spec = tasks.get_specs(task)
    score_fn = getattr(tasks.get_plugin(spec["sim"]), "benchmark_score", None)
    if score_fn is None or not spec.get("benchmark_score"):
        raise UsageError(f"--task {task}: the task spec does not set benchmark_score: true")
    episodes = read_episodes(run_dir / "episodes.jsonl")
    total = run_env_steps(run_dir, episodes)
    by_budget: dict[str, Any] = {}
    for b in budgets:
        kept = episodes_within(episodes, b)
        by_budget[str(b)] = score_fn(kept) if kept and total >= b else None
    return {"run_dir": str(run_dir), "episodes_total": len(episodes), "env_steps_total": total,
            "env_steps_per_s": training_speed(run_dir), "by_budget": by_budget}


def build_parser() -> argparse.ArgumentParser:
    """The command line (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, help="a task of tasks/task_specs.yaml with benchmark_score: true")
    p.add_argument("--runs", nargs="+", required=True, metavar="LABEL=DIR",
                   help="runs to score: label=run directory (or a folder above it)")
    p.add_argument("--budgets", nargs="+", type=int, required=True, help="env-step budgets")
    p.add_argument("--out", required=True, help="JSON file to write")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Score every run at every budget, write ``--out`` (atomically) and print one line per run; a bad flag or run
    folder ends with one line and exit code 2, before anything is written."""
    args = build_parser().parse_args(argv)
    try:
        runs = {}
        for item in args.runs:
            label, sep, where = item.partition("=")
            if not sep or not label or not where:
                raise UsageError(f"--runs: expected LABEL=DIR, got {item!r}")
            runs[label] = find_run_dir(Path(where))
        if any(b < 1 for b in args.budgets):
            raise UsageError(f"--budgets: env steps must be >= 1, got {args.budgets}")
        result = {"command": "python bench/score_by_budget.py " + " ".join(
                      shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
                  "task": args.task,
                  "cut": "episodes in log order while the sum of their lengths stays within the budget",
                  "runs": {label: score_by_budget(args.task, d, args.budgets) for label, d in runs.items()},
                  "updated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    except (UsageError, KeyError) as exc:
        fail("bench/score_by_budget.py", exc)
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    for label, r in result["runs"].items():
        scores = {b: (None if v is None else v["score"]) for b, v in r["by_budget"].items()}
        print(f"{label}: {scores}")
    return result


if __name__ == "__main__":
    main()
