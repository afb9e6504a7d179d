"""Atomic file writes and RNG snapshots: the one home for the helpers every stage uses to never leave a
half-written artefact behind and to resume a run to the same state.

Every writer creates the parent folder, writes a uniquely named temporary sibling
(``.<name>.tmp-<pid>-<8 hex digits>[suffix]``, see :data:`TMP_MARKER`) and renames it over the target with
``os.replace`` (atomic on POSIX), removing the temporary file if anything fails. :func:`atomic_output` hands the
temporary path to a writer that needs a file name (a stream, a memory map, a library's ``save``);
:func:`atomic_output_dir` does the same for a whole directory.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Union

import numpy as np
import yaml

PathLike = Union[str, os.PathLike]

#: Part of the name of every temporary sibling written here (``.<name>.tmp-<pid>-<hex>``): a producer that cleans
#: up after a killed run (or a reader that skips unfinished writes) looks for it.
TMP_MARKER = ".tmp-"


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}{TMP_MARKER}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


@contextlib.contextmanager
def atomic_output(path: PathLike, suffix: str = "") -> Iterator[Path]:
    """Context manager: write ``path`` atomically through a temporary file.

    Creates the parent folder and yields a hidden temporary sibling path (not created; ``suffix`` is appended to
    its name for writers that choose the format from the extension, e.g. ``".png"`` for matplotlib, ``".zip"`` for
    SB3). When the block ends normally the temporary file is renamed over ``path`` (``os.replace``); when it raises,
    the temporary file is removed and the exception propagates, leaving ``path`` as it was.

    Raises:
        FileNotFoundError: the block ended normally without creating the temporary file.

    Example::

        with atomic_output("out/video.mp4") as tmp:
            with open(tmp, "wb") as f:
                shutil.copyfileobj(response, f)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_output_dir(path: PathLike) -> Iterator[Path]:
    """Context manager: create directory ``path`` atomically through a temporary sibling directory.

    Creates the parent folder and yields a new, empty, hidden sibling directory
    (``.<name>.tmp-<pid>-<hex>``, see :data:`TMP_MARKER`) to fill. When the block ends normally the directory is
    renamed to ``path`` with ``os.rename`` (atomic; unlike a file, an existing non-empty ``path`` is not replaced);
    when anything raises, the temporary directory and its contents are removed and the exception propagates.

    Raises:
        OSError: (on leaving the block) ``path`` exists and is not an empty directory (e.g. it appeared meanwhile).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _atomic(path: PathLike, write: Callable[[Path], None]) -> None:
    with atomic_output(path) as tmp:
        write(tmp)


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
    import torch  # imported here: the file writers above are used by modules that need no torch

    _atomic(path, lambda tmp: torch.save(obj, tmp))


def rng_state() -> dict[str, Any]:
    """Snapshot of Python's, NumPy's global and torch's (CPU, and CUDA when present) random generators."""
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned (the CUDA part only where CUDA is available)."""
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("torch_cuda", state.get("cuda"))
    if cuda is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
