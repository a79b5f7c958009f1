"""Smooth interpolation of a field into its unknown pixels."""

import cv2
import numpy as np

_NEIGHBOURS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)


def fill_smooth(values, known, relax_iterations=6):
    """Fill values where known is False from the surrounding known values.

    values: (H, W[, C]) float32; known: (H, W) bool. Known pixels are returned
    unchanged. A pyramid of mask-weighted averages gives every unknown pixel
    a value from the nearest scale that has data (push-pull); on the way back
    to full size each level runs a few Jacobi steps of the Laplace equation
    on its unknown pixels, so the fill is a smooth membrane hung from the hole
    border rather than blocky averages. Cost is a few passes over the frame
    at half size, whatever the size of the holes.
    """
    values = np.asarray(values, dtype=np.float32)
    squeeze = values.ndim == 2
    if squeeze:
        values = values[..., None]
    if known.all():
        out = values.copy()
    elif not known.any():
        out = np.zeros_like(values)
    else:
        out = _push_pull(values, known, relax_iterations)
    return out[..., 0] if squeeze else out


def _push_pull(values, known, relax_iterations):
    weight = known.astype(np.float32)
    level_values = [values * weight[..., None]]
    level_weights = [weight]
    while min(level_weights[-1].shape) > 1 and (level_weights[-1] <= 0).any():
        h, w = level_weights[-1].shape
        size = (max(1, (w + 1) // 2), max(1, (h + 1) // 2))
        v = cv2.resize(level_values[-1], size, interpolation=cv2.INTER_AREA)
        wt = cv2.resize(level_weights[-1], size, interpolation=cv2.INTER_AREA)
        level_values.append(v.reshape(size[1], size[0], -1))
        level_weights.append(wt.reshape(size[1], size[0]))
    estimate = _normalise(level_values[-1], level_weights[-1])
    for level in range(len(level_values) - 2, -1, -1):
        v, wt = level_values[level], level_weights[level]
        h, w = wt.shape
        up = cv2.resize(estimate, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
        alpha = np.clip(wt, 0.0, 1.0)[..., None]
        estimate = alpha * _normalise(v, wt) + (1.0 - alpha) * up
        # Full size is left to the bilinear upsampling of the relaxed half
        # size: relaxing it too costs more than every other level together
        # and changes the fill by hundredths of a pixel.
        if level >= 1:
            _relax(estimate, wt <= 0, relax_iterations)
    return np.where(known[..., None], values, estimate).astype(np.float32)


def _relax(field, unknown, iterations):
    if not unknown.any():
        return
    where = np.broadcast_to(unknown[..., None], field.shape)
    for _ in range(iterations):
        averaged = cv2.filter2D(field, -1, _NEIGHBOURS, borderType=cv2.BORDER_REPLICATE)
        np.copyto(field, averaged.reshape(field.shape), where=where)


def _normalise(v, wt):
    return v / np.maximum(wt, 1e-6)[..., None]
