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
already there, so a benchmark can be done in pieces and on several machines; built by ``bench/efficiency_report.py``):

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
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional, Sequence

from hierarchical.methods import METHODS  # the one registry of --method names (ppo_highlevel.py)

# the statistics and the report: bench/efficiency_report.py (``python bench/x.py`` puts bench/ on the module path)
from efficiency_report import collect_runs, is_legacy_ppo, latest_run_dir, run_env_steps, write_report

TASKS = ("crafter_wood", "crafter_stone", "crafter_iron", "crafter_stone_pickaxe", "crafter_iron_pickaxe")
_CKPT = re.compile(r"iter_(\d+)_envsteps_(\d+)\.zip$")


# ---- run folders, resume -------------------------------------------------------------------------------------------
def run_root(runs_dir: os.PathLike, task: str, method: str, seed: int) -> Path:
    """``<runs_dir>/<task>/<method>/seed<seed>``: the ``--results_dir`` of one benchmark run."""
    return Path(runs_dir) / task / method / f"seed{seed}"


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
    p.add_argument("--models_label", default=None,
                   help="version of the pre-trained models the runs use (e.g. v4): stored as \"models\" in the JSON "
                        "and shown in the plot titles (default: keep the label already in the JSON, if any)")
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
    command_argv = ["python", "bench/sample_efficiency.py", *(sys.argv[1:] if argv is None else argv)]
    command = shlex.join(command_argv)

    def report():
        return write_report(collect_runs(args.runs_dir, args.window), args.out_dir, args.window,
                            args.models_label, command)

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
                report()
            return rc

        with catch_interrupts("stopping the runs in progress; each saves a checkpoint",
                              on_signal=lambda signum, count: _CHILDREN.forward(signum)) as interrupt:
            with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
                codes = list(pool.map(one, todo))
        if interrupt:
            report()
            stopped = sum(1 for c in codes if c == interrupt.exit_code)
            interrupt.exit(args.runs_dir, command_argv,
                           detail=f"{stopped} run(s) stopped on the signal, each with a checkpoint (see its log.txt); "
                                  f"{codes.count(None)} not started; rerunning the same command resumes them")
        if any(codes):
            print(f"{sum(1 for c in codes if c)} run(s) failed; see their log.txt", flush=True)
    data = report()
    print(json.dumps(data["summary"], indent=1))
    return data


if __name__ == "__main__":
    main()
