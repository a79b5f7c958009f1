"""Scoring a fill against known truth: PSNR, SSIM and flicker inside the hole.

Used by the demo, the tests and the benchmarks, on clips (N, H, W, 3) uint8
with hole maps (N, H, W) bool.
"""
from __future__ import annotations

import cv2
import numpy as np


def psnr(result: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB, pooled over the pixels `where` is True (all by default)."""
    squared, count = 0.0, 0
    for index in range(len(result)):  # a frame at a time: float copies of a whole clip are large
        error = result[index].astype(np.float64) - truth[index]
        if where is not None:
            error = error[where[index]]
        squared += float(np.square(error).sum())
        count += error.size
    if count == 0 or squared == 0:
        return float("inf")
    return 10.0 * np.log10(255.0 ** 2 * count / squared)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two RGB images (gaussian window, sigma 1.5), averaged over channels."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return ssim.mean(axis=2)


def ssim(result: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """Mean SSIM over the pixels `where` is True."""
    values = [ssim_map(r, t)[h] for r, t, h in zip(result, truth, where) if h.any()]
    return float(np.mean(np.concatenate(values)))


def flicker(result: np.ndarray, truth: np.ndarray, holes: np.ndarray) -> float:
    """Mean |change of the result between neighbouring frames - change of the truth|
    over the holes of both frames, in 8-bit levels: how much the fill flickers."""
    values = []
    for t in range(len(result) - 1):
        where = holes[t] | holes[t + 1]
        if not where.any():
            continue
        change = result[t + 1].astype(np.float64) - result[t]
        true_change = truth[t + 1].astype(np.float64) - truth[t]
        values.append(np.abs(change - true_change)[where].mean())
    return float(np.mean(values)) if values else 0.0
