"""Goal embeddings of every sliding window of an episode (spec §3.4): the one implementation of the window logic,
used by ``convert_from_contractor.py`` and by ``embed_episodes.py``.

For an episode of L frames and a goal embedder whose clips are ``window`` = 16 frames long,
``embeds[t]`` for ``t >= 15`` is the embedding of frames ``[t-15, t]`` (stride 1) and ``embeds[t] = None`` for
``t < 15``: exactly the ``embeds_attn.pkl`` layout of :mod:`steve1.data.EpisodeStorage`.

Two ways to compute it, with the same result (up to float rounding):

* **per window** (any :class:`steve1.mineclip.GoalEmbedder`): ``encode_video`` on batches of ``batch_size``
  windows of ``window`` frames. This is what upstream STEVE-1 does; every frame goes through the image encoder
  ``window`` times.
* **per frame** (embedders that also provide ``encode_frames(frames [N, H, W, 3]) -> features [N, F]`` and
  ``pool_frames(features [B, window, F]) -> [B, D]``, i.e. whose clip embedding is a temporal pooling of
  independent per-frame features, as MineCLIP's is): every frame is encoded once, then the features of each window
  are pooled. The image encoder dominates the cost, so this is about ``window`` times less work.

Where we deliberately differ from upstream: embeddings are stored as float32 ``(1, D)`` arrays whatever precision
the model ran in (upstream stored what ``torch.cuda.amp.autocast`` produced).
"""
from __future__ import annotations

from typing import Any, List, Optional

import numpy as np
import torch

__all__ = ["embed_episode_windows", "has_per_frame_path"]


def has_per_frame_path(embedder: Any) -> bool:
    """True if ``embedder`` provides ``encode_frames`` and ``pool_frames`` (the per-frame path, see the module doc)."""
    return callable(getattr(embedder, "encode_frames", None)) and callable(getattr(embedder, "pool_frames", None))


def _to_numpy_rows(embeds: torch.Tensor, expected_rows: int, where: str) -> np.ndarray:
    out = embeds.detach().float().cpu().numpy()
    if out.ndim != 2 or out.shape[0] != expected_rows:
        raise ValueError(f"{where} returned shape {tuple(out.shape)}, expected [{expected_rows}, D]")
    return out


@torch.no_grad()
def embed_episode_windows(embedder: Any, frames: np.ndarray, batch_size: int = 32, per_frame: Optional[bool] = None,
                          progress: Any = None) -> List[Optional[np.ndarray]]:
    """Goal embedding of every ``window``-frame window of an episode.

    Args:
        embedder: a :class:`steve1.mineclip.GoalEmbedder` (``encode_video``, ``window``; optionally
            ``encode_frames`` / ``pool_frames``).
        frames: uint8 ``[L, H, W, 3]`` RGB frames of one episode, in the size the embedder wants (MineCLIP: the
            160x256 frames of :func:`steve1.data.contractor.load_episode`; other sizes are resized by the embedder).
        batch_size: windows per model call (the per-frame path encodes ``batch_size * window`` frames per call, the
            same number of images).
        per_frame: force (True) or forbid (False) the per-frame path; default: use it when the embedder has it.
        progress: optional tqdm-like object; ``update(n)`` is called with the number of windows done.

    Returns:
        list of L entries: None for ``t < window - 1``, then float32 ``(1, D)`` arrays, entry ``t`` embedding frames
        ``[t - window + 1, t]``. All None when ``L < window``.

    Raises:
        ValueError: ``frames`` is not uint8 ``[L, H, W, 3]``, ``batch_size < 1``, ``per_frame=True`` for an embedder
            without the per-frame methods, or the embedder returns the wrong number of rows.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"embed_episode_windows: frames must be uint8 [L, H, W, 3], got {frames.dtype} "
                         f"{list(frames.shape)}")
    if batch_size < 1:
        raise ValueError(f"embed_episode_windows: batch_size must be >= 1, got {batch_size}")
    window = int(getattr(embedder, "window", 16))
    length = len(frames)
    n_windows = max(0, length - window + 1)
    embeds: List[Optional[np.ndarray]] = [None] * length
    if n_windows == 0:
        return embeds
    if per_frame is None:
        per_frame = has_per_frame_path(embedder)
    elif per_frame and not has_per_frame_path(embedder):
        raise ValueError(f"{type(embedder).__name__} has no encode_frames/pool_frames: per_frame=True is impossible")

    rows: List[np.ndarray] = []
    if per_frame:
        chunk = batch_size * window
        features = torch.cat([embedder.encode_frames(frames[i:i + chunk]) for i in range(0, length, chunk)])
        if features.shape[0] != length:
            raise ValueError(f"{type(embedder).__name__}.encode_frames returned {features.shape[0]} rows for "
                             f"{length} frames")
        windows = features.unfold(0, window, 1).movedim(-1, 1)  # [n_windows, window, F], a view
        for start in range(0, n_windows, batch_size):
            batch = windows[start:start + batch_size]
            rows.append(_to_numpy_rows(embedder.pool_frames(batch.contiguous()), len(batch),
                                       f"{type(embedder).__name__}.pool_frames"))
            if progress is not None:
                progress.update(len(batch))
    else:
        offsets = np.arange(window)
        for start in range(0, n_windows, batch_size):
            stop = min(start + batch_size, n_windows)
            index = np.arange(start, stop)[:, None] + offsets[None, :]  # [b, window]
            rows.append(_to_numpy_rows(embedder.encode_video(frames[index]), stop - start,
                                       f"{type(embedder).__name__}.encode_video"))
            if progress is not None:
                progress.update(stop - start)
    all_rows = np.concatenate(rows).astype(np.float32, copy=False)
    for i, row in enumerate(all_rows):
        embeds[window - 1 + i] = row.reshape(1, -1).copy()
    return embeds
