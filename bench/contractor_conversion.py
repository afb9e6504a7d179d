"""Speed of the contractor conversion (spec §3.2-§3.4): JSONL + mp4 decoding, and MineCLIP window embeddings.

Prints and writes (JSON, atomically, ``--output``) three figures for one episode:

* **load_episode steps/s**: :func:`steve1.data.contractor.load_episode` on a synthetic 640x360 h264 contractor
  episode of ``--steps`` records (every 10th a null step): mp4 decode, cursor, BGR->RGB, two cv2 resizes, JSONL ->
  MineRL actions. ``--video``/``--jsonl`` time a real pair instead.
* **windows/s per window**: :func:`steve1.data.generation.window_embedding.embed_episode_windows` through
  ``GoalEmbedder.encode_video`` (upstream's way: every frame goes through the ViT 16 times).
* **windows/s per frame**: the same embeddings with every frame encoded once and the temporal pooling run per
  window (the ``encode_frames``/``pool_frames`` path), and the largest difference between the two.

MineCLIP has random weights: ``--mineclip full`` is the real ViT-B/16 size (158.5M parameters), ``tiny`` the
fixtures §7 size. Timings swing 5-10x when another process uses a core: run it on an idle machine.

    python bench/contractor_conversion.py --threads 2 --mineclip full --embed_frames 48
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from steve1.data.contractor import load_episode
from steve1.data.generation.window_embedding import embed_episode_windows
from steve1.mineclip import MineCLIP, MineCLIPEmbedder

TINY = dict(clip_config=dict(context_length=77, embed_dim=64, image_resolution=224, text_heads=2, text_layers=2,
                             text_width=64, vision_layers=2, vision_patch_size=16, vision_width=128,
                             vocab_size=1000), hidden_dim=64, image_feature_dim=64)


def synthetic_episode(folder: Path, steps: int) -> tuple[Path, Path]:
    import imageio.v2 as imageio

    rng = np.random.default_rng(0)
    video, jsonl = folder / "ep.mp4", folder / "ep.jsonl"
    writer = imageio.get_writer(video, fps=20, codec="libx264", macro_block_size=8, ffmpeg_log_level="error")
    base = rng.integers(0, 256, (45, 80, 3), dtype=np.uint8).repeat(8, axis=0).repeat(8, axis=1)
    records = []
    for i in range(steps):
        writer.append_data(np.roll(base, 4 * i, axis=1))
        null = i % 10 == 9
        records.append({"mouse": {"x": 640.0, "y": 360.0, "dx": 0.0 if null else 4.0, "dy": 0.0, "buttons": [],
                                  "newButtons": []},
                        "keyboard": {"keys": [] if null else ["key.keyboard.w"]}, "hotbar": 0,
                        "isGuiOpen": i % 50 >= 45})
    writer.close()
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    return video, jsonl


def main(argv=None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a count out of range, a missing or unreadable ``--video``/
    ``--jsonl``, an unusable ``--output``) ends the program with one line on stderr naming the flag, and exit code 2,
    before anything is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("contractor_conversion.py", lambda: _main(argv))


def _main(argv) -> dict:
    from steve1.data.contractor import ContractorDataError
    from steve1.utils.checks import Range, check_input_file, check_output_path, check_ranges
    from steve1.utils.cli import UsageError

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--steps", type=int, default=400, help="records of the synthetic episode")
    p.add_argument("--video", type=Path, default=None, help="time this real contractor mp4 (with --jsonl)")
    p.add_argument("--jsonl", type=Path, default=None, help="the JSONL of --video")
    p.add_argument("--mineclip", choices=["full", "tiny"], default="full", help="MineCLIP size (random weights)")
    p.add_argument("--embed_frames", type=int, default=48, help="kept frames to embed (windows = frames - 15)")
    p.add_argument("--batch_size", type=int, default=8, help="windows per forward")
    p.add_argument("--seed", type=int, default=0, help="seed of the random MineCLIP weights")
    p.add_argument("--output", type=Path, default=Path("results/bench/contractor_conversion.json"),
                   help="JSON file for the figures")
    args = p.parse_args(argv)
    check_ranges(args, {"threads": Range(int, lo=1), "steps": Range(int, lo=17, note="records; 16 kept frames are "
                                                                                      "needed to embed"),
                        "embed_frames": Range(int, lo=16, note="kept frames"), "batch_size": Range(int, lo=1),
                        "seed": Range(int, lo=0)})
    if (args.video is None) != (args.jsonl is None):
        raise UsageError(f"--video/--jsonl: give both or neither, got --video {args.video} --jsonl {args.jsonl}")
    if args.video is not None:
        check_input_file(args.video, "--video", "a contractor mp4")
        check_input_file(args.jsonl, "--jsonl", "the contractor JSONL of --video")
    check_output_path(args.output, "--output")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        video, jsonl = (args.video, args.jsonl) if args.video else synthetic_episode(Path(tmp), args.steps)
        t0 = time.perf_counter()
        try:
            episode = load_episode(video, jsonl)
            load_s = time.perf_counter() - t0
            n_records = sum(1 for line in open(jsonl) if line.strip())
        except (ContractorDataError, UnicodeDecodeError) as e:
            raise UsageError(f"--video/--jsonl {video} {jsonl}: not a contractor episode: {e}") from e
    print(f"load_episode: {n_records} records -> {len(episode.actions)} kept frames in {load_s:.2f} s "
          f"= {n_records / load_s:.0f} records/s")

    model = MineCLIP(**(TINY if args.mineclip == "tiny" else {})).eval()
    embedder = MineCLIPEmbedder(model)
    frames = episode.frames_mineclip[: args.embed_frames]
    if len(frames) < 16:
        raise UsageError(f"--video/--steps: need >= 16 kept frames to embed, the episode has {len(frames)}")
    n_windows = len(frames) - 15
    timings, outputs = {}, {}
    for per_frame in (True, False):
        embed_episode_windows(embedder, frames[:17], batch_size=2, per_frame=per_frame)  # warm-up
        t0 = time.perf_counter()
        outputs[per_frame] = embed_episode_windows(embedder, frames, batch_size=args.batch_size, per_frame=per_frame)
        timings[per_frame] = time.perf_counter() - t0
        print(f"MineCLIP ({args.mineclip}) {'per frame ' if per_frame else 'per window'}: {n_windows} windows in "
              f"{timings[per_frame]:.2f} s = {n_windows / timings[per_frame]:.2f} windows/s")
    diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs[True][15:], outputs[False][15:]))
    print(f"per-frame speed-up {timings[False] / timings[True]:.1f}x, max |difference| {diff:.2e}")

    result = {
        "threads": args.threads, "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "load_episode_records_per_s": n_records / load_s, "records": n_records,
        "kept_frames": len(episode.actions), "mineclip": args.mineclip, "windows": n_windows,
        "batch_size": args.batch_size, "windows_per_s_per_window": n_windows / timings[False],
        "windows_per_s_per_frame": n_windows / timings[True], "max_abs_difference": diff,
    }
    from steve1.utils.io import atomic_write_json

    atomic_write_json(args.output, result)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
