"""Working resolution: where the flow and the fill are computed."""

import cv2
import numpy as np


def working_size(height, width, max_long_edge):
    """(h, w) with the long edge capped at max_long_edge (0 means no cap)."""
    long_edge = max(height, width)
    if max_long_edge <= 0 or long_edge <= max_long_edge:
        return height, width
    scale = max_long_edge / long_edge
    return max(8, round(height * scale)), max(8, round(width * scale))


def to_working_frame(frame, size):
    if frame.shape[:2] == tuple(size):
        return frame
    return cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def to_working_hole(mask, size):
    """Bool hole at working size that covers every full-size hole pixel."""
    hole = mask > 0
    if hole.shape == tuple(size):
        return hole
    # INTER_AREA averages the footprint, so any touched cell becomes > 0:
    # the working hole never misses part of the real one.
    cover = cv2.resize(hole.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return cover > 1e-6


def grow(hole, radius):
    """The bool hole grown by radius pixels (round brush)."""
    if radius <= 0 or not hole.any():
        return hole
    if radius <= 3:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(hole.astype(np.uint8), kernel) > 0
    # A distance map costs the same for any radius; a dilation grows with it.
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    return distance <= radius
