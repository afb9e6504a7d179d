"""Sample-efficiency benchmark of PTGM on Crafter: success rate against env steps, per task, method and seed.

    # PTGM and flat PPO on the first four tasks, 200k env steps, 3 seeds, two runs at a time with one torch thread each
    python bench/sample_efficiency.py --tasks crafter_wood crafter_stone crafter_iron crafter_stone_pickaxe \\
        --methods ptgm ppo --seeds 1 2 3 --budget 200000
    python bench/sample_efficiency.py --tasks crafter_iron_pickaxe --methods ptgm ppo --seeds 1 --budget 500000
    python bench/sample_efficiency.py --tasks crafter_iron crafter_stone_pickaxe \\
        --methods bc_ppo ptgm_no_prior ptgm_continuous steve1_prompt --seeds 1 --budget 200000
    python bench/sample_efficiency.py --tasks crafter_score --methods ptgm ppo --seeds 1 --budget 1000000
    python bench/sample_efficiency.py --report_only        # rebuild the JSON files and plots from the runs on disk

Each run is ``python ppo_highlevel.py --config TASK --method METHOD --seed SEED --env_steps BUDGET`` (a subprocess
with ``OMP_NUM_THREADS=--torch_threads``, log in its folder) in ``<runs_dir>/<task>/<method>/seed<seed>/``.

**Resume.** A run whose ``results.json`` reports >= BUDGET env steps is done and skipped. Otherwise the newest
checkpoint of its latest run directory (``checkpoints/*.zip``: every ``save_freq`` PPO iterations and at the end)
is resumed with ``--load``, so an interrupted benchmark loses at most ``save_freq`` iterations per run, and a larger
``--budget`` extends finished runs. ``steve1_prompt`` (no learning state) restarts in a new run directory.
Stop the benchmark at any time (Ctrl-C / kill): rerunning the same command continues it. On Ctrl-C (SIGINT) or
SIGTERM the runner starts no further run, forwards the signal to the runs in progress (each saves a checkpoint of
its last PPO update, see ``ppo_highlevel.py``), waits for them, rebuilds the report, says that rerunning the same
command resumes, and exits with code 130 (143); a second Ctrl-C stops the runs at once, without saving. The runs
are started in their own process group, so a Ctrl-C in the terminal reaches them only through the runner.

**Outputs** (in ``--out_dir``, default ``bench/results/``; rebuilt after every finished run, merged with what is
already there, so a benchmark can be done in pieces and on several machines):

* ``sample_efficiency.json``: ``{"runs": [{"task", "method", "seed", "budget", "env_steps", "curve": [[env_steps,
  success_rate], ...]}, ...], "summary": {...}}``. Env steps count every low-level step; each curve point is the
  success rate over the episodes that **ended** in the window ``(env_steps - window, env_steps]`` (``--window``);
  windows in which no episode ended are left out. ``summary[task][method]``: seeds, the env steps at which the
  seed-mean success first reaches 0.5 and 0.8, the final mean, and how the episodes of all seeds ended
  (``episode_ends``: success / death / limit; ``death_causes``: lava, zombie, arrow, or the necessity that ran out;
  ``unlocked``: per achievement, the number of episodes that unlocked it, which shows how far along a task's chain
  of sub-goals the episodes get; see :func:`episode_ends`). Each run also has its own ``episode_ends``.
* ``sample_efficiency_<task>.png``: per method the mean over seeds and a 95% band (Student t over seeds; no band
  for one seed).
* ``<task>.json`` for a task whose spec sets ``benchmark_score: true`` (``crafter_score.json``): the simulator's
  benchmark score over all training episodes of each run (from the run's ``episodes.jsonl``), found through the
  registry (``tasks.get_plugin(sim).benchmark_score``; Crafter: ``tasks/crafter/score.py``, the official protocol of
  ``/work/shared/docs/crafter_benchmark.md`` §1: per achievement, the % of the episodes that unlocked it, and
  ``score = exp(mean_i ln(1 + s_i)) - 1`` over the 22 rates in %). Episodes logged between a checkpoint and an
  interruption are counted again after a resume (they are re-run).
"""
from __future__ import annotations

import argparse
import collections
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from hierarchical.methods import METHODS  # the one registry of --method names (ppo_highlevel.py)

#: Legacy rule (issue 19): ``ppo`` was SB3's defaults until it became the PPO-ResNet recipe; a run under
#: ``<task>/ppo/seed<k>`` whose ``config.yaml`` has no recipe key (``impala_chans``) is an SB3-defaults run and is
#: reported as ``ppo_sb3`` (:func:`is_legacy_ppo`); moving such folders to ``<task>/ppo_sb3/`` changes nothing.
LEGACY_PPO_LABEL = "ppo_sb3"
TASKS = ("crafter_wood", "crafter_stone", "crafter_iron", "crafter_stone_pickaxe", "crafter_iron_pickaxe")
_CKPT = re.compile(r"iter_(\d+)_envsteps_(\d+)\.zip$")


