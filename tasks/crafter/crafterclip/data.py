"""Clips of the Crafter play dataset for CrafterCLIP: captioning episodes, choosing clips, caching their frames.

* :func:`load_episode_captions` captions every 16-frame clip of an EpisodeStorage episode from its ``infos.npz``
  and ``actions.pkl`` (:func:`.captions.caption_clips`).
* :func:`select_clips` chooses which clips to train or evaluate on: rare captions are kept (up to
  ``max_per_caption`` clips each), common ones ("walk left", "stand still") are subsampled, and clips of one
  episode lie at least ``min_gap`` frames apart so that a single event is not cached 15 times.
* :class:`ClipCache` decodes the chosen clips once into a uint8 ``.npy`` memory map ``[N, 16, H, W, 3]`` (plus their
  caption rows), written atomically and reused by key, so training reads frames at memory speed.

Clip ``(e, t)`` = frames ``[t-15, t]`` of episode ``e`` (spec §3.4 window semantics), t >= 15.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
from tqdm import tqdm

from steve1.data.EpisodeStorage import EpisodeReadError, EpisodeStorage
from steve1.utils.io import atomic_output, atomic_write_text
from tasks.crafter.crafterclip.captions import (CAPTIONS, FRAMES_PER_CLIP, N_FINAL_STATE_PARTS, NEAR_THINGS,
                                                ClipCaptions, caption_clips)

PathLike = Union[str, os.PathLike]


def load_episode_captions(episode_dir: PathLike, window: int = FRAMES_PER_CLIP) -> ClipCaptions:
    """Caption every clip of one episode from its per-frame infos (and actions, for "attack a <creature>").

    Raises:
        EpisodeReadError: the episode has no readable ``infos.npz`` (e.g. a Minecraft episode) or ``actions.pkl``.
        CaptionError: the infos lack a key the captions need (the message names the episode).
    """
    episode = EpisodeStorage(episode_dir)
    infos = episode.load_infos()
    actions = episode.load_actions() if "target" in infos else None
    if actions is not None:
        try:
            actions = np.asarray(actions, dtype=np.int64)
        except (TypeError, ValueError) as e:
            raise EpisodeReadError(f"{episode_dir}/actions.pkl: expected Crafter action ids (ints): {e}") from e
    return caption_clips(infos, actions, window=window, source=str(episode_dir))


def select_clips(captions: Sequence[ClipCaptions], n_clips: int, max_per_caption: int, min_gap: int,
                 seed: int, window: int = FRAMES_PER_CLIP) -> np.ndarray:
    """Choose up to ``n_clips`` clips, balanced over primary captions.

    Captions are served rarest first; each gets ``min(max_per_caption, remaining budget / remaining captions)``
    clips drawn at random among its clips, skipping any clip closer than ``min_gap`` frames to a clip already
    chosen in the same episode; what a caption cannot fill passes to the next ones.

    Args:
        captions: one :class:`ClipCaptions` per episode.
        n_clips: total budget.
        max_per_caption: cap per primary caption.
        min_gap: minimum distance in frames between the end frames of two chosen clips of one episode (>= 1).
        seed: the numpy seed of the draw.

    Returns:
        int64 [N, 2]: (episode index, end frame t) per chosen clip, sorted by episode then t.
    """
    if min_gap < 1 or n_clips < 0 or max_per_caption < 1:
        raise ValueError(f"need min_gap >= 1, n_clips >= 0, max_per_caption >= 1; got {min_gap}, {n_clips}, "
                         f"{max_per_caption}")
    rng = np.random.default_rng(seed)
    eps = np.concatenate([np.full(len(c), e, np.int64) for e, c in enumerate(captions)] or [np.zeros(0, np.int64)])
    ts = np.concatenate([np.arange(len(c), dtype=np.int64) for c in captions] or [np.zeros(0, np.int64)])
    prim = np.concatenate([c.primary for c in captions] or [np.zeros(0, np.int64)])
    valid = prim >= 0
    eps, ts, prim = eps[valid], ts[valid], prim[valid]
    occupied = [np.zeros(len(c), bool) for c in captions]
    counts = np.bincount(prim, minlength=len(CAPTIONS))
    order = [k for k in np.argsort(counts, kind="stable") if counts[k] > 0]
    chosen: list[tuple[int, int]] = []
    budget = n_clips
    for i, k in enumerate(order):
        quota = min(max_per_caption, budget // (len(order) - i)) if budget > 0 else 0
        if quota <= 0:
            continue
        idx = np.flatnonzero(prim == k)
        rng.shuffle(idx)
        taken = 0
        for j in idx:
            e, t = int(eps[j]), int(ts[j])
            occ = occupied[e]
            if occ[max(0, t - min_gap + 1): t + min_gap].any():
                continue
            occ[t] = True
            chosen.append((e, t))
            taken += 1
            if taken >= quota:
                break
        budget -= taken
    out = np.array(sorted(chosen), dtype=np.int64).reshape(-1, 2)
    return out


def stride_clips(captions: Sequence[ClipCaptions], stride: int, window: int = FRAMES_PER_CLIP) -> np.ndarray:
    """Every ``stride``-th clip of every episode (end frames t = 15, 15 + stride, ...): int64 [N, 2] (episode, t).
    The natural distribution of the data, for prompt retrieval."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    rows = [(e, t) for e, c in enumerate(captions) for t in range(window - 1, len(c), stride)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


