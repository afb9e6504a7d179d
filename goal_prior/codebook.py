"""The goal codebook's file format, writer and reader, and the code nearest a goal embedding.

A **codebook** is the discrete goal space of PTGM (paper §4.2, spec §7): N goal embeddings chosen from the
dataset by ``goal_prior/generate_codebook.py``. On disk it is the upstream format, so the official PTGM goal
clusters load unchanged: ``centers.pkl`` = a pickle **list of N numpy arrays of shape (1, D)** (float64 from our
generator; upstream MineCLIP: D = 512), in code-index order, not normalised.

The high level picks a code index k; the low-level policy then executes ``get_code(k)``, a float32 (1, D) goal
embedding (spec §9.2). The goal prior is trained on labels ``nearest_code(goal_embedding, codes)``: the code with
the highest **cosine** similarity (spec §8.1, §14.6); both use this module so there is one home for the rule.

The codebook belongs to pre-training (it is written by ``goal_prior/generate_codebook.py`` and read by the goal prior
and by the high level), so it lives in ``goal_prior/``: pre-training imports nothing of the high level.
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from steve1.utils.io import atomic_write_bytes

__all__ = ["KMeansCodebook", "LABEL_SPACES", "nearest_code", "read_codebook_file", "write_codebook"]

#: How a goal embedding is mapped to its code (the goal prior's label): ``cosine`` = the nearest code by cosine
#: (upstream), ``kmeans`` = the k-means cluster in the space the codebook was clustered in (goal_prior/dataset.py).
LABEL_SPACES = ("cosine", "kmeans")


def write_codebook(path: str | os.PathLike, codes: np.ndarray) -> None:
    """Write ``centers.pkl`` atomically: a pickle list of N float64 ``(1, D)`` arrays (spec §7).

    Args:
        path: output file.
        codes: float [N, D].
    Raises:
        ValueError: ``codes`` is not [N, D] with N >= 1.
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 1:
        raise ValueError(f"codes must be [N, D] with N >= 1, got shape {codes.shape}")
    atomic_write_bytes(path, pickle.dumps([codes[k : k + 1].copy() for k in range(codes.shape[0])]))


def read_codebook_file(path: str | os.PathLike) -> np.ndarray:
    """Read and validate a ``centers.pkl`` file.

    Args:
        path: a pickle holding a list (or tuple) of N >= 1 numeric arrays, each of shape (1, D) or (D,), one D.
    Returns:
        float64 array [N, D] (upstream dtype; no normalisation).
    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a pickle, not a non-empty list of arrays, the arrays have different or
            unsupported shapes, or contain NaN/inf. The message names the file and the offending entry.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"codebook file {path!r} does not exist (run goal_prior/generate_codebook.py)")
    try:
        with open(path, "rb") as f:
            entries: Any = pickle.load(f)
    except Exception as exc:  # unpickling errors come in many types
        raise ValueError(f"codebook file {path!r} is not a readable pickle: {exc}") from exc
    if not isinstance(entries, (list, tuple)) or len(entries) == 0:
        raise ValueError(
            f"codebook file {path!r} must hold a non-empty list of (1, D) arrays, got {type(entries).__name__}"
            + (f" of length {len(entries)}" if isinstance(entries, (list, tuple)) else "")
        )
    rows = []
    dim = None
    for k, entry in enumerate(entries):
        try:
            arr = np.asarray(entry, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"codebook file {path!r}: code {k} is not a numeric array ({type(entry).__name__})") from exc
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1 or arr.shape[0] == 0:
            raise ValueError(f"codebook file {path!r}: code {k} has shape {np.shape(entry)}, expected (1, D) or (D,)")
        if dim is None:
            dim = arr.shape[0]
        elif arr.shape[0] != dim:
            raise ValueError(
                f"codebook file {path!r}: codes have mixed dimensions (code 0 has D={dim}, code {k} has "
                f"D={arr.shape[0]})"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"codebook file {path!r}: code {k} contains NaN or inf")
        rows.append(arr)
    return np.stack(rows, axis=0)


def _unit_rows(x: np.ndarray, what: str) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError(f"{what} contains an all-zero vector, whose cosine similarity is undefined")
    return x / norms


def nearest_code(goal_embeds: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Index of the code with the highest cosine similarity to each goal embedding (spec §8.1).

    ``label = argmax_j <g / |g|, c_j / |c_j|>``; ties go to the lowest index (``np.argmax``).

    Args:
        goal_embeds: float [..., D] goal embeddings (any leading shape, e.g. [T, D]); raw, not normalised.
        codes: float [N, D] codebook (``KMeansCodebook.codes``).
    Returns:
        int64 [...] code indices in [0, N).
    Raises:
        ValueError: D differs between the two, or a goal embedding or code is all zeros.
    """
    goal_embeds = np.asarray(goal_embeds, dtype=np.float64)
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2:
        raise ValueError(f"codes must be [N, D], got shape {codes.shape}")
    if goal_embeds.shape[-1] != codes.shape[1]:
        raise ValueError(
            f"goal embeddings have D={goal_embeds.shape[-1]} but the codebook has D={codes.shape[1]}"
        )
    sims = _unit_rows(goal_embeds, "goal embeddings") @ _unit_rows(codes, "codebook").T
    return np.argmax(sims, axis=-1).astype(np.int64)


class KMeansCodebook:
    """The goal codebook read from ``centers.pkl`` (spec §7 "Loader").

    Attributes:
        path: the file it was read from.
        N: number of codes (the high level's ``Discrete(N)`` action space).
        embed_dim: D, the goal-embedding size (512 for MineCLIP).
        codes: float32 [N, D] (a read-only view; row k is code k).

    Raises (constructor): see :func:`read_codebook_file`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        codes = read_codebook_file(self.path).astype(np.float32)
        codes.setflags(write=False)
        self._codes = codes

    @property
    def N(self) -> int:
        return int(self._codes.shape[0])

    def __len__(self) -> int:
        return self.N

    @property
    def embed_dim(self) -> int:
        return int(self._codes.shape[1])

    @property
    def codes(self) -> np.ndarray:
        """float32 [N, D], read-only."""
        return self._codes

    def get_code(self, i: Any) -> np.ndarray:
        """Goal embedding of code ``i`` as a float32 (1, D) array (a fresh copy), ready for the low-level policy.

        Args:
            i: code index: a Python/numpy int, or a one-element array/tensor (e.g. SB3's action of shape (1,)).
        Raises:
            TypeError: ``i`` is not an integer or has more than one element.
            IndexError: ``i`` is outside [0, N).
        """
        arr = np.asarray(i.detach().cpu() if hasattr(i, "detach") else i)
        if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"code index must be a single integer, got {i!r}")
        k = int(arr.reshape(()))
        if not 0 <= k < self.N:
            raise IndexError(f"code index {k} out of range for codebook {self.path!r} with N={self.N} codes")
        return self._codes[k : k + 1].copy()

    def nearest(self, goal_embeds: np.ndarray) -> np.ndarray:
        """Cosine-nearest code index for each goal embedding: :func:`nearest_code` (int64 [...])."""
        return nearest_code(goal_embeds, self._codes)

    def __repr__(self) -> str:
        return f"KMeansCodebook(path={self.path!r}, N={self.N}, embed_dim={self.embed_dim})"
