"""Sampling images and flow fields at arbitrary sub-pixel points."""

import cv2
import numpy as np

# cv2.remap refuses maps with a side of 32767 or more, so long point lists are
# laid out as rows of this width.
_ROW = 1024


def sample(image, points, interpolation=cv2.INTER_LINEAR):
    """Values of image (H, W[, C]) at points (N, 2) given as x, y: (N, C) float32."""
    n = len(points)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if n == 0:
        return np.zeros((0, channels), np.float32)
    rows = -(-n // _ROW)
    padded = np.zeros((rows * _ROW, 2), np.float32)
    padded[:n] = points
    map_x = padded[:, 0].reshape(rows, _ROW)
    map_y = padded[:, 1].reshape(rows, _ROW)
    values = cv2.remap(image, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)
    return values.reshape(rows * _ROW, channels)[:n].astype(np.float32)


def inside(points, height, width):
    x, y = points[:, 0], points[:, 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def lookup(mask, points):
    """Nearest-pixel values of a bool mask at points that lie inside it."""
    xi = np.rint(points[:, 0]).astype(np.intp)
    yi = np.rint(points[:, 1]).astype(np.intp)
    return mask[yi, xi]


def consistent(step, back):
    """Forward-backward check: following a flow and then its reverse must come
    back near the start, or the point was occluded or the flow is wrong."""
    sx, sy, bx, by = step[:, 0], step[:, 1], back[:, 0], back[:, 1]
    error = (sx + bx) ** 2 + (sy + by) ** 2
    scale = sx * sx + sy * sy + bx * bx + by * by
    return error <= 0.01 * scale + 0.5
