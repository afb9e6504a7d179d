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
Resumable: an episode whose embeddings exist and whose metadata names the same embedder is skipped (``--overwrite``
re-embeds everything); an episode with embeddings from *another* embedder stops the run before anything is written,
unless ``--overwrite``, so that a dataset never mixes two goal spaces. Episodes that are not valid (unfinished
writes, < 16 frames) are reported and skipped.

Embedders (``--embedder``), each a :class:`steve1.mineclip.GoalEmbedder` built by its ``from_checkpoint``:

* ``crafterclip``: :class:`tasks.crafter.crafterclip.embedder.CrafterCLIPEmbedder` (default weights
  ``downloads/crafter/crafterclip.pt``);
* ``mineclip``: :class:`steve1.mineclip.MineCLIPEmbedder` (default weights ``downloads/mineclip_attn.pth``; on
  CUDA under float16 autocast as upstream). The episodes' 128x128 frames are upsampled to 160x256, which is close to,
  not equal to, embedding the raw frames at conversion time (see ``MineCLIPEmbedder``).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from tqdm import tqdm

from steve1.data.EpisodeStorage import EpisodeReadError, EpisodeStorage, list_episode_dirs
from steve1.data.generation.window_embedding import embed_episode_windows

#: ``--embedder`` name -> (module, class, default weights); the class has ``from_checkpoint(path, device, **kw)``.
EMBEDDERS: dict[str, tuple[str, str, str]] = {
    "crafterclip": ("tasks.crafter.crafterclip.embedder", "CrafterCLIPEmbedder", "downloads/crafter/crafterclip.pt"),
    "mineclip": ("steve1.mineclip.embedder", "MineCLIPEmbedder", "downloads/mineclip_attn.pth"),
}


def make_embedder(name: str, weights: Optional[str], device: str) -> Any:
    """Build the goal embedder ``name`` from its weights file (default weights when ``weights`` is None).

    Raises:
        ValueError: unknown embedder name.
        FileNotFoundError and the embedder's own load errors: missing or wrong weights.
    """
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedder {name!r}; known: {', '.join(EMBEDDERS)}")
    module, cls_name, default = EMBEDDERS[name]
    cls = getattr(importlib.import_module(module), cls_name)
    kwargs = {"amp": True} if name == "mineclip" else {}
    return cls.from_checkpoint(weights or default, device=device, **kwargs)


def file_md5(path: os.PathLike) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def plan(data_dir: str, embedder_name: str, overwrite: bool) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """Sort the episodes of ``data_dir`` into (to embed, already embedded, invalid with reason).

    Raises:
        FileNotFoundError: ``data_dir`` does not exist.
        ValueError: episodes hold embeddings of another embedder and ``overwrite`` is False.
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
        previous = episode.load_metadata().get("embedder")
        if previous == embedder_name:
            done.append(path)
        elif previous is None:
            todo.append(path)  # embeddings of unknown origin (e.g. an interrupted run): embed again
        else:
            foreign.append((path, previous))
    if foreign:
        names = sorted({p for _, p in foreign})
        raise ValueError(f"{data_dir}: {len(foreign)} episodes already hold embeddings of another embedder "
                         f"({', '.join(names)}; e.g. {foreign[0][0]}); pass --overwrite to replace them with "
                         f"{embedder_name!r} embeddings")
    return todo, done, invalid


def embed_dataset(data_dir: str, embedder: Any, embedder_name: str, weights_info: dict, batch_size: int = 64,
                  overwrite: bool = False, progress: bool = True) -> dict:
    """Embed every episode of ``data_dir`` that needs it (module docstring). Returns a summary dict."""
    t0 = time.time()
    todo, done, invalid = plan(data_dir, embedder_name, overwrite)
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


def main(argv: Optional[Sequence[str]] = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", required=True, choices=sorted(EMBEDDERS), help="goal embedder")
    parser.add_argument("--weights", default=None, help="weights file (default: the embedder's, see above)")
    parser.add_argument("--data_dir", required=True, help="dataset folder of EpisodeStorage episodes")
    parser.add_argument("--batch_size", type=int, default=64, help="clips per model call")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda if available)")
    parser.add_argument("--torch_threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--overwrite", action="store_true", help="re-embed episodes that already have embeddings")
    parser.add_argument("--no_progress", action="store_true", help="no tqdm bar")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch_size must be >= 1, got {args.batch_size}")
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    weights = args.weights or EMBEDDERS[args.embedder][2]
    plan(args.data_dir, args.embedder, args.overwrite)  # fail on mixed embedders before loading the model
    embedder = make_embedder(args.embedder, weights, device)
    weights_info = {"path": os.path.basename(weights), "md5": file_md5(weights)}
    summary = embed_dataset(args.data_dir, embedder, args.embedder, weights_info, args.batch_size, args.overwrite,
                            progress=not args.no_progress)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    try:
        main()
    except (EpisodeReadError, ValueError, FileNotFoundError) as e:
        sys.exit(f"embed_episodes: {e}")
