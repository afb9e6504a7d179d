"""CPU speed of the VPT policy (random weights): the MineRLAgent.get_action loop and batched chunks.

Prints and writes (JSON, atomically) two figures:

* **ms per frame** of ``MineRLAgent.get_action`` with batch 1, one frame per call and the recurrent state carried:
  cv2 resize of a 360x640 frame to 128x128, ``policy.act(stochastic=True)``, action conversion to the MineRL dict.
  Median (and min/mean/p90) of ``--frames`` calls after ``--warmup`` calls.
* **frames per second** of one no-grad ``policy(...)`` forward over a chunk of ``--chunk-batch`` x ``--chunk-len``
  frames (B=8, T=128 by default, the training chunk shape).

The official implementation runs the 2x get_action loop at ~147 ms/frame on the project's 2-core machines
(fixtures README §9). Timings swing 5-10x when another process uses a core: run it on an idle machine.

    python bench/vpt_step.py --threads 2 --frames 60
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from VPT.agent import PI_HEAD_KWARGS, POLICY_KWARGS, MineRLAgent
from steve1.utils.io import atomic_write_json

DEFAULT_HPARAMS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "vpt_hparams.json"
HPARAMS_ENTRY = {"1x": "foundation-model-1x.model", "2x": "2x.model", "3x": "foundation-model-3x.model"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(HPARAMS_ENTRY), default="2x", help="VPT model size")
    p.add_argument("--hparams", type=Path, default=DEFAULT_HPARAMS,
                   help="vpt_hparams.json with the model configs (falls back to the 2x defaults in VPT/agent.py)")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--frames", type=int, default=60, help="timed get_action calls")
    p.add_argument("--warmup", type=int, default=5, help="untimed get_action calls first")
    p.add_argument("--chunk-batch", type=int, default=8, help="B of the batched chunk forward")
    p.add_argument("--chunk-len", type=int, default=128, help="T of the batched chunk forward")
    p.add_argument("--skip-chunk", action="store_true", help="only time the get_action loop")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("results/bench/vpt_step.json"), help="JSON results file")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Counts in range, ``--hparams`` readable JSON holding the variant (or absent with ``--variant 2x``), ``--out``
    writable.

    Raises:
        steve1.utils.cli.UsageError: naming the flag, the value and what was expected.
    """
    from steve1.utils.checks import Range, check_output_path, check_ranges
    from steve1.utils.cli import UsageError

    check_ranges(args, {"threads": Range(int, lo=1), "frames": Range(int, lo=1, note="timed calls"),
                        "warmup": Range(int, lo=0), "chunk_batch": Range(int, lo=1), "chunk_len": Range(int, lo=1),
                        "seed": Range(int, lo=0)},
                 {"chunk_batch": "--chunk-batch", "chunk_len": "--chunk-len"})
    if args.hparams.exists():
        try:
            entry = json.loads(args.hparams.read_text())[HPARAMS_ENTRY[args.variant]]
            entry["net_args"], entry["pi_head_opts"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"--hparams {args.hparams}: expected vpt_hparams.json with {HPARAMS_ENTRY[args.variant]!r}"
                             f" -> net_args/pi_head_opts ({type(e).__name__}: {e})") from e
    elif args.variant != "2x":
        raise UsageError(f"--hparams {args.hparams}: not found; only --variant 2x has defaults in code")
    check_output_path(args.out, "--out")