# ---- run folders, resume -------------------------------------------------------------------------------------------
def run_root(runs_dir: os.PathLike, task: str, method: str, seed: int) -> Path:
    """``<runs_dir>/<task>/<method>/seed<seed>``: the ``--results_dir`` of one benchmark run."""
    return Path(runs_dir) / task / method / f"seed{seed}"


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


def newest_checkpoint(run_dir: Optional[Path]) -> Optional[Path]:
    """The checkpoint of ``run_dir`` with the most env steps (``final.zip`` counts as its ``results.json`` env
    steps), or None."""
    if run_dir is None or not (run_dir / "checkpoints").is_dir():
        return None
    best, best_steps = None, -1
    for zip_path in (run_dir / "checkpoints").glob("*.zip"):
        if zip_path.name.endswith(".tmp.zip") or not zip_path.with_name(zip_path.stem + ".state.pkl").is_file():
            continue
        m = _CKPT.search(zip_path.name)
        steps = int(m.group(2)) if m else (run_env_steps(run_dir) if zip_path.stem == "final" else -1)
        if steps > best_steps:
            best, best_steps = zip_path, steps
    return best


def is_legacy_ppo(run_dir: Optional[Path]) -> bool:
    """True for a run directory of the SB3-defaults flat PPO made when it was called ``ppo`` (its ``config.yaml``
    says ``method: ppo`` and has no ``impala_chans``; :func:`hierarchical.baselines.run_method`)."""
    if run_dir is None or not (run_dir / "config.yaml").is_file():
        return False
    import yaml

    from hierarchical.baselines import run_method

    cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    return cfg.get("method") == "ppo" and run_method(cfg) == LEGACY_PPO_LABEL


def plan_run(runs_dir: os.PathLike, task: str, method: str, seed: int, budget: int) -> tuple[str, Optional[Path]]:
    """What to do for one run: ``("done", run_dir)``, ``("resume", checkpoint)`` or ``("fresh", None)``. A legacy
    SB3-defaults run in a ``ppo`` folder (:func:`is_legacy_ppo`) is neither done nor resumed for ``ppo``: a fresh
    run starts next to it (and, being newer, becomes the folder's latest)."""
    run_dir = latest_run_dir(run_root(runs_dir, task, method, seed))
    if method == "ppo" and is_legacy_ppo(run_dir):
        return "fresh", None
    if run_dir is not None and (run_dir / "results.json").is_file() and run_env_steps(run_dir) >= budget:
        return "done", run_dir
    ckpt = newest_checkpoint(run_dir) if method != "steve1_prompt" else None
    return ("resume", ckpt) if ckpt is not None else ("fresh", None)


def run_command(runs_dir: os.PathLike, task: str, method: str, seed: int, budget: int,
                extra: Sequence[str] = ()) -> Optional[list[str]]:
    """The ``ppo_highlevel.py`` command of one run (None when it is done)."""
    action, where = plan_run(runs_dir, task, method, seed, budget)
    if action == "done":
        return None
    cmd = [sys.executable, "ppo_highlevel.py", "--env_steps", str(budget)]
    if action == "resume":
        return cmd + ["--load", str(where), *extra]
    return cmd + ["--config", task, "--method", method, "--seed", str(seed), "--name", "run",
                  "--results_dir", str(run_root(runs_dir, task, method, seed)), *extra]


class _Children:
    """The run processes in progress, so that :func:`main` can forward SIGINT/SIGTERM to them."""

    def __init__(self) -> None:
        self.procs: dict[int, subprocess.Popen] = {}
        self.sent: set[int] = set()
        self.signum: Optional[int] = None

    def forward(self, signum: int, count: int = 1) -> None:
        """Send ``signum`` to every run in progress (called by the signal handler, in the main thread)."""
        self.signum = signum
        for proc in list(self.procs.values()):
            self.sent.add(proc.pid)
            proc.send_signal(signum)  # a no-op for a process that has ended

    def started(self, proc: subprocess.Popen) -> None:
        """Register ``proc``; one started just as a signal arrived gets it too."""
        self.procs[proc.pid] = proc
        if self.signum is not None and proc.pid not in self.sent:
            self.sent.add(proc.pid)
            proc.send_signal(self.signum)


_CHILDREN = _Children()


