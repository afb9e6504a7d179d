"""The on-disk episode layout shared by the Minecraft contractor data and the Crafter play data (spec §3.5).

One episode is one directory::

    <episode_dir>/
        frames.mp4 | frames.npz | frames.npy   agent frames, L x (H, W, 3) uint8 RGB once loaded (see below)
        actions.pkl       pickle: list of L env actions (MineRL action dicts for Minecraft, ints for Crafter)
        embeds_attn.pkl   optional, pickle: list of L goal embeddings, None for t < 15 then float (1, D) arrays
                          (D = 512 for MineCLIP); written later by a separate embedding step (update_embeds)
        infos.npz         optional, per-frame simulator state: name -> array [L, ...] (Crafter: see below)
        metadata.json     free-form dict, e.g. {"sim": "crafter", "world_seed": ..., "policy": ...} or
                          {"contractor_version": "8.x", "contractor_index": idx}
        len.txt           ASCII int L, the episode length in frames

Row t of every per-frame component belongs together: ``frames[t]`` is the observation on which ``actions[t]``
was taken, ``embeds[t]`` is the goal embedding of the clip ending at ``frames[t]`` and ``infos[k][t]`` is the
simulator state *shown in* ``frames[t]`` (i.e. after the reset for t = 0, after ``actions[t-1]`` otherwise, and
before ``actions[t]``). What ``actions[L-1]`` led to is not stored as a frame; a producer keeps it in
``metadata.json`` if it matters (the Crafter play data keeps the final achievements there).

Frame formats, chosen at write time (``frame_format``) and detected on read:

* ``mp4``: the official contractor format: codec mp4v, 20 fps, stored BGR (lossy). Read back as RGB.
* ``npz``: lossless, zlib-compressed ``uint8 [L, H, W, 3]`` RGB under the key ``frames``. The default for
  Crafter: its 64x64 frames compress to about a tenth (1M frames ~ 1.2 GB) and an episode decodes in
  ~0.03 ms/frame, and a lossy codec would blur the 7x7-pixel tiles and inventory digits the goal embedder reads.
* ``npy``: lossless and uncompressed; memory-mapped on read, so ``only_range`` reads only that slice.

Where we deliberately differ from upstream STEVE-1/PTGM:

* read errors raise :class:`EpisodeReadError` naming the file (upstream prints and calls ``sys.exit(0)``, which
  silently kills a dataloader worker; spec §12.1.16), and paths may contain ``'.'``;
* an episode is written into a hidden temporary sibling directory and renamed into place, and embeddings and
  metadata are replaced with ``os.replace``: an interrupted write never leaves a directory that reads as valid;
* :meth:`EpisodeStorage.is_valid` returns a bool (upstream returns a ``(bool, reason)`` tuple, which is always
  truthy); :meth:`EpisodeStorage.invalid_reason` gives the reason;
* all components written together must have the same length (upstream silently takes the minimum), and embeddings
  are optional until training.
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from steve1.utils.io import TMP_MARKER, atomic_output_dir, atomic_write_bytes

PathLike = Union[str, os.PathLike]

FRAME_FILES = {"mp4": "frames.mp4", "npz": "frames.npz", "npy": "frames.npy"}
ACTIONS_FILE = "actions.pkl"
EMBEDS_FILE = "embeds_attn.pkl"
INFOS_FILE = "infos.npz"
METADATA_FILE = "metadata.json"
LEN_FILE = "len.txt"
#: Frames before this index have no goal embedding (MineCLIP embeds 16-frame clips).
MIN_EPISODE_FRAMES = 16
#: Upstream's default ``min_frames_training = max(min_btwn_goals + 15, T + 15)`` with T = 640.
DEFAULT_MIN_FRAMES_TRAINING = 655
MP4_FPS = 20.0


class EpisodeReadError(OSError):
    """An episode file is missing, unreadable or inconsistent; the message names the file."""


def _check_frames(frames: Any) -> np.ndarray:
    arr = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [L, H, W, 3], got {arr.dtype} {list(arr.shape)}")
    return arr


class EpisodeStorage:
    """One episode directory (layout in the module docstring).

    Write either by buffering (``append`` per env step, then ``save_episode``) or in one call
    (:meth:`write_episode`). Read with ``load_*``; lengths are in frames (= env steps recorded).

    Args:
        episode_dirpath: the episode directory (need not exist yet; any characters allowed).
        check_valid: raise :class:`EpisodeReadError` at construction if the episode is not valid.
    """

    def __init__(self, episode_dirpath: PathLike, check_valid: bool = False):
        self.episode_dirpath = Path(episode_dirpath)
        self.frames: list[np.ndarray] = []
        self.actions: list[Any] = []
        self.embeds_attn: list[Optional[np.ndarray]] = []
        self.infos: list[Mapping[str, Any]] = []
        if check_valid:
            reason = self.invalid_reason()
            if reason is not None:
                raise EpisodeReadError(f"{self.episode_dirpath}: not a valid episode: {reason}")

    # ------------------------------------------------------------------ paths
    def _path(self, name: str) -> Path:
        return self.episode_dirpath / name

    @property
    def frames_path(self) -> Optional[Path]:
        """Path of the frames file, whichever format exists (None if none).

        Raises:
            EpisodeReadError: more than one frames file exists.
        """
        found = [self._path(n) for n in FRAME_FILES.values() if self._path(n).is_file()]
        if len(found) > 1:
            raise EpisodeReadError(f"{self.episode_dirpath}: several frames files {[p.name for p in found]}")
        return found[0] if found else None

    @property
    def frame_format(self) -> Optional[str]:
        """``"mp4"``, ``"npz"`` or ``"npy"`` (None if the episode has no frames file)."""
        path = self.frames_path
        return None if path is None else path.suffix[1:]

    # ------------------------------------------------------------------ writing
    def append(self, frame: np.ndarray, action: Any, embed: Optional[np.ndarray] = None,
               info: Optional[Mapping[str, Any]] = None) -> None:
        """Buffer one env step: ``frame`` uint8 [H, W, 3] RGB, the ``action`` taken on it, optionally its goal
        embedding (1, D) and its per-frame info (name -> scalar or array, same names every step)."""
        self.frames.append(frame)
        self.actions.append(action)
        self.embeds_attn.append(embed)
        if info is not None:
            self.infos.append(info)

    def save_episode(self, metadata: Optional[dict] = None, frame_format: str = "npz",
                     with_embeds: Optional[bool] = None) -> None:
        """Write the buffered steps atomically (see :meth:`write_episode`). Embeddings are written when any
        buffered embedding is not None, or when ``with_embeds`` says so."""
        if with_embeds is None:
            with_embeds = any(e is not None for e in self.embeds_attn)
        infos = None
        if self.infos:
            if len(self.infos) != len(self.frames):
                raise ValueError(f"{self.episode_dirpath}: {len(self.infos)} infos for {len(self.frames)} frames")
            infos = {k: np.stack([np.asarray(i[k]) for i in self.infos]) for k in self.infos[0]}
        self.write_episode(self.frames, self.actions, metadata=metadata,
                           embeds=self.embeds_attn if with_embeds else None, infos=infos, frame_format=frame_format)

    def write_episode(self, frames: Union[np.ndarray, Sequence[np.ndarray]], actions: Sequence[Any],
                      metadata: Optional[dict] = None, embeds: Optional[Sequence[Optional[np.ndarray]]] = None,
                      infos: Optional[Mapping[str, np.ndarray]] = None, frame_format: str = "npz") -> None:
        """Write a whole episode atomically: into a hidden temporary sibling directory, then renamed into place.

        Args:
            frames: uint8 [L, H, W, 3] RGB (array or list of frames).
            actions: L env actions (picklable).
            metadata: JSON-serialisable dict (default {}).
            embeds: optional list of L entries, None or float (1, D).
            infos: optional name -> array [L, ...] of per-frame state (row t = state shown in frames[t]).
            frame_format: ``"npz"`` (lossless, compressed), ``"npy"`` (lossless, memory-mappable) or ``"mp4"``
                (official mp4v, lossy).

        Raises:
            FileExistsError: the episode directory already exists.
            ValueError: bad shapes/dtypes, mismatched lengths, unknown format, L < 1.
        """
        if frame_format not in FRAME_FILES:
            raise ValueError(f"frame_format must be one of {sorted(FRAME_FILES)}, got {frame_format!r}")
        frames = _check_frames(np.stack(frames) if not isinstance(frames, np.ndarray) else frames)
        length = len(frames)
        if length < 1:
            raise ValueError(f"{self.episode_dirpath}: cannot write an empty episode")
        lengths = {"frames": length, "actions": len(actions)}
        if embeds is not None:
            lengths["embeds"] = len(embeds)
        infos = {k: np.asarray(v) for k, v in (infos or {}).items()}
        lengths.update({f"infos[{k!r}]": len(v) for k, v in infos.items()})
        if len(set(lengths.values())) != 1:
            raise ValueError(f"{self.episode_dirpath}: component lengths differ: {lengths}")
        metadata = dict(metadata or {})
        metadata_bytes = json.dumps(metadata, indent=4).encode()  # fail before touching the disk

        final = self.episode_dirpath
        if final.exists():
            raise FileExistsError(f"episode directory already exists: {final}")
        with atomic_output_dir(final) as tmp:  # the rename fails if `final` appeared meanwhile
            _write_frames(tmp / FRAME_FILES[frame_format], frames, frame_format)
            with open(tmp / ACTIONS_FILE, "wb") as f:
                pickle.dump(list(actions), f)
            if embeds is not None:
                with open(tmp / EMBEDS_FILE, "wb") as f:
                    pickle.dump(list(embeds), f)
            if infos:
                np.savez_compressed(tmp / INFOS_FILE, **infos)
            (tmp / METADATA_FILE).write_bytes(metadata_bytes)
            (tmp / LEN_FILE).write_text(str(length))
        self.frames, self.actions, self.embeds_attn, self.infos = [], [], [], []

    def update_embeds(self, embeds: Sequence[Optional[np.ndarray]]) -> None:
        """Atomically (re)write the goal embeddings: L entries, None for t < 15 then float (1, D) arrays.

        Raises:
            EpisodeReadError: the episode is not complete.
            ValueError: ``len(embeds)`` differs from the episode length.
        """
        length = self.get_len()
        if len(embeds) != length:
            raise ValueError(f"{self._path(EMBEDS_FILE)}: {len(embeds)} embeddings for an episode of {length} frames")
        atomic_write_bytes(self._path(EMBEDS_FILE), pickle.dumps(list(embeds)))

    def update_metadata(self, updates: Mapping[str, Any]) -> None:
        """Atomically merge ``updates`` into ``metadata.json``."""
        metadata = self.load_metadata()
        metadata.update(updates)
        atomic_write_bytes(self._path(METADATA_FILE), json.dumps(metadata, indent=4).encode())

    # ------------------------------------------------------------------ reading
    def get_len(self) -> int:
        """Episode length in frames, from ``len.txt``.

        Raises:
            EpisodeReadError: the file is missing or does not hold an int.
        """
        path = self._path(LEN_FILE)
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError) as e:
            raise EpisodeReadError(f"{path}: cannot read the episode length: {e}") from e

    def __len__(self) -> int:
        return self.get_len()

    def load_frames(self, only_range: Optional[tuple[int, int]] = None, to_rgb: bool = True) -> list:
        """The frames as a length-L list of uint8 [H, W, 3] (RGB unless ``to_rgb=False``, which gives BGR),
        with None outside ``only_range = (start, end)`` (end exclusive) when given (spec §3.5).

        Raises:
            EpisodeReadError: missing or unreadable frames file, or fewer frames than ``len.txt``.
        """
        length = self.get_len()
        start, end = (0, length) if only_range is None else (max(0, int(only_range[0])), min(length, int(only_range[1])))
        out: list = [None] * length
        if end <= start:
            return out
        arr = self.load_frame_array((start, end))
        if not to_rgb:
            arr = arr[..., ::-1]
        for i in range(start, end):
            out[i] = arr[i - start]
        return out

    def load_frame_array(self, only_range: Optional[tuple[int, int]] = None) -> np.ndarray:
        """Frames ``[start, end)`` (all by default) as one uint8 [n, H, W, 3] RGB array.

        Raises:
            EpisodeReadError: missing or unreadable frames file, range outside the episode.
        """
        length = self.get_len()
        start, end = (0, length) if only_range is None else (int(only_range[0]), int(only_range[1]))
        if not 0 <= start <= end <= length:
            raise EpisodeReadError(f"{self.episode_dirpath}: frame range [{start}, {end}) outside [0, {length})")
        path = self.frames_path
        if path is None:
            raise EpisodeReadError(f"{self.episode_dirpath}: no frames file ({', '.join(FRAME_FILES.values())})")
        try:
            if path.suffix == ".npz":
                with np.load(path) as data:
                    arr = data["frames"]
                arr = arr[start:end]
            elif path.suffix == ".npy":
                arr = np.array(np.load(path, mmap_mode="r")[start:end])
            else:
                arr = _read_mp4(path, start, end)
        except EpisodeReadError:
            raise
        except Exception as e:  # corrupt zip/pickle/header: name the file
            raise EpisodeReadError(f"{path}: cannot read frames: {type(e).__name__}: {e}") from e
        if len(arr) != end - start or arr.dtype != np.uint8 or arr.ndim != 4:
            raise EpisodeReadError(f"{path}: expected {end - start} uint8 frames for range [{start}, {end}), "
                                   f"got {arr.dtype} {list(arr.shape)}")
        return arr

    def load_actions(self) -> list:
        """The L env actions (list).

        Raises:
            EpisodeReadError: missing or unreadable ``actions.pkl``.
        """
        return self._load_pickle(ACTIONS_FILE)

    def load_embeds(self) -> list:
        """The L goal embeddings: None (t < 15) or float32 (1, D) arrays (list entries that are not arrays are
        converted, as upstream does).

        Raises:
            EpisodeReadError: missing or unreadable ``embeds_attn.pkl``.
        """
        embeds = self._load_pickle(EMBEDS_FILE)
        for i, e in enumerate(embeds):
            if e is not None and not isinstance(e, np.ndarray):
                embeds[i] = np.asarray(e, dtype=np.float32).reshape(1, -1)
        return embeds

    load_embeds_attn = load_embeds  # upstream name

    def has_embeds(self) -> bool:
        return self._path(EMBEDS_FILE).is_file()

    def load_infos(self) -> dict[str, np.ndarray]:
        """Per-frame state: name -> array [L, ...] (row t = state shown in frames[t]).

        Raises:
            EpisodeReadError: missing or unreadable ``infos.npz``.
        """
        path = self._path(INFOS_FILE)
        try:
            with np.load(path) as data:
                return {k: data[k] for k in data.files}
        except Exception as e:
            raise EpisodeReadError(f"{path}: cannot read per-frame infos: {type(e).__name__}: {e}") from e

    def load_info(self, key: str) -> Optional[np.ndarray]:
        """One per-frame state array of ``infos.npz`` (only that member is decompressed), or None when the episode
        has no ``infos.npz`` or no such key.

        Raises:
            EpisodeReadError: an ``infos.npz`` that exists but cannot be read.
        """
        path = self._path(INFOS_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with np.load(path) as data:
                return data[key] if key in data.files else None
        except Exception as e:
            raise EpisodeReadError(f"{path}: cannot read per-frame infos: {type(e).__name__}: {e}") from e

    def load_metadata(self) -> dict:
        """The ``metadata.json`` dict.

        Raises:
            EpisodeReadError: missing or invalid JSON.
        """
        path = self._path(METADATA_FILE)
        try:
            return json.loads(path.read_text())
        except Exception as e:
            raise EpisodeReadError(f"{path}: cannot read metadata: {type(e).__name__}: {e}") from e

    def _load_pickle(self, name: str) -> list:
        path = self._path(name)
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception as e:
            raise EpisodeReadError(f"{path}: cannot read: {type(e).__name__}: {e}") from e

    # ------------------------------------------------------------------ validity
    def invalid_reason(self, for_training: bool = False, min_frames_training: int = DEFAULT_MIN_FRAMES_TRAINING,
                       require_embeds: Optional[bool] = None) -> Optional[str]:
        """Why the episode is not valid, or None when it is. See :meth:`is_valid`."""
        if require_embeds is None:
            require_embeds = for_training
        d = self.episode_dirpath
        if not d.is_dir():
            return "directory does not exist"
        if TMP_MARKER in d.name:
            return "temporary directory of an unfinished write"
        try:
            if self.frames_path is None:
                return "no frames file"
        except EpisodeReadError as e:
            return str(e)
        required = [ACTIONS_FILE, METADATA_FILE, LEN_FILE] + ([EMBEDS_FILE] if require_embeds else [])
        for name in required:
            if not self._path(name).is_file():
                return f"{name} does not exist"
        try:
            length = self.get_len()
        except EpisodeReadError as e:
            return str(e)
        if length < MIN_EPISODE_FRAMES:
            return f"less than {MIN_EPISODE_FRAMES} frames ({length})"
        if for_training and length < min_frames_training:
            return f"for training: less than min_frames_training ({min_frames_training}) frames ({length})"
        return None

    def is_valid(self, for_training: bool = False, min_frames_training: int = DEFAULT_MIN_FRAMES_TRAINING,
                 require_embeds: Optional[bool] = None) -> bool:
        """True if the episode is complete: frames, ``actions.pkl``, ``metadata.json`` and ``len.txt`` exist and
        L >= 16 (spec §3.5). With ``for_training``, also L >= ``min_frames_training`` and, unless
        ``require_embeds=False``, ``embeds_attn.pkl`` exists. Cheap: reads only ``len.txt``."""
        return self.invalid_reason(for_training, min_frames_training, require_embeds) is None


# ---------------------------------------------------------------------- frame codecs
def _write_frames(path: Path, frames: np.ndarray, frame_format: str) -> None:
    if frame_format == "npz":
        np.savez_compressed(path, frames=frames)
    elif frame_format == "npy":
        np.save(path, frames)
    else:
        import cv2

        height, width = frames.shape[1:3]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), MP4_FPS, (width, height))
        if not writer.isOpened():
            raise OSError(f"{path}: OpenCV cannot open an mp4v writer")
        try:
            for frame in frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))  # RGB -> BGR
        finally:
            writer.release()


def _read_mp4(path: Path, start: int, end: int) -> np.ndarray:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise EpisodeReadError(f"{path}: OpenCV cannot open the video")
    frames = []
    try:
        for i in range(end):
            ok, frame = cap.read()
            if not ok:
                raise EpisodeReadError(f"{path}: video ends after {i} frames, expected at least {end}")
            if i >= start:
                frames.append(frame[..., ::-1])  # BGR -> RGB
    finally:
        cap.release()
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


# ---------------------------------------------------------------------- datasets
def list_episode_dirs(data_dir: PathLike) -> list[str]:
    """Episode directories directly under ``data_dir``, sorted by name (deterministic on any filesystem);
    hidden entries (temporary directories of unfinished writes) and files are skipped. Paths are
    ``os.path.join(data_dir, name)``, i.e. relative when ``data_dir`` is.

    Raises:
        FileNotFoundError: ``data_dir`` does not exist.
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"dataset directory not found: {data_dir}")
    return [os.path.join(data_dir, name) for name in sorted(os.listdir(data_dir))
            if not name.startswith(".") and os.path.isdir(os.path.join(data_dir, name))]


def list_valid_episodes(data_dir: PathLike, for_training: bool = True,
                        min_frames_training: int = DEFAULT_MIN_FRAMES_TRAINING,
                        require_embeds: Optional[bool] = None) -> list[tuple[str, int]]:
    """``(episode_dir, length in frames)`` of the valid episodes under ``data_dir``, sorted by name
    (upstream ``get_valid_episodes``, spec §3.7 step 2)."""
    out = []
    for path in list_episode_dirs(data_dir):
        episode = EpisodeStorage(path)
        if episode.is_valid(for_training, min_frames_training, require_embeds):
            out.append((path, episode.get_len()))
    return out