@dataclass
class ClipSet:
    """Chosen clips with their captions.

    Attributes:
        episode_dirs: the episodes (list of str).
        clips: int64 [N, 2] (episode index, end frame t).
        captions: bool [N, len(CAPTIONS)] caption rows.
        primary: int64 [N] primary caption index.
        frames: uint8 [N, 16, H, W, 3] (a memory map) or None if not loaded.
        final_state: int8 [N, N_FINAL_STATE_PARTS] final-state parts of each clip (-1: absent; see
            :func:`.captions.final_state`), or None (all absent).
        in_view: int8 [N, len(NEAR_THINGS)]: 1 when the clip's last frame shows the thing, 0 when not, -1 when its
            episode has no ``view`` infos; or None (all unknown).
    """

    episode_dirs: list
    clips: np.ndarray
    captions: np.ndarray
    primary: np.ndarray
    frames: Optional[np.ndarray] = None
    final_state: Optional[np.ndarray] = None
    in_view: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.clips)


def clip_labels(captions: Sequence[ClipCaptions], clips: np.ndarray) -> dict[str, np.ndarray]:
    """The caption rows, primary captions, final-state parts and view flags of ``clips`` (int64 [N, 2]):
    ``{"captions": bool [N, C], "primary": int64 [N], "final_state": int8 [N, P], "in_view": int8 [N, K]}`` (see
    :class:`ClipSet`)."""
    n_near = len(NEAR_THINGS)
    if not len(clips):
        return {"captions": np.zeros((0, len(CAPTIONS)), bool), "primary": np.zeros(0, np.int64),
                "final_state": np.zeros((0, N_FINAL_STATE_PARTS), np.int8), "in_view": np.zeros((0, n_near), np.int8)}
    in_view = np.full((len(clips), n_near), -1, np.int8)
    for i, (e, t) in enumerate(clips):
        if captions[e].in_view is not None:
            in_view[i] = captions[e].in_view[t]
    return {"captions": np.stack([captions[e].captions[t] for e, t in clips]),
            "primary": np.array([captions[e].primary[t] for e, t in clips], dtype=np.int64),
            "final_state": np.stack([captions[e].final_state[t] for e, t in clips]).astype(np.int8),
            "in_view": in_view}


def clip_set(episode_dirs: Sequence[str], captions: Sequence[ClipCaptions], clips: np.ndarray) -> ClipSet:
    """Gather the caption rows and final states of ``clips`` (int64 [N, 2]) into a :class:`ClipSet` (frames not
    loaded)."""
    labels = clip_labels(captions, clips)
    return ClipSet(list(episode_dirs), clips, labels["captions"], labels["primary"],
                   final_state=labels["final_state"], in_view=labels["in_view"])


class ClipCache:
    """Frames of a :class:`ClipSet` decoded once into ``<cache_dir>/<key>/frames.npy`` (uint8 [N, 16, H, W, 3],
    memory-mapped on read) with ``index.json`` (episodes, clips, caption rows). The key hashes the episode list, the
    clips and the window, so a changed selection builds a new cache; a finished cache is never rewritten.

    Writing is atomic: frames go to a temporary file that is renamed when complete, and ``index.json`` is written
    last, so an interrupted build is started again rather than read.
    """

    def __init__(self, cache_dir: PathLike, window: int = FRAMES_PER_CLIP):
        self.cache_dir = Path(cache_dir)
        self.window = window

    def key(self, clips: ClipSet) -> str:
        h = hashlib.sha1()
        h.update(json.dumps([os.path.normpath(p) for p in clips.episode_dirs]).encode())
        h.update(clips.clips.tobytes())
        h.update(str(self.window).encode())
        return h.hexdigest()[:16]

    def load_or_build(self, clips: ClipSet, desc: str = "caching clips") -> ClipSet:
        """Return ``clips`` with ``frames`` set to the memory map, building the cache first if needed.

        Raises:
            EpisodeReadError: an episode's frames cannot be read (names the file).
            ValueError: the episodes hold frames of different sizes.
        """
        folder = self.cache_dir / self.key(clips)
        frames_path, index_path = folder / "frames.npy", folder / "index.json"
        if not index_path.is_file():
            self._build(clips, folder, frames_path, index_path, desc)
        frames = np.load(frames_path, mmap_mode="r")
        if frames.shape[0] != len(clips) or frames.shape[1] != self.window:
            raise ValueError(f"{frames_path}: cache holds {list(frames.shape)}, expected {len(clips)} clips of "
                             f"{self.window} frames; delete {folder} to rebuild it")
        return dataclasses.replace(clips, frames=frames)

    def _build(self, clips: ClipSet, folder: Path, frames_path: Path, index_path: Path, desc: str) -> None:
        with atomic_output(frames_path) as tmp:
            out = None
            by_episode: dict[int, list[int]] = {}
            for i, (e, _) in enumerate(clips.clips):
                by_episode.setdefault(int(e), []).append(i)
            for e in tqdm(sorted(by_episode), desc=desc, unit="episode"):
                rows = by_episode[e]
                ends = clips.clips[rows, 1]
                lo, hi = int(ends.min()) - self.window + 1, int(ends.max()) + 1
                episode_frames = EpisodeStorage(clips.episode_dirs[e]).load_frame_array((lo, hi))
                if out is None:
                    shape = (len(clips), self.window) + episode_frames.shape[1:]
                    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
                elif episode_frames.shape[1:] != out.shape[2:]:
                    raise ValueError(f"{clips.episode_dirs[e]}: frames of shape {episode_frames.shape[1:]}, "
                                     f"other episodes have {out.shape[2:]}")
                for i, t in zip(rows, ends):
                    s = int(t) - self.window + 1 - lo
                    out[i] = episode_frames[s: s + self.window]
            if out is None:
                raise ValueError("no clips to cache")
            out.flush()
            del out
        index = {"episode_dirs": clips.episode_dirs, "clips": clips.clips.tolist(), "window": self.window}
        atomic_write_text(index_path, json.dumps(index))
