"""Training throughput of flat PPO on Crafter: env steps per second over whole PPO iterations (rollout + update).

Measures ``--method ppo`` (the PPO-ResNet recipe, ``configs/crafter/ppo.yaml``, ``hierarchical/flat_ppo.py``) at
several IMPALA widths and ``--method ppo_sb3`` (SB3 defaults), each built exactly as ``ppo_highlevel.py`` builds it
(same config resolution, same VecEnv with the episode log), one after the other in this process with
``--torch_threads`` torch threads. Each measurement runs SB3's ``learn`` for at least ``--env_steps`` env steps (whole
PPO iterations: 4096 env steps for the recipe, 16384 for SB3's defaults with 8 envs) and reports the env steps per
second over the whole ``learn`` call, split into rollout and update time, and the hours 1M env steps would take.
Since other jobs may share the 2 cores, it also reports the process's CPU time (``time.process_time``): with one
torch thread, env steps per CPU second is the rate on a core of one's own (what each of the benchmark's two
one-thread runs gets when nothing else runs), which other jobs slow only through shared caches. The machine's load (``os.getloadavg``) and the busiest processes (``top``) are recorded before and after each, since
other jobs may share the CPU.

    python bench/flat_ppo_throughput.py --widths 8,16,16 16,32,32 24,48,48 --sb3 --env_steps 8192

The JSON (``--out``, default ``bench/results/flat_ppo_throughput.json``) is merged with an existing one (a
measurement of the same label is replaced) and rewritten after every measurement: ``{"command", "measurements":
[{"label", "method", "impala_chans", "trunk_macs_per_frame", "env_steps", "wall_s", "rollout_s", "update_s",
"env_steps_per_s", "hours_per_1M_env_steps", "cpu_s", "rollout_cpu_s", "update_cpu_s", "env_steps_per_cpu_s",
"hours_per_1M_env_steps_one_core", "iterations", "torch_threads", "load_before", "load_after",
"top_before", "utc", "command"}]}``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]


def _fail(msg: str) -> None:
    print(f"flat_ppo_throughput.py: error: {msg}", file=sys.stderr)
    raise SystemExit(2)


def parse_widths(values: Sequence[str]) -> list[list[int]]:
    """``["16,32,32", ...]`` -> ``[[16, 32, 32], ...]``; a bad value ends the program (exit 2, one line)."""
    out = []
    for v in values:
        try:
            chans = [int(x) for x in v.split(",")]
        except ValueError:
            chans = []
        if not chans or min(chans) < 1:
            _fail(f"--widths: {v!r} is not a comma-separated list of positive channel counts (e.g. 16,32,32)")
        out.append(chans)
    return out


def _top() -> list[str]:
    try:
        return subprocess.run(["top", "-bn1"], capture_output=True, text=True, timeout=10).stdout.splitlines()[:15]
    except (OSError, subprocess.SubprocessError):
        return []


def cpu_name() -> str:
    """The CPU model and its widest vector extension (``/proc/cpuinfo``; e.g. ``"AMD EPYC (avx512)"``), so that
    measurements from different machines are told apart; ``"unknown"`` where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 "unknown")
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "sse"
    return f"{model} ({isa})"


