"""Object colours: one palette for every view of an object id.

The DAVIS / PASCAL VOC palette, so an object keeps one colour in the
editor's overlay, in OverlayMasks, in the demo's contact sheet and in the
palette PNGs that WriteMasks exports, and a DAVIS mask read back keeps its
ids. Id 0 (background) is black.
"""
from __future__ import annotations

import numpy as np


def davis_palette() -> np.ndarray:
    """(256, 3) uint8 RGB: id k has colour palette[k] (the bit-interleaved VOC palette)."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for k in range(256):
        c, r, g, b = k, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        pal[k] = (r, g, b)
    return pal


PALETTE = davis_palette()
PALETTE.flags.writeable = False


def colour_of(object_id) -> tuple[int, int, int]:
    """The RGB colour of one object id; anything that is not an id 1..255 shows as id 1."""
    try:
        i = int(object_id) % 256
    except (TypeError, ValueError):
        i = 1
    return tuple(int(c) for c in PALETTE[i or 1])