def execute(cmd: list[str], log_path: Path, torch_threads: int) -> int:
    """Run ``cmd`` with ``torch_threads`` CPU threads, appending stdout/stderr to ``log_path``; its exit code.

    The process gets its own process group (a terminal's Ctrl-C reaches it only through :func:`main`, once)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(torch_threads), MKL_NUM_THREADS=str(torch_threads))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            _CHILDREN.started(proc)
            return proc.wait()
        finally:
            _CHILDREN.procs.pop(proc.pid, None)


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
    (most frequent first) from ``episodes.jsonl`` lines (``hierarchical.baselines.EpisodeLog``).
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


def write_report(runs: list[dict[str, Any]], out_dir: os.PathLike, window: int) -> dict[str, Any]:
    """Merge ``runs`` into ``<out_dir>/sample_efficiency.json`` (same task/method/seed replaced), write the plots and
    the benchmark-score files (``<task>.json``); returns the merged JSON."""
    from steve1.utils.io import atomic_write_json

    out_dir = Path(out_dir)
    path = out_dir / "sample_efficiency.json"
    old = json.loads(path.read_text()).get("runs", []) if path.is_file() else []
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
    atomic_write_json(path, data, indent=1)
    for task in summary:
        plot_task(task, [r for r in curve_runs if r["task"] == task], out_dir / f"sample_efficiency_{task}.png",
                  window)
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
    atomic_write_json(path, {"protocol": plugin.BENCHMARK_PROTOCOL, "runs": score_runs}, indent=1)


def plot_task(task: str, runs: list[dict[str, Any]], out: Path, window: int) -> None:
    """Mean success rate and its 95% band against env steps, one line per method."""
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

    ax.set_title(textwrap.fill(f"task {task}, methods: {', '.join(methods)}", 70), fontsize=9)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"success rate (episodes ended per {window} env steps)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(out, suffix=".png") as tmp:  # matplotlib picks the format from the extension
        fig.savefig(tmp, dpi=100)
        plt.close(fig)


# ---- main ----------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=list(TASKS), help="tasks in tasks/task_specs.yaml")
    p.add_argument("--methods", nargs="+", default=["ptgm", "ppo"], choices=METHODS, help="methods (--method)")
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds")
    p.add_argument("--budget", type=int, default=200_000, help="env steps per run")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--torch_threads", type=int, default=1, help="CPU threads per run (OMP_NUM_THREADS)")
    p.add_argument("--window", type=int, default=10_000, help="env steps per curve point")
    p.add_argument("--runs_dir", default="results/bench", help="where the run folders go")
    p.add_argument("--out_dir", default="bench/results", help="JSON files and plots")
    p.add_argument("--report_only", action="store_true", help="only rebuild the JSON files and plots")
    p.add_argument("--dry_run", action="store_true", help="print the commands and exit")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                   help="further ppo_highlevel.py flags for every run (e.g. --extra --n_envs 4)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Plan, run and report (see the module docstring).

    Raises:
        steve1.utils.interrupt.Interrupted: stopped by SIGINT/SIGTERM (exit code 130/143), after the runs in
            progress saved their checkpoints.
    """
    global _CHILDREN
    args = build_parser().parse_args(argv)
    if not args.report_only:
        jobs = [(t, m, s) for t in args.tasks for m in args.methods for s in args.seeds]
        todo = []
        for t, m, s in jobs:
            cmd = run_command(args.runs_dir, t, m, s, args.budget, args.extra)
            status = "done" if cmd is None else ("resume" if "--load" in cmd else "fresh")
            print(f"{t:24s} {m:16s} seed {s}: {status}" + ("" if cmd is None else f"  ({' '.join(cmd[1:])})"),
                  flush=True)
            if cmd is not None:
                todo.append((t, m, s, cmd))
        if args.dry_run:
            return {"todo": [c for *_, c in todo]}

        from steve1.utils.interrupt import catch_interrupts

        lock = threading.Lock()
        _CHILDREN = _Children()

        def one(item):
            t, m, s, cmd = item
            if interrupt:  # stopping: start no further run
                return None
            log = run_root(args.runs_dir, t, m, s) / "log.txt"
            t0 = time.time()
            rc = execute(cmd, log, args.torch_threads)
            print(f"[{time.strftime('%H:%M:%S')}] {t} {m} seed {s}: exit {rc} after {time.time() - t0:.0f} s "
                  f"(log {log})", flush=True)
            with lock:
                write_report(collect_runs(args.runs_dir, args.window), args.out_dir, args.window)
            return rc

        with catch_interrupts("stopping the runs in progress; each saves a checkpoint",
                              on_signal=lambda signum, count: _CHILDREN.forward(signum)) as interrupt:
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                codes = list(pool.map(one, todo))
        if interrupt:
            write_report(collect_runs(args.runs_dir, args.window), args.out_dir, args.window)
            stopped = sum(1 for c in codes if c == interrupt.exit_code)
            interrupt.exit(args.runs_dir, ["python", "bench/sample_efficiency.py",
                                           *(sys.argv[1:] if argv is None else argv)],
                           detail=f"{stopped} run(s) stopped on the signal, each with a checkpoint (see its log.txt); "
                                  f"{codes.count(None)} not started; rerunning the same command resumes them")
        if any(codes):
            print(f"{sum(1 for c in codes if c)} run(s) failed; see their log.txt", flush=True)
    data = write_report(collect_runs(args.runs_dir, args.window), args.out_dir, args.window)
    print(json.dumps(data["summary"], indent=1))
    return data


if __name__ == "__main__":
    main()
