"""Frame resizing for the VPT agent (spec §4.7).

OpenCV bilinear interpolation (``cv2.INTER_LINEAR``), exactly as the official code does, so frames match
``shared/fixtures/resize_golden.pt`` bit for bit with opencv 5.0 (other OpenCV versions, or non-OpenCV bilinear
resizers, may differ by ±1 grey level). :func:`resize_frame` is the generic resize that other frame consumers
(e.g. a video-text model with its own resolution) build on.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

__all__ = ["AGENT_RESOLUTION", "resize_for_agent", "resize_frame"]

#: (height, width) of the VPT agent's image input, pixels.
AGENT_RESOLUTION: Tuple[int, int] = (128, 128)


def resize_frame(pov: np.ndarray, size: Tuple[int, int], caller: str = "resize_frame") -> np.ndarray:
    """Resize a uint8 RGB frame to ``size`` with ``cv2.resize(..., INTER_LINEAR)``, channels-last.

    The aspect ratio is not kept. A frame already of that size is returned as is (the same array, no copy).

    Args:
        pov: uint8 ``[H, W, 3]`` RGB frame.
        size: target ``(height, width)`` in pixels.
        caller: the function named in the error message (for wrappers with a fixed size).

    Returns:
        uint8 ``[height, width, 3]``.

    Raises:
        ValueError: ``pov`` is not a uint8 ``[H, W, 3]`` array (the message starts with ``caller``).
    """
    pov = np.asarray(pov)
    if pov.dtype != np.uint8 or pov.ndim != 3 or pov.shape[2] != 3:
        raise ValueError(f"{caller}: expected a uint8 frame [H, W, 3], got dtype {pov.dtype} shape {pov.shape}")
    height, width = size
    if pov.shape[:2] == (height, width):
        return pov
    return cv2.resize(pov, (width, height), interpolation=cv2.INTER_LINEAR)  # cv2 takes (width, height)


def resize_for_agent(pov: np.ndarray, size: Tuple[int, int] = AGENT_RESOLUTION) -> np.ndarray:
    """Resize an env frame for the VPT agent (official ``MineRLAgent._env_obs_to_agent`` without the batch axis).

    The aspect ratio is not kept (640x360 is squashed to 128x128). A frame already of that size is returned as is
    (the same array, no copy), as in PTGM's ``agent.py``.

    Args:
        pov: uint8 ``[H, W, 3]`` RGB frame.
        size: target ``(height, width)`` in pixels, default :data:`AGENT_RESOLUTION`.

    Returns:
        uint8 ``[height, width, 3]``.

    Raises:
        ValueError: ``pov`` is not a uint8 ``[H, W, 3]`` array.
    """
    return resize_frame(pov, size, "resize_for_agent")
