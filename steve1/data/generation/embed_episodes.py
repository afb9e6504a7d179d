r"""Write the goal embeddings (``embeds_attn.pkl``) of every episode of a dataset with a chosen goal embedder.

    python -m steve1.data.generation.embed_episodes --embedder crafterclip \
        --weights downloads/crafter/crafterclip.pt --data_dir downloads/dataset_crafter
    python -m steve1.data.generation.embed_episodes --embedder mineclip \
        --weights downloads/mineclip_attn.pth --data_dir downloads/dataset_contractor --device cuda

The one place where a dataset gets its goal embeddings after it was written (the Crafter play data is written
without them, because CrafterCLIP is trained on it; contractor episodes converted with ``--no_embeds`` too).
Window semantics as MineCLIP's (spec §3.4): ``embeds[t]`` for ``t >= 15`` embeds frames ``[t-15, t]``, ``None`` for
``t < 15`` (:func:`steve1.data.generation.window_embedding.embed_episode_windows`, which encodes each frame once
when the embedder offers ``encode_frames``/``pool_frames``, as CrafterCLIP does). Embeddings are float32 ``(1, D)``
arrays, not L2-normalised.

Each episode's embeddings are written atomically (:meth:`EpisodeStorage.update_embeds`), then its
``metadata.json`` records ``embedder``, ``embed_dim`` and ``embedder_weights`` (name and md5 of the weights file).
Resumable: an episode whose embeddings exist and whose metadata names the same embedder and weights (md5) is
skipped (``--overwrite`` re-embeds everything); an episode with embeddings from *another* embedder or other weights
(e.g. a retrained CrafterCLIP) stops the run before anything is written, unless ``--overwrite``, so that a dataset
never mixes two goal spaces. Episodes that are not valid (unfinished
writes, < 16 frames) are reported and skipped.

Embedders (``--embedder``), each a :class:`steve1.mineclip.GoalEmbedder` built by its ``from_checkpoint``, are the
simulators' (``tasks.SIMULATORS[sim].goal_embedders``, found with ``tasks.goal_embedders()``; nothing here names a
simulator or an embedder):

* ``crafterclip``: :class:`tasks.crafter.crafterclip.embedder.CrafterCLIPEmbedder` (default weights
  ``downloads/crafter/crafterclip.pt``);
* ``mineclip``: :class:`steve1.mineclip.MineCLIPEmbedder` (default weights ``downloads/mineclip_attn.pth``; on
  CUDA under float16 autocast as upstream). The episodes' 128x128 frames are upsampled to 160x256, which is close to,
  not equal to, embedding the raw frames at conversion time (see ``MineCLIPEmbedder``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any, Optional, Sequence

import torch
from tqdm import tqdm

from steve1.data.EpisodeStorage import EpisodeReadError, EpisodeStorage, list_episode_dirs
from steve1.data.generation.window_embedding import embed_episode_windows

def make_embedder(name: str, weights: Optional[str], device: str) -> Any:
    """Build the goal embedder ``name`` (a simulator's, from the registry ``tasks.goal_embedders()``) from its
    weights file (default weights when ``weights`` is None).

    Raises:
        ValueError: unknown embedder name.
        FileNotFoundError and the embedder's own load errors: missing or wrong weights.
    """
    import tasks

    embedders = tasks.goal_embedders()
    if name not in embedders:
        raise ValueError(f"unknown embedder {name!r}; known: {', '.join(embedders)}")
    return embedders[name].build(weights, device)


def _embedder_names() -> dict:
    import tasks

    return tasks.goal_embedders()


def file_md5(path: os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan(data_dir: str, embedder_name: str, weights_md5: Optional[str], overwrite: bool
         ) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Sort the episodes of ``data_dir`` into (to embed, already embedded, invalid with reason).

    An episode is already embedded when it has ``embeds_attn.pkl`` and its metadata names the same embedder with
    the same weights (md5), or the same embedder with no weights recorded (e.g. MineCLIP embeddings written by
    ``convert_from_contractor.py``). Embeddings without an embedder in the metadata (an interrupted run) are redone.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: episodes hold embeddings of another embedder or other weights and ``overwrite`` is False.
    """
    todo, done, invalid, foreign = [], [], [], []
    for path in list_episode_dirs(data_dir):
        episode = EpisodeStorage(path)
        reason = episode.invalid_reason(for_training=False)
        if reason is not None:
            invalid.append((path, reason))
            continue
        if overwrite or not episode.has_embeds():
            todo.append(path)
            continue
        meta = episode.load_metadata()
        previous = meta.get("embedder")
        previous_md5 = (meta.get("embedder_weights") or {}).get("md5")
        if previous is None:
            todo.append(path)  # embeddings of unknown origin (e.g. an interrupted run): embed again
        elif previous == embedder_name and (previous_md5 is None or weights_md5 is None or previous_md5 == weights_md5):
            done.append(path)
        else:
            foreign.append((path, f"{previous} (weights {meta.get('embedder_weights')})"))
    if foreign:
        kinds = sorted({k for _, k in foreign})
        raise ValueError(f"{data_dir}: {len(foreign)} episodes already hold embeddings of another goal embedder or "
                         f"other weights ({'; '.join(kinds)}; e.g. {foreign[0][0]}); a dataset must not mix goal "
                         f"spaces: pass --overwrite to replace them all with {embedder_name!r} (md5 {weights_md5})")
    return todo, done, invalid


def embed_dataset(data_dir: str, embedder: Any, embedder_name: str, weights_info: dict, batch_size: int = 64,
                  overwrite: bool = False, progress: bool = True) -> dict:
    """Embed every episode of ``data_dir`` that needs it (module docstring). Returns a summary dict."""
    t0 = time.time()
    todo, done, invalid = plan(data_dir, embedder_name, weights_info.get("md5"), overwrite)
    for path, reason in invalid:
        print(f"skipping {path}: {reason}", file=sys.stderr)
    n_frames = 0
    bar = tqdm(todo, desc=f"embedding with {embedder_name}", unit="episode", disable=not progress)
    for path in bar:
        episode = EpisodeStorage(path)
        frames = episode.load_frame_array()
        embeds = embed_episode_windows(embedder, frames, batch_size=batch_size)
        episode.update_embeds(embeds)
        episode.update_metadata({"embedder": embedder_name, "embed_dim": int(embedder.embed_dim),
                                 "embedder_weights": weights_info})
        n_frames += len(frames)
        bar.set_postfix(frames_per_s=f"{n_frames / max(time.time() - t0, 1e-9):.0f}")
    seconds = time.time() - t0
    return {"data_dir": data_dir, "embedder": embedder_name, "embedded": len(todo), "skipped_existing": len(done),
            "invalid": len(invalid), "frames_embedded": n_frames, "seconds": round(seconds, 1),
            "frames_per_second": round(n_frames / seconds, 1) if seconds > 0 else None}


def build_parser() -> argparse.ArgumentParser:
    """The flags (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="embed_episodes.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", required=True, choices=sorted(_embedder_names()),
                        help="goal embedder (a simulator's, tasks/__init__.py SIMULATORS)")
    parser.add_argument("--weights", default=None, help="weights file (default: the embedder's, see above)")
    parser.add_argument("--data_dir", required=True, help="dataset folder of EpisodeStorage episodes")
    parser.add_argument("--batch_size", type=int, default=64, help="clips per model call")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    parser.add_argument("--torch_threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--overwrite", action="store_true", help="re-embed episodes that already have embeddings")
    parser.add_argument("--no_progress", action="store_true", help="no tqdm bar")
    return parser


def check_args(args: argparse.Namespace) -> str:
    """Check the flags before any episode is touched; returns the weights path (``--weights`` or the embedder's
    default).

    Raises:
        steve1.utils.cli.UsageError: naming the flag, the value and what was expected.
    """
    from steve1.utils.checks import Range, check_input_dir, check_input_file, check_ranges

    check_ranges(args, {"batch_size": Range(int, lo=1, note="clips per model call"),
                        "torch_threads": Range(int, lo=1, optional=True)})
    if args.device is not None:
        from steve1.utils.checks import check_device

        check_device(args.device, "--device")
    check_input_dir(args.data_dir, "--data_dir", "a dataset folder of episode directories")
    weights = args.weights or _embedder_names()[args.embedder].default_weights
    check_input_file(weights, "--weights" if args.weights else f"--weights (default of --embedder {args.embedder})",
                     f"the {args.embedder} weights file")
    return weights


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Entry point (see ``--help``). A user's mistake (a flag out of range, a missing dataset folder, a missing or
    unreadable weights file, a dataset of another goal space without ``--overwrite``) ends the program with one line
    on stderr naming the flag, and exit code 2, before any episode is written (``steve1.utils.cli``)."""
    from steve1.utils.checks import run_main

    return run_main("embed_episodes.py", lambda: _main(argv), extra=(EpisodeReadError,))


def _main(argv: Optional[Sequence[str]]) -> dict:
    from steve1.utils.cli import UsageError

    args = build_parser().parse_args(argv)
    weights = check_args(args)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    weights_info = {"path": os.path.basename(weights), "md5": file_md5(weights)}
    try:
        plan(args.data_dir, args.embedder, weights_info["md5"], args.overwrite)  # fail on mixed goal spaces early
    except ValueError as e:
        raise UsageError(f"--data_dir {e}") from e
    try:
        embedder = make_embedder(args.embedder, weights, device)
    except (ValueError, KeyError, RuntimeError, OSError) as e:  # not a weights file of this embedder
        raise UsageError(f"--weights {weights}: not usable as {args.embedder} weights: {type(e).__name__}: {e}") from e
    summary = embed_dataset(args.data_dir, embedder, args.embedder, weights_info, args.batch_size, args.overwrite,
                            progress=not args.no_progress)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
