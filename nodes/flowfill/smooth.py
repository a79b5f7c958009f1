"""Smooth interpolation of a field into its unknown pixels."""

import cv2
import numpy as np

_NEIGHBOURS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)

# Unknown regions of this many pixels or more start from their membrane at
# half size (fill_membrane): conjugate gradients take a step per pixel or
# so of a region's breadth to shape it from the push-pull estimate, and a
# few dozen from the coarser membrane. No solve takes more than
# MEMBRANE_STEPS steps.
COARSE_AREA = 2048
MEMBRANE_STEPS = 150


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


def fill_membrane(values, known, tolerance=0.003):
    """fill_smooth, then solved to the membrane itself: each unknown pixel
    the mean of its four neighbours (beyond the image's edge, the edge pixel
    itself), to within `tolerance` in the values' units, or as near as
    MEMBRANE_STEPS steps come.

    The push-pull estimate takes the average of partly known cells at its
    coarse levels, so dark ground below a hole reaches up into a bright wall
    above it; the solved membrane keeps each side's colour near its own
    border. The unknown pixels are solved together by conjugate gradients,
    started from the push-pull estimate, and in regions of COARSE_AREA
    pixels or more from the membrane solved at half size.
    """
    values = np.asarray(values, dtype=np.float32)
    out = fill_smooth(values, known)
    if not known.all() and known.any():
        _settle(out[..., None] if out.ndim == 2 else out, known, tolerance)
    return out


def _settle(field, known, tolerance):
    """Solve the membrane over the unknown pixels of field (H, W, C), in place."""
    unknown = ~known
    if np.count_nonzero(unknown) < COARSE_AREA:
        _solve(field, unknown, tolerance)
        return
    count, labels, boxes, _ = cv2.connectedComponentsWithStats(unknown.astype(np.uint8), connectivity=4)
    height, width = known.shape
    for label in np.flatnonzero(boxes[:count, cv2.CC_STAT_AREA] >= COARSE_AREA):
        if label == 0:
            continue
        x, y, w, h = boxes[label, :4]
        # The region's neighbours are the known pixels around it; a ring of
        # four keeps some whole at half size.
        y0, y1, x0, x1 = max(0, y - 4), min(height, y + h + 4), max(0, x - 4), min(width, x + w + 4)
        crop = np.ascontiguousarray(field[y0:y1, x0:x1])
        region = labels[y0:y1, x0:x1] == label
        size = ((x1 - x0 + 1) // 2, (y1 - y0 + 1) // 2)
        half = cv2.resize(crop, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
        half_known = cv2.resize((~region).astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.999
        _settle(half, half_known, tolerance)
        start = cv2.resize(half, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR).reshape(crop.shape)
        field[y0:y1, x0:x1][region] = start[region]
    _solve(field, unknown, tolerance)


def _solve(field, unknown, tolerance):
    """Conjugate gradients on the unknown pixels of field, in place, for
    each of them = the mean of its four neighbours (each channel on its
    own). Works on the unknown pixels alone, however far apart they lie."""
    height, width = unknown.shape
    ys, xs = np.nonzero(unknown)
    if not len(ys):
        return
    # Pixel numbers over the unknown pixels' box and the ring around it: all their neighbours lie there.
    top, left = max(0, ys.min() - 1), max(0, xs.min() - 1)
    index = np.full((min(height, ys.max() + 2) - top, min(width, xs.max() + 2) - left), -1, np.int64)
    index[ys - top, xs - left] = np.arange(len(ys))
    fixed = np.zeros((len(ys), field.shape[2]), np.float32)  # a quarter of the known neighbours' sum
    links = []  # per direction: the unknown neighbour's number (0 where known) and 1 where it is unknown
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = np.clip(ys + dy, 0, height - 1), np.clip(xs + dx, 0, width - 1)
        other = index[ny - top, nx - left]
        fixed += np.where(other[:, None] < 0, field[ny, nx], 0.0)
        links.append((np.maximum(other, 0), (other >= 0).astype(np.float32)[:, None]))
    fixed *= 0.25

    def apply(x):
        return x - 0.25 * sum(x[j] * on for j, on in links)

    x = field[ys, xs]
    residual = fixed - apply(x)
    direction = residual.copy()
    power = (residual * residual).sum(axis=0)
    for _ in range(MEMBRANE_STEPS):
        if np.abs(residual).max() <= tolerance:
            break
        bent = apply(direction)
        step = power / np.maximum((direction * bent).sum(axis=0), 1e-12)
        x += step * direction
        residual -= step * bent
        new_power = (residual * residual).sum(axis=0)
        direction = residual + (new_power / np.maximum(power, 1e-12)) * direction
        power = new_power
    field[ys, xs] = x


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
