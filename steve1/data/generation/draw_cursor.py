"""Draw the 16x16 RGBA mouse cursor that is overlaid on contractor frames while a GUI is open (spec §3.2).

The contractor videos were recorded without the OS cursor, so while ``isGuiOpen`` the cursor is drawn back at the
recorded mouse position (:func:`steve1.data.contractor.overlay_cursor`). This script draws our own cursor, a
classic arrow with a white fill and a black outline, from the pixel map below and writes it as a PNG:

    python -m steve1.data.generation.draw_cursor --output steve1/data/generation/assets/mouse_cursor_white_16x16.png

The committed asset is the output of this script (``tests/steve1/test_contractor.py`` checks it).
"""
from __future__ import annotations

import argparse
import os
from typing import Optional, Sequence

import numpy as np

from steve1.utils.io import atomic_write_bytes

#: Pixel map of the cursor: ``B`` black outline, ``W`` white fill, ``.`` transparent. The hot spot is (0, 0).
CURSOR_PIXELS = (
    "B...............",
    "BB..............",
    "BWB.............",
    "BWWB............",
    "BWWWB...........",
    "BWWWWB..........",
    "BWWWWWB.........",
    "BWWWWWWB........",
    "BWWWWWWWB.......",
    "BWWWWWWWWB......",
    "BWWWWWBBBBB.....",
    "BWWBWWB.........",
    "BWB.BWWB........",
    "BB..BWWB........",
    "B....BWWB.......",
    ".....BBB........",
)

DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "mouse_cursor_white_16x16.png")


def draw_cursor() -> np.ndarray:
    """The cursor as uint8 ``[16, 16, 4]`` BGRA (OpenCV channel order; the colours are grey, so BGR = RGB)."""
    out = np.zeros((len(CURSOR_PIXELS), len(CURSOR_PIXELS[0]), 4), np.uint8)
    for y, row in enumerate(CURSOR_PIXELS):
        for x, pixel in enumerate(row):
            if pixel == "W":
                out[y, x] = (255, 255, 255, 255)
            elif pixel == "B":
                out[y, x] = (0, 0, 0, 255)
    return out


def main(argv: Optional[Sequence[str]] = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--output", default=DEFAULT_OUTPUT, help="PNG file to write")
    args = p.parse_args(argv)
    import cv2

    ok, png = cv2.imencode(".png", draw_cursor())
    if not ok:
        raise OSError(f"{args.output}: OpenCV could not encode the cursor as PNG")
    atomic_write_bytes(args.output, png.tobytes())  # creates the folder
    print(f"wrote {args.output}")
    return args.output


if __name__ == "__main__":
    main()
