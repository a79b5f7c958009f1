"""Optical flow between neighbouring frames."""

from functools import lru_cache

import cv2
import numpy as np

# name -> (DIS preset, finest pyramid level or None for the preset's own).
# "fine" is "medium" carried down to full resolution: about twice the time,
# about 1 dB more in the hole on real footage.
FLOW_PRESETS = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0),
}


def make_flow_estimator(preset="medium"):
    dis_preset, finest_scale = FLOW_PRESETS[preset]
    estimator = cv2.DISOpticalFlow_create(dis_preset)
    if finest_scale is not None:
        estimator.setFinestScale(finest_scale)
    return estimator


def to_gray(frame):
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


# DIS refuses images smaller than its patches; tiny frames are padded to this.
_MIN_FLOW_SIZE = 32


def estimate_flow(preset, gray_from, gray_to):
    """(H, W, 2) float32 flow: pixel p of gray_from is at p + flow[p] in gray_to.

    Each estimate uses an estimator of its own (creating one costs
    microseconds): DIS's fast presets carry state from one call to the next,
    so a reused estimator gives a pair a flow that depends on the pairs
    estimated before it, and a range of a clip would not fill as it does in
    a pass over the whole clip.
    """
    estimator = make_flow_estimator(preset)
    height, width = gray_from.shape
    pad_y, pad_x = max(0, _MIN_FLOW_SIZE - height), max(0, _MIN_FLOW_SIZE - width)
    if pad_y or pad_x:
        gray_from, gray_to = (cv2.copyMakeBorder(g, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
                              for g in (gray_from, gray_to))
        return np.ascontiguousarray(estimator.calc(gray_from, gray_to, None)[:height, :width])
    return estimator.calc(gray_from, gray_to, None)


def reliable_flow(flow, reverse):
    """Bool map of the pixels whose flow lands inside the other frame and
    comes back near its start when followed by the reverse flow."""
    height, width = flow.shape[:2]
    grid_x, grid_y = pixel_grid(height, width)
    land_x, land_y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    inside = (land_x >= 0) & (land_x <= width - 1) & (land_y >= 0) & (land_y <= height - 1)
    back = cv2.remap(reverse, land_x, land_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    error = squared_length(flow + back)
    scale = squared_length(flow) + squared_length(back)
    return inside & (error <= 0.01 * scale + 0.5)


def background_motion(flow, trusted, spacing=8):
    """The camera's motion as a flow field: a homography fitted with RANSAC
    to the trusted flow on a sparse grid. None when too little is trusted."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[spacing // 2:height:spacing, spacing // 2:width:spacing]
    chosen = trusted[ys, xs]
    if chosen.sum() < 16:
        return None
    src = np.stack([xs[chosen], ys[chosen]], axis=1).astype(np.float32)
    dst = src + flow[ys[chosen], xs[chosen]]
    homography, _ = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    if homography is None:
        return None
    grid_x, grid_y = pixel_grid(height, width)
    h = homography.astype(np.float32)
    denominator = h[2, 0] * grid_x + h[2, 1] * grid_y + h[2, 2]
    if np.any(np.abs(denominator) < 1e-6):
        return None
    model_x = (h[0, 0] * grid_x + h[0, 1] * grid_y + h[0, 2]) / denominator - grid_x
    model_y = (h[1, 0] * grid_x + h[1, 1] * grid_y + h[1, 2]) / denominator - grid_y
    return np.stack([model_x, model_y], axis=2)


def squared_length(field):
    """x * x + y * y of an (H, W, 2) field; numpy's sum over a last axis of
    two is several times slower than the two products."""
    x, y = field[..., 0], field[..., 1]
    return x * x + y * y


@lru_cache(maxsize=4)
def pixel_grid(height, width):
    """x and y coordinate of every pixel, (H, W) float32 each (read-only, shared)."""
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid_x.flags.writeable = False
    grid_y.flags.writeable = False
    return grid_x, grid_y
