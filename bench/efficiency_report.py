"""Statistics and report of the sample-efficiency benchmark (``bench/sample_efficiency.py``, which runs it).

Reads the run folders ``<runs_dir>/<task>/<method>/seed<k>/run_<time>/`` (``stats.csv``, ``episodes.jsonl``,
``config.yaml``, ``results.json``) and writes, in ``out_dir``: ``sample_efficiency.json`` (per-run success curves and
per task/method summaries), one plot per task (``sample_efficiency_<task>.png``: mean over seeds and a 95% band)
and, for a task whose spec sets ``benchmark_score: true``, ``<task>.json`` with the simulator's benchmark score of
each run. Formats and definitions: the module docstring of ``bench/sample_efficiency.py``. Rebuild them from the
runs on disk with ``python bench/sample_efficiency.py --report_only``.
"""
from __future__ import annotations

import collections
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from hierarchical.methods import METHODS

#: Legacy rule (issue 19): ``ppo`` was SB3's defaults until it became the PPO-ResNet recipe; a run under
#: ``<task>/ppo/seed<k>`` whose ``config.yaml`` has no recipe key (``impala_chans``) is an SB3-defaults run and is
#: reported as ``ppo_sb3`` (:func:`is_legacy_ppo`); moving such folders to ``<task>/ppo_sb3/`` changes nothing.
LEGACY_PPO_LABEL = "ppo_sb3"


# ---- run folders ---------------------------------------------------------------------------------------------------
def latest_run_dir(root: os.PathLike) -> Optional[Path]:
    """The newest ``run_<time>`` directory under ``root`` (names sort by time), or None."""
    root = Path(root)
    dirs = sorted(d for d in root.glob("run_*") if d.is_dir()) if root.is_dir() else []
    return dirs[-1] if dirs else None


def run_env_steps(run_dir: Optional[Path]) -> int:
    """Env steps a run reached: ``results.json`` if written, else the last ``stats.csv`` row, else 0."""
    if run_dir is None:
        return 0
    res = run_dir / "results.json"
    if res.is_file():
        return int(json.loads(res.read_text()).get("env_steps", 0))
    rows = read_rows(run_dir / "stats.csv")
    return int(float(rows[-1]["env_steps"])) if rows else 0


def is_legacy_ppo(run_dir: Optional[Path]) -> bool:
    """True for a run directory of the SB3-defaults flat PPO made when it was called ``ppo`` (its ``config.yaml``
    says ``method: ppo`` and has no ``impala_chans``; :func:`hierarchical.methods.run_method`)."""
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return False
    import yaml

    from hierarchical.methods import run_method

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    return cfg.get("method") == "ppo" and run_method(cfg) == LEGACY_PPO_LABEL


# ---- curves, summaries, Crafter score ------------------------------------------------------------------------------
def read_rows(path: os.PathLike) -> list[dict[str, str]]:
    import csv

    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def curve_from_rows(rows: Iterable[dict[str, Any]], window: int) -> list[list[float]]:
    """``[[env_steps, success_rate], ...]`` from ``stats.csv`` rows.

    Each row holds the episodes that ended in one PPO iteration (``episodes``, ``success_rate``); rows are grouped
    into windows ``(k * window - window, k * window]`` by their ``env_steps``, and a point is the success rate over
    all the episodes of its window (windows without an ended episode are left out). A partial last window is
    reported at its last row's env steps; one that spans less than half a window (a run that stops a few env steps
    past a window's end) is merged into the window before it, so the final point never rests on a handful of
    episodes.
    """
    bins: dict[int, list[float]] = {}
    last_steps: dict[int, int] = {}
    for row in rows:
        n = int(float(row.get("episodes") or 0))
        if n == 0 or row.get("success_rate") in ("", None):
            continue
        steps = int(float(row["env_steps"]))
        k = max(1, math.ceil(steps / window))
        acc = bins.setdefault(k, [0.0, 0.0])
        acc[0] += float(row["success_rate"]) * n
        acc[1] += n
        last_steps[k] = max(last_steps.get(k, 0), steps)
    if len(bins) > 1:
        k = max(bins)
        if k - 1 in bins and last_steps[k] - (k - 1) * window < window / 2:
            tail = bins.pop(k)
            bins[k - 1][0] += tail[0]
            bins[k - 1][1] += tail[1]
            last_steps[k - 1] = (k - 1) * window  # reported at the end of the window it joined
            del last_steps[k]
    out = []
    for k in sorted(bins):
        succ, n = bins[k]
        out.append([min(k * window, last_steps[k]) if k == max(bins) else k * window, round(succ / n, 4)])
    return out


