"""Boolean tile masks of the scripted Crafter player: uint8/bool arrays [W, H] indexed [x, y] like the world map."""
from __future__ import annotations

import numpy as np


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[x, y] = mask[x + dx, y + dy] (False outside the map)."""
    out = np.zeros_like(mask)
    w, h = mask.shape
    xs, xd = (slice(dx, None), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, None))
    ys, yd = (slice(dy, None), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, None))
    out[xd, yd] = mask[xs, ys]
    return out


def _box_sum(mask: np.ndarray, r: int) -> np.ndarray:
    """int [W, H]: number of ``mask`` tiles within Chebyshev distance ``r`` of each tile."""
    c = np.pad(mask.astype(np.int32), ((r + 1, r), (r + 1, r))).cumsum(0).cumsum(1)
    k = 2 * r + 1
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def _dilate4(mask: np.ndarray) -> np.ndarray:
    """Tiles with a 4-neighbour in ``mask`` (the tile itself excluded)."""
    return _shift(mask, 1, 0) | _shift(mask, -1, 0) | _shift(mask, 0, 1) | _shift(mask, 0, -1)


def _dilate8(mask: np.ndarray) -> np.ndarray:
    """Tiles within Chebyshev distance 1 of ``mask`` (itself included): crafter's ``nearby(pos, 1)``."""
    out = mask.copy()
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx or dy:
                out |= _shift(mask, dx, dy)
    return out