def measure(method: str, chans: Optional[list[int]], task: str, env_steps: int, seed: int) -> dict[str, Any]:
    """One measurement (see the module docstring); returns its JSON entry."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    import tasks
    from hierarchical.flat_baselines import make_flat_ppo, make_flat_venv
    from hierarchical.flat_ppo import make_recipe_ppo, trunk_macs
    from hierarchical.methods import resolve_config

    given = {"seed": seed, "impala_chans": chans} if method == "ppo" else {"seed": seed}
    cfg, _ = resolve_config(tasks.get_specs(task), given, method=method)
    device = torch.device("cpu")

    class Timer(BaseCallback):
        def __init__(self):
            super().__init__()
            self.rollout_s, self.rollout_cpu_s, self.iterations, self._t, self._c = 0.0, 0.0, 0, 0.0, 0.0

        def _on_rollout_start(self) -> None:
            self._t, self._c = time.perf_counter(), time.process_time()

        def _on_rollout_end(self) -> None:
            self.rollout_s += time.perf_counter() - self._t
            self.rollout_cpu_s += time.process_time() - self._c
            self.iterations += 1

        def _on_step(self) -> bool:
            return True

    with tempfile.TemporaryDirectory() as tmp:
        venv = make_flat_venv(cfg, tmp, device)
        venv.seed(seed)
        model = make_recipe_ppo(venv, cfg, seed, device) if method == "ppo" else make_flat_ppo(venv, seed, device)
        load_before, top_before = os.getloadavg(), _top()
        timer = Timer()
        t0, c0 = time.perf_counter(), time.process_time()
        model.learn(total_timesteps=env_steps, callback=timer)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        load_after = os.getloadavg()
        venv.close()
    steps = int(model.num_timesteps)
    sps = steps / wall
    entry = {"label": method if method == "ppo_sb3" else f"ppo_{'-'.join(map(str, chans))}", "method": method,
             "impala_chans": chans, "env_steps": steps, "iterations": timer.iterations,
             "n_envs": cfg.n_envs, "n_steps": int(model.n_steps), "n_epochs": int(model.n_epochs),
             "batch_size": int(model.batch_size), "wall_s": round(wall, 1), "rollout_s": round(timer.rollout_s, 1),
             "update_s": round(wall - timer.rollout_s, 1), "env_steps_per_s": round(sps, 1),
             "hours_per_1M_env_steps": round(1e6 / sps / 3600, 2), "cpu_s": round(cpu, 1),
             "rollout_cpu_s": round(timer.rollout_cpu_s, 1), "update_cpu_s": round(cpu - timer.rollout_cpu_s, 1),
             "env_steps_per_cpu_s": round(steps / cpu, 1), "hours_per_1M_env_steps_one_core": round(1e6 * cpu / steps
                                                                                                   / 3600, 2),
             "torch_threads": torch.get_num_threads(),
             "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
             "top_before": top_before, "cpu": cpu_name(), "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if method == "ppo":
        entry["trunk_macs_per_frame"] = trunk_macs(chans, cfg.impala_blocks, cfg.impala_outsize, cfg.hidsize)
    return entry


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Env steps per second of flat PPO training on Crafter (whole PPO "
                                            "iterations), the recipe at several IMPALA widths and SB3's defaults.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--widths", nargs="*", default=["8,16,16", "12,24,24", "16,32,32"],
                   help="IMPALA channels of --method ppo to measure, each comma-separated (e.g. 16,32,32)")
    p.add_argument("--sb3", action="store_true", help="also measure --method ppo_sb3 (SB3 defaults)")
    p.add_argument("--task", default="crafter_score", help="task of tasks/task_specs.yaml")
    p.add_argument("--env_steps", type=int, default=8192, help="env steps per measurement (rounded up to whole "
                                                                "PPO iterations)")
    p.add_argument("--torch_threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--seed", type=int, default=1, help="seed")
    p.add_argument("--out", default=str(REPO / "bench/results/flat_ppo_throughput.json"), help="JSON to merge into")
    return p


def main(argv: Optional[Sequence[str]] = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    widths = parse_widths(args.widths)
    if args.env_steps < 1:
        _fail(f"--env_steps: {args.env_steps} must be >= 1")
    if args.torch_threads < 1:
        _fail(f"--torch_threads: {args.torch_threads} must be >= 1")
    import json

    import torch
    from tqdm.auto import tqdm

    import tasks
    from steve1.utils.io import atomic_write_json

    try:
        tasks.get_specs(args.task)
    except KeyError:
        _fail(f"--task: {args.task!r} is not a task of tasks/task_specs.yaml")
    torch.set_num_threads(args.torch_threads)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    command = "OMP_NUM_THREADS=1 python bench/flat_ppo_throughput.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    report["command"] = command  # the latest; each measurement keeps its own
    report.setdefault("measurements", [])
    jobs = [("ppo", w) for w in widths] + ([("ppo_sb3", None)] if args.sb3 else [])
    for method, chans in tqdm(jobs, unit="measurement", desc="throughput"):
        entry = {**measure(method, chans, args.task, args.env_steps, args.seed), "command": command}
        report["measurements"] = [m for m in report["measurements"]  # one entry per width and machine
                                  if (m["label"], m.get("cpu")) != (entry["label"], entry["cpu"])] + [entry]
        atomic_write_json(out, report)
        tqdm.write(f"{entry['label']}: {entry['env_steps_per_s']} env steps/s ({entry['hours_per_1M_env_steps']} h "
                   f"per 1M; {entry['env_steps_per_cpu_s']} per CPU second; rollout {entry['rollout_s']} s, update "
                   f"{entry['update_s']} s; load "
                   f"{entry['load_before'][0]} -> {entry['load_after'][0]})")
    return report


if __name__ == "__main__":
    main()
