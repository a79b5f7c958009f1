"""Bringing background into a hole from the frames that show it."""

import cv2
import numpy as np

from .sample import consistent, inside, lookup, sample


def trace_sources(window, t, points, direction, max_steps):
    """Follow each hole point of frame t along the completed flow, one frame
    at a time in the given direction of time (+1 or -1), until it lands on a
    pixel that frame shows.

    Returns (colours (N, 3) float32, distance (N,) int32): the colour found
    and how many frames away; distance 0 means no frame within max_steps
    shows the point (it left the picture, failed the consistency check, or
    stayed hidden).
    """
    count = len(points)
    colours = np.zeros((count, 3), np.float32)
    distance = np.zeros(count, np.int32)
    height, width = window.holes[t].shape
    ids = np.arange(count)
    current = points.astype(np.float32)
    for k in range(1, max_steps + 1):
        target = t + direction * k
        if target not in window:
            break
        if direction > 0:
            step_flow, back_flow = window.forward(target - 1), window.backward(target - 1)
        else:
            step_flow, back_flow = window.backward(target), window.forward(target)
        step = sample(step_flow, current)
        moved = current + step
        alive = inside(moved, height, width)
        alive[alive] = consistent(step[alive], sample(back_flow, moved[alive]))
        moved, ids = moved[alive], ids[alive]
        if len(ids) == 0:
            break
        seen = ~lookup(window.guards[target], moved)
        if seen.any():
            colours[ids[seen]] = sample(window.frames[target], moved[seen], cv2.INTER_CUBIC)
            distance[ids[seen]] = k
        current, ids = moved[~seen], ids[~seen]
        if len(ids) == 0:
            break
    return colours, distance


def carry_previous(window, t, points, previous_fill):
    """Colours for hole points of frame t taken from the filled frame t - 1,
    along the completed flow. Used for what no frame shows, so that what was
    invented once moves with the background instead of being re-invented.

    Returns (colours (N, 3) float32, found (N,) bool).
    """
    height, width = window.holes[t].shape
    step = sample(window.backward(t - 1), points)
    moved = points + step
    found = inside(moved, height, width)
    found[found] = consistent(step[found], sample(window.forward(t - 1), moved[found]))
    colours = np.zeros((len(points), 3), np.float32)
    colours[found] = sample(previous_fill, moved[found], cv2.INTER_CUBIC)
    return colours, found
