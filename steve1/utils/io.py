"""Atomic file writes and RNG snapshots: the one home for the helpers every stage uses to never leave a
half-written artefact behind and to resume a run to the same state.

Every writer creates the parent folder, writes a uniquely named temporary sibling and renames it over the target
with ``os.replace`` (atomic on POSIX), removing the temporary file if anything fails.
"""
from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import numpy as np
import torch
import yaml

PathLike = Union[str, os.PathLike]


def _atomic(path: PathLike, write: Callable[[Path], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _atomic(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: PathLike, data: Any, indent: int = 2) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def atomic_write_yaml(path: PathLike, data: Mapping[str, Any]) -> None:
    """Write ``data`` as YAML (keys in insertion order) to ``path`` atomically."""
    atomic_write_text(path, yaml.safe_dump(dict(data), sort_keys=False))


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save(obj)`` to ``path`` atomically."""
    _atomic(path, lambda tmp: torch.save(obj, tmp))


def rng_state() -> dict[str, Any]:
    """Snapshot of Python's, NumPy's global and torch's (CPU, and CUDA when present) random generators."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (the CUDA part only where CUDA is available)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("torch_cuda", state.get("cuda"))
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