def model_config(args: argparse.Namespace) -> tuple[dict, dict, str]:
    if args.hparams.is_file():
        entry = json.loads(args.hparams.read_text())[HPARAMS_ENTRY[args.variant]]
        return entry["net_args"], entry["pi_head_opts"], str(args.hparams)
    if args.variant != "2x":
        raise SystemExit(f"--hparams {args.hparams} not found; only --variant 2x has defaults in code")
    return dict(POLICY_KWARGS), dict(PI_HEAD_KWARGS), "VPT/agent.py POLICY_KWARGS"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def time_get_action(agent: MineRLAgent, povs: list, warmup: int, frames: int) -> tuple[list, list]:
    """Wall-clock and process CPU seconds of each timed get_action call."""
    agent.reset()
    for i in range(warmup):
        agent.get_action({"pov": povs[i % len(povs)]})
    wall, cpu = [], []
    for i in tqdm(range(frames), desc="get_action", leave=False):
        start, start_cpu = time.perf_counter(), time.process_time()
        agent.get_action({"pov": povs[i % len(povs)]})
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def time_chunk(agent: MineRLAgent, batch: int, length: int, seed: int) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one no-grad forward over a [batch, length] chunk."""
    policy = agent.policy
    g = torch.Generator().manual_seed(seed)
    height, width, channels = policy.net.img_shape
    img = torch.randint(0, 256, (batch, length, height, width, channels), dtype=torch.uint8, generator=g)
    first = torch.zeros(batch, length, dtype=torch.bool)
    first[:, 0] = True
    with torch.inference_mode():
        policy({"img": img[:1, :4]}, first[:1, :4], policy.initial_state(1))  # warm-up
        start, start_cpu = time.perf_counter(), time.process_time()
        policy({"img": img}, first, policy.initial_state(batch))
        return time.perf_counter() - start, time.process_time() - start_cpu


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a count out of range, an unreadable ``--hparams``, an unusable
    ``--out``) ends the program with one line on stderr naming the flag, and exit code 2, before anything is measured
    or written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("vpt_step.py", lambda: _main(argv))


def _main(argv) -> dict:
    args = parse_args(argv)
    check_args(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    policy_kwargs, pi_head_kwargs, source = model_config(args)
    agent = MineRLAgent(device="cpu", policy_kwargs=policy_kwargs, pi_head_kwargs=pi_head_kwargs)
    n_params = sum(p.numel() for p in agent.policy.state_dict().values())
    rng = np.random.default_rng(args.seed)
    povs = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(8)]

    load_before = os.getloadavg()[0]
    wall, cpu = time_get_action(agent, povs, args.warmup, args.frames)
    times_ms, cpu_ms = np.array(wall) * 1e3, np.array(cpu) * 1e3
    results = {
        "variant": args.variant,
        "config_source": source,
        "num_parameters": n_params,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": cpu_name(),
        "get_action_ms": {
            "frames": args.frames,
            "warmup": args.warmup,
            "median": float(np.median(times_ms)),
            "min": float(times_ms.min()),
            "mean": float(times_ms.mean()),
            "p90": float(np.percentile(times_ms, 90)),
            "stdev": float(statistics.pstdev(times_ms)),
            # CPU time of all threads of this process; with --threads 1 it is robust to other processes' load
            "process_cpu_median": float(np.median(cpu_ms)),
        },
        "load_average_1min_before": load_before,
    }
    print(f"VPT-{args.variant} ({n_params:,} parameters), {args.threads} threads, batch 1, one frame per call:")
    g = results["get_action_ms"]
    print(f"  get_action: median {g['median']:.1f} ms/frame (min {g['min']:.1f}, mean {g['mean']:.1f}, "
          f"p90 {g['p90']:.1f}) over {args.frames} frames; process CPU time median {g['process_cpu_median']:.1f} ms")
    if load_before > 0.5:
        print(f"  warning: 1-min load average was {load_before:.2f} before timing: other processes share the CPU")
    if not args.skip_chunk:
        seconds, cpu_seconds = time_chunk(agent, args.chunk_batch, args.chunk_len, args.seed)
        n_frames = args.chunk_batch * args.chunk_len
        results["chunk_forward"] = {
            "batch": args.chunk_batch,
            "length": args.chunk_len,
            "seconds": seconds,
            "frames_per_second": n_frames / seconds,
            "process_cpu_seconds": cpu_seconds,
        }
        print(f"  chunk forward B={args.chunk_batch} T={args.chunk_len} (no grad): {seconds:.1f} s, "
              f"{n_frames / seconds:.1f} frames/s (process CPU time {cpu_seconds:.1f} s)")
    atomic_write_json(args.out, results)
    print(f"  results written to {args.out}")
    return results


if __name__ == "__main__":
    main()
