"""Frame resizing for the VPT/STEVE-1 agent and for MineCLIP (spec §3.3, §4.7).

Both use OpenCV bilinear interpolation (``cv2.INTER_LINEAR``), exactly as the official code does, so frames match
``shared/fixtures/resize_golden.pt`` bit for bit with opencv 5.0 (other OpenCV versions, or non-OpenCV bilinear
resizers, may differ by ±1 grey level).
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

__all__ = ["AGENT_RESOLUTION", "MINECLIP_RESOLUTION", "resize_for_agent", "resize_for_mineclip"]

#: (height, width) of the VPT agent's image input, pixels.
AGENT_RESOLUTION: Tuple[int, int] = (128, 128)
#: (height, width) of a MineCLIP frame, pixels.
MINECLIP_RESOLUTION: Tuple[int, int] = (160, 256)


def _check_frame(pov: np.ndarray, fn: str) -> np.ndarray:
    pov = np.asarray(pov)
    if pov.dtype != np.uint8 or pov.ndim != 3 or pov.shape[2] != 3:
        raise ValueError(f"{fn}: expected a uint8 frame [H, W, 3], got dtype {pov.dtype} shape {pov.shape}")
    return pov


def _resize(pov: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
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
    return _resize(_check_frame(pov, "resize_for_agent"), size)


def resize_for_mineclip(pov: np.ndarray) -> np.ndarray:
    """Resize an env frame for MineCLIP: ``cv2.resize(pov, (256, 160), INTER_LINEAR)`` (STEVE-1
    ``process_frame_mineclip``, spec §3.3), returned channels-last; transpose to ``[3, 160, 256]`` for MineCLIP.

    Args:
        pov: uint8 ``[H, W, 3]`` RGB frame.

    Returns:
        uint8 ``[160, 256, 3]``.

    Raises:
        ValueError: ``pov`` is not a uint8 ``[H, W, 3]`` array.
    """
    return _resize(_check_frame(pov, "resize_for_mineclip"), MINECLIP_RESOLUTION)