def mean_band(curves: Sequence[Sequence[Sequence[float]]], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% band over seeds on the common grid of windows: ``(x, mean, half_width)``; ``half_width`` is
    NaN with one seed. A seed without a point in some window uses its previous point (carried forward)."""
    grids = [{math.ceil(x / window): y for x, y in c} for c in curves if c]
    if not grids:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    ks = sorted(set().union(*grids))
    last_x = {}  # a partial last window is plotted at its real env steps, not at the window's end
    for c in curves:
        for x, _ in c:
            k = math.ceil(x / window)
            last_x[k] = max(last_x.get(k, 0), x)
    filled = []
    for g in grids:
        row, last = [], float("nan")
        for k in ks:
            last = g.get(k, last)
            row.append(last)
        filled.append(row)
    arr = np.array(filled, dtype=float)
    mean = np.nanmean(arr, axis=0) if arr.size else arr
    n = np.sum(~np.isnan(arr), axis=0)
    std = np.nanstd(arr, axis=0, ddof=1) if arr.shape[0] > 1 else np.full(len(ks), np.nan)
    try:
        from scipy.stats import t as student_t

        crit = np.array([student_t.ppf(0.975, max(int(m) - 1, 1)) for m in n])
    except ImportError:  # normal approximation
        crit = np.full(len(ks), 1.96)
    half = np.where(n > 1, crit * std / np.sqrt(np.maximum(n, 1)), np.nan)
    return np.array([min(k * window, last_x[k]) for k in ks], dtype=float), mean, half


def first_reach(x: np.ndarray, mean: np.ndarray, threshold: float) -> Optional[int]:
    """Env steps of the first point whose mean success is >= ``threshold`` (None if never)."""
    hits = np.flatnonzero(mean >= threshold)
    return int(x[hits[0]]) if len(hits) else None


def benchmark_task(task: str) -> bool:
    """Whether ``task``'s runs are scored by its simulator's benchmark over all training episodes (task spec key
    ``benchmark_score``; e.g. ``crafter_score``), instead of a success curve."""
    import tasks

    return bool(tasks.get_specs(task).get("benchmark_score", False))


def benchmark_score(task: str, episodes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The simulator plugin's ``benchmark_score(episodes)`` for ``task`` (Crafter: ``tasks/crafter/score.py``).

    Raises:
        ValueError: no episodes.
    """
    import tasks

    return tasks.get_plugin(tasks.get_specs(task)["sim"]).benchmark_score(episodes)


def episode_ends(episodes: Sequence[dict[str, Any]], max_steps: Optional[int]) -> dict[str, Any]:
    """How a run's episodes ended: ``{"episodes", "median_length" (env steps), "ends": {"success", "death",
    "limit"}, "death_causes": {cause: count}, "unlocked": {achievement: number of episodes that unlocked it}}``
    (most frequent first) from ``episodes.jsonl`` lines (``hierarchical.episode_log.EpisodeLog``).
    Lines written before ``end``/``death_cause`` were logged are classified from ``success`` and ``length`` (>=
    ``max_steps``: the limit) and their deaths counted under ``"unknown"``."""
    ends: collections.Counter = collections.Counter({"success": 0, "death": 0, "limit": 0})
    causes: collections.Counter = collections.Counter()
    unlocked: collections.Counter = collections.Counter()
    for e in episodes:
        unlocked.update(set(e.get("achievements", ())))
        end = e.get("end")
        if end is None:
            end = ("success" if e.get("success") else
                   "limit" if max_steps is not None and e.get("length", 0) >= max_steps else "death")
        ends[end] += 1
        if end == "death":
            causes[e.get("death_cause") or "unknown"] += 1
    lengths = [e["length"] for e in episodes if "length" in e]
    return {"episodes": len(episodes), "median_length": float(np.median(lengths)) if lengths else None,
            "ends": dict(ends), "death_causes": dict(causes.most_common()), "unlocked": dict(unlocked.most_common())}


def _task_max_steps(task: str) -> Optional[int]:
    try:
        import tasks

        return (tasks.get_specs(task).get("terminal_specs") or {}).get("max_steps")
    except (KeyError, ValueError):  # a task no longer in task_specs.yaml
        return None


def read_episodes(path: os.PathLike) -> list[dict[str, Any]]:
    """The lines of a run's ``episodes.jsonl`` (one dict per ended episode); ``[]`` without the file; a line cut by
    a kill is skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill
            continue
    return out


# ---- report --------------------------------------------------------------------------------------------------------
def collect_runs(runs_dir: os.PathLike, window: int) -> list[dict[str, Any]]:
    """One entry per ``<runs_dir>/<task>/<method>/seed<k>`` with a run: its curve and counters."""
    out = []
    for root in sorted(Path(runs_dir).glob("*/*/seed*")):
        run_dir = latest_run_dir(root)
        if run_dir is None:
            continue
        task, method, seed = root.parent.parent.name, root.parent.name, int(root.name[4:])
        if method == "ppo" and is_legacy_ppo(run_dir):
            method = LEGACY_PPO_LABEL  # the legacy rule (LEGACY_PPO_LABEL)
        cfg_path = run_dir / "config.yaml"
        budget = None
        if cfg_path.is_file():
            import yaml

            budget = (yaml.safe_load(cfg_path.read_text()) or {}).get("env_steps")
        entry = {"task": task, "method": method, "seed": seed, "budget": budget,
                 "env_steps": run_env_steps(run_dir), "finished": (run_dir / "results.json").is_file(),
                 "curve": curve_from_rows(read_rows(run_dir / "stats.csv"), window), "run_dir": str(run_dir)}
        episodes = read_episodes(run_dir / "episodes.jsonl")
        if episodes:
            entry["episode_ends"] = episode_ends(episodes, _task_max_steps(task))
        if benchmark_task(task) and episodes:
            entry["benchmark_score"] = benchmark_score(task, episodes)
        out.append(entry)
    return out


def write_report(runs: list[dict[str, Any]], out_dir: os.PathLike, window: int, models_label: Optional[str] = None,
                 command: Optional[str] = None) -> dict[str, Any]:
    """Merge ``runs`` into ``<out_dir>/sample_efficiency.json`` (same task/method/seed replaced), write the plots and
    the benchmark-score files (``<task>.json``); returns the merged JSON.

    ``models_label`` (e.g. ``"v4"``) names the pre-trained models the runs used: stored as ``"models"`` and put in
    the plot titles; ``None`` keeps the label of the existing file, if any. ``command`` is stored as ``"command"``
    (``None`` keeps the existing one)."""
    from steve1.utils.io import atomic_write_json

    out_dir = Path(out_dir)
    path = out_dir / "sample_efficiency.json"
    old_data = json.loads(path.read_text()) if path.is_file() else {}
    old = old_data.get("runs", [])
    models_label = models_label if models_label is not None else old_data.get("models")
    command = command if command is not None else old_data.get("command")
    key = lambda r: (r["task"], r["method"], int(r["seed"]))  # noqa: E731
    merged = {key(r): r for r in old}
    merged.update({key(r): r for r in runs})
    all_runs = [merged[k] for k in sorted(merged)]
    curve_runs = [r for r in all_runs if not benchmark_task(r["task"])]
    summary: dict[str, Any] = {}
    for task in sorted({r["task"] for r in curve_runs}):
        summary[task] = {}
        for method in sorted({r["method"] for r in curve_runs if r["task"] == task}):
            rs = [r for r in curve_runs if r["task"] == task and r["method"] == method]
            x, mean, _ = mean_band([r["curve"] for r in rs], window)
            ends, causes, unlocked = collections.Counter(), collections.Counter(), collections.Counter()
            for r in rs:
                ends.update((r.get("episode_ends") or {}).get("ends", {}))
                causes.update((r.get("episode_ends") or {}).get("death_causes", {}))
                unlocked.update((r.get("episode_ends") or {}).get("unlocked", {}))
            summary[task][method] = {
                "seeds": sorted(int(r["seed"]) for r in rs), "env_steps": [int(r["env_steps"]) for r in rs],
                "env_steps_to_0.5": first_reach(x, mean, 0.5), "env_steps_to_0.8": first_reach(x, mean, 0.8),
                "final_mean_success": None if not len(mean) else round(float(mean[-1]), 4),
                "episode_ends": dict(ends), "death_causes": dict(causes.most_common()),
                "unlocked": dict(unlocked.most_common())}
    data = {"description": "success rate vs env steps (every low-level step); each point = success rate over the "
                           f"episodes that ended in a window of {window} env steps ending there",
            "window": window, "runs": curve_runs, "summary": summary,
            "updated_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    if models_label is not None:
        data["models"] = models_label
    if command is not None:
        data["command"] = command
    atomic_write_json(path, data, indent=1)
    for task in summary:
        plot_task(task, [r for r in curve_runs if r["task"] == task], out_dir / f"sample_efficiency_{task}.png",
                  window, models_label)
    for task in sorted({r["task"] for r in all_runs if benchmark_task(r["task"])}):
        _write_score_file(out_dir / f"{task}.json", task, [r for r in all_runs if r["task"] == task])
    return data


def _write_score_file(path: Path, task: str, runs: list[dict[str, Any]]) -> None:
    """``<task>.json`` (e.g. ``crafter_score.json``): the benchmark score of each run, keeping the entries of runs
    that are not on this disk (same method/seed replaced). Each entry's score is under the task's name, as the
    existing files have it."""
    import tasks
    from steve1.utils.io import atomic_write_json

    score_runs = [{"method": r["method"], "seed": r["seed"], "env_steps": r["env_steps"], "finished": r["finished"],
                   task: r["benchmark_score"]} for r in runs if "benchmark_score" in r]
    if not score_runs:
        return
    if path.is_file():
        kept = {(r["method"], int(r["seed"])): r for r in json.loads(path.read_text()).get("runs", [])}
        kept.update({(r["method"], int(r["seed"])): r for r in score_runs})
        score_runs = [kept[k] for k in sorted(kept)]
    plugin = tasks.get_plugin(tasks.get_specs(task)["sim"])
    atomic_write_json(path, {"protocol": plugin.BENCHMARK_PROTOCOL, "summary": score_summary(score_runs, task),
                             "runs": score_runs}, indent=1)


def score_summary(score_runs: list[dict[str, Any]], task: str) -> dict[str, dict[str, Any]]:
    """Per method, over its FINISHED runs (a run stopped before its budget is left out): ``seeds`` (sorted),
    ``score_mean`` and ``score_std`` (population standard deviation over seeds, 0.0 for one seed; the published
    Crafter figures are mean +- std over seeds) of ``run[task]["score"]``, and ``env_steps_min`` (the smallest
    budget reached). Methods without a finished run are absent."""
    out: dict[str, dict[str, Any]] = {}
    for method in sorted({r["method"] for r in score_runs}):
        done = sorted((r for r in score_runs if r["method"] == method and r.get("finished")), key=lambda r: r["seed"])
        if not done:
            continue
        scores = np.array([float(r[task]["score"]) for r in done])
        out[method] = {"seeds": [int(r["seed"]) for r in done], "score_mean": round(float(scores.mean()), 4),
                       "score_std": round(float(scores.std()), 4),
                       "env_steps_min": int(min(r["env_steps"] for r in done))}
    return out


def plot_task(task: str, runs: list[dict[str, Any]], out: Path, window: int,
              models_label: Optional[str] = None) -> None:
    """Mean success rate and its 95% band against env steps, one line per method; ``models_label`` (the
    pre-trained models' version) goes in the title when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from steve1.utils.io import atomic_output

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in METHODS:
        rs = [r for r in runs if r["method"] == method]
        if not rs:
            continue
        x, mean, half = mean_band([r["curve"] for r in rs], window)
        if not len(x):
            continue
        line, = ax.plot(x, mean, marker=".", label=f"{method} ({len(rs)} seed{'s' if len(rs) > 1 else ''})")
        if np.any(~np.isnan(half)):
            ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), color=line.get_color(),
                            alpha=0.2, linewidth=0)
    methods = [m for m in METHODS if any(r["method"] == m for r in runs)]
    import textwrap

    models = "" if models_label is None else f", models {models_label}"
    ax.set_title(textwrap.fill(f"task {task}, methods: {', '.join(methods)}{models}", 70), fontsize=9)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"success rate (episodes ended per {window} env steps)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(out, suffix=".png") as tmp:  # matplotlib picks the format from the extension
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
