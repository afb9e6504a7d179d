"""Frame resizing for MineCLIP (spec §3.3): env frames -> MineCLIP's 160x256 input.

OpenCV bilinear interpolation through :func:`VPT.lib.frames.resize_frame`, exactly as STEVE-1's
``process_frame_mineclip``, so frames match ``shared/fixtures/resize_golden.pt`` bit for bit with opencv 5.0.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from VPT.lib.frames import resize_frame

__all__ = ["MINECLIP_RESOLUTION", "resize_for_mineclip"]

#: (height, width) of a MineCLIP frame, pixels.
MINECLIP_RESOLUTION: Tuple[int, int] = (160, 256)


def resize_for_mineclip(pov: np.ndarray) -> np.ndarray:
    """Resize an env frame for MineCLIP: ``cv2.resize(pov, (256, 160), INTER_LINEAR)`` (STEVE-1
    ``process_frame_mineclip``, spec §3.3), returned channels-last; transpose to ``[3, 160, 256]`` for MineCLIP.

    A frame already 160x256 is returned as is (the same array).

    Args:
        pov: uint8 ``[H, W, 3]`` RGB frame.

    Returns:
        uint8 ``[160, 256, 3]``.

    Raises:
        ValueError: ``pov`` is not a uint8 ``[H, W, 3]`` array.
    """
    return resize_frame(pov, MINECLIP_RESOLUTION, "resize_for_mineclip")
