"""Building MineCLIP with the STEVE-1/PTGM configuration and loading the official checkpoint (spec §3.4).

Reading and checking a checkpoint file is :mod:`steve1.mineclip.checkpoint` (re-exported here).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Mapping, Optional, Union

import torch

from steve1.mineclip.checkpoint import (DEFAULT_MINECLIP_PATH, MINECLIP_ATTN_MD5, file_md5, load_mineclip_state_dict,
                                        read_mineclip_state_dict)
from steve1.mineclip.mineclip import MINECLIP_CONFIG, MineCLIP

__all__ = [
    "MINECLIP_ATTN_MD5",
    "DEFAULT_MINECLIP_PATH",
    "file_md5",
    "read_mineclip_state_dict",
    "load_mineclip_state_dict",
    "load_mineclip",
]


def load_mineclip(
    path: Union[str, os.PathLike] = DEFAULT_MINECLIP_PATH,
    device: Union[str, torch.device] = "cpu",
    md5: Optional[str] = MINECLIP_ATTN_MD5,
    on_md5_mismatch: str = "raise",
    clip_config: Optional[Mapping[str, int]] = None,
    **mineclip_kwargs,
) -> MineCLIP:
    """Build MineCLIP with the STEVE-1/PTGM configuration (spec §3.4), load ``path`` strictly, ``eval()`` it.

    Args:
        path: checkpoint, default :data:`DEFAULT_MINECLIP_PATH`.
        device: where to put the model.
        md5: expected md5 of the file (the official ``attn.pth`` by default); ``None`` skips the check.
        on_md5_mismatch: ``"raise"`` (default) or ``"warn"``.
        clip_config, mineclip_kwargs: override :data:`MINECLIP_CONFIG` / the CLIP sizes (tests, other variants).

    Returns:
        the :class:`MineCLIP` in eval mode on ``device``.

    Raises:
        FileNotFoundError: missing file; ValueError: md5 mismatch (with ``"raise"``) or a wrong checkpoint.
    """
    if on_md5_mismatch not in ("raise", "warn"):
        raise ValueError(f'on_md5_mismatch must be "raise" or "warn", got "{on_md5_mismatch}"')
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MineCLIP checkpoint not found: {path} (run `bash downloads.sh` to fetch {DEFAULT_MINECLIP_PATH})"
        )
    if md5 is not None:
        actual = file_md5(path)
        if actual != md5:
            msg = f"{path}: md5 {actual} != expected {md5} (incomplete download or another checkpoint)"
            if on_md5_mismatch == "raise":
                raise ValueError(msg + "; pass md5=None to skip the check")
            warnings.warn(msg, stacklevel=2)
    config = {**MINECLIP_CONFIG, **mineclip_kwargs}
    model = MineCLIP(**config, clip_config=clip_config)
    load_mineclip_state_dict(model, path, strict=True)
    return model.to(device).eval()
