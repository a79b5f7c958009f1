"""Putting a fill back into the plate: the one place every inpaint node composites.

The fill may come at a smaller working size; it is scaled to the frame and
used only inside the hole (mask > 0). Outside the hole the frame is kept bit
for bit. `feather` softens the seam: over that many pixels inside the hole's
edge the fill is blended with the plate, so grow the mask (DilateMask) by at
least that much to keep the object itself out of the blend.
"""
from __future__ import annotations

import cv2
import numpy as np

FEATHER_DOC = ("soft seam: blend the fill with the plate over this many pixels inside the mask's edge "
               "(0: hard edge); keep it below the DilateMask radius. Outside the mask nothing changes")


def feather_alpha(hole: np.ndarray, feather: float) -> np.ndarray:
    """Fill weight per pixel: 0 outside the hole, ramping to 1 over `feather` pixels inside it."""
    if feather <= 0:
        return hole.astype(np.float32)
    inside = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)  # >= 1 inside, 0 outside
    return np.clip(inside / (feather + 1.0), 0.0, 1.0)


def paste(frame: np.ndarray, mask: np.ndarray, fill: np.ndarray, feather: float = 0.0,
          interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """`frame` with its hole taken from `fill` (scaled to the frame's size)."""
    hole = mask > 0
    if not hole.any():
        return frame.copy()
    height, width = frame.shape[:2]
    if fill.shape[:2] != (height, width):
        fill = cv2.resize(fill, (width, height), interpolation=interpolation)
    out = frame.copy()
    if feather <= 0:
        out[hole] = fill[hole]
        return out
    alpha = feather_alpha(hole, feather)[hole][:, None]
    blended = frame[hole].astype(np.float32) * (1.0 - alpha) + fill[hole].astype(np.float32) * alpha
    out[hole] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return out
