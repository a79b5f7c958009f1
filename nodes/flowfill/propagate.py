"""Bringing background into a hole from the frames that show it."""

import cv2
import numpy as np

from .sample import consistent, inside, lookup, sample

# Weight of a sample found beyond a frame where the point showed something
# moving, relative to one found before any.
CHANGED = 0.25

# What a sample counts as evidence that the background is what it shows
# (see consensus.agree): 1 away from the hole, this much within the flow
# margin of it. Just outside an object the frame mostly shows what stands
# in front of it or walks past it (a person standing still at its edge for
# a while passes the clean test), so a colour seen only there needs a
# second frame to agree before it is taken.
NEAR_EVIDENCE = 0.5


def _step(window, current, frame_from, direction):
    """Move points of frame_from one frame along the background flow.

    Returns (moved points, bool alive): alive is False where a point left
    the picture or failed the forward-backward check (it was occluded by
    other background, or the flow is wrong there).
    """
    if direction > 0:
        step_flow, back_flow = window.forward(frame_from), window.backward(frame_from)
    else:
        step_flow, back_flow = window.backward(frame_from - 1), window.forward(frame_from - 1)
    step = sample(step_flow, current)
    moved = current + step
    height, width = window.size
    alive = inside(moved, height, width)
    alive[alive] = consistent(step[alive], sample(back_flow, moved[alive]))
    return moved, alive


def gather_sources(window, t, points, direction, max_steps, max_samples):
    """Follow each hole point of frame t along the background flow, one frame
    at a time in the given direction of time (+1 or -1), and collect the
    colours of up to `max_samples` frames in which it lands on clean
    background (see FrameWindow.clean). A point is followed past frames that
    show something else there (a passer-by, the hole) rather than stopped.

    The first sample is the nearest clean frame; after it the gap to the next
    sample doubles each time (1, 2, 4 frames...), so the samples span more of
    the window than a passer-by who stands still for a while.

    Each sample is weighted 1 / its distance in frames, and by CHANGED if on
    the way to it the point showed something moving: what stood there
    before that change (a passer-by who then walked off) is less likely to
    be there at frame t than what the frames on the near side show.

    Returns (colours (N, S, 3) float32, weight (N, S) float32, where (N, S, 2)
    float32, frame (N, S) int32, evidence (N, S) float32): sample s of point
    n, its weight (0 where there is none), the frame and position it was
    taken from, and what it counts as evidence (NEAR_EVIDENCE).
    """
    count = len(points)
    colours = np.zeros((count, max_samples, 3), np.float32)
    weight = np.zeros((count, max_samples), np.float32)
    where = np.zeros((count, max_samples, 2), np.float32)
    frame = np.full((count, max_samples), -1, np.int32)
    evidence = np.zeros((count, max_samples), np.float32)
    changed = np.zeros(count, bool)
    found = np.zeros(count, np.int32)
    next_at = np.zeros(count, np.int32)  # the step from which the next sample may be taken
    ids = np.arange(count)
    current = points.astype(np.float32)
    for k in range(1, max_steps + 1):
        target = t + direction * k
        if target not in window or len(ids) == 0:
            break
        moved, alive = _step(window, current, target - direction, direction)
        moved, ids = moved[alive], ids[alive]
        if len(ids) == 0:
            break
        clean = lookup(window.clean(target), moved)
        seen = (next_at[ids] <= k) & clean
        if seen.any():
            taken = ids[seen]
            slot = found[taken]
            colours[taken, slot] = sample(window.frame(target), moved[seen], cv2.INTER_CUBIC)
            weight[taken, slot] = np.where(changed[taken], CHANGED, 1.0) / k
            where[taken, slot] = moved[seen]
            frame[taken, slot] = target
            evidence[taken, slot] = np.where(lookup(window.near_hole(target), moved[seen]), NEAR_EVIDENCE, 1.0)
            next_at[taken] = k + (1 << slot)
            found[taken] += 1
        changed[ids[~clean & ~lookup(window.hole(target), moved)]] = True
        more = found[ids] < max_samples
        current, ids = moved[more], ids[more]
    return colours, weight, where, frame, evidence


def carry_from(window, t, points, anchor, plate, plate_hole):
    """Colours for hole points of frame t taken from `plate`, the filled
    frame `anchor`, along the background flow. Used for what no frame shows,
    so that what was invented once at the anchor moves with the background.
    Only points that land inside the anchor's hole take a colour: elsewhere
    the plate shows whatever stands there, not an invention.

    Returns (colours (N, 3) float32, found (N,) bool).
    """
    direction = 1 if anchor > t else -1
    ids = np.arange(len(points))
    current = points.astype(np.float32)
    for frame_from in range(t, anchor, direction):
        moved, alive = _step(window, current, frame_from, direction)
        current, ids = moved[alive], ids[alive]
        if len(ids) == 0:
            break
    colours = np.zeros((len(points), 3), np.float32)
    found = np.zeros(len(points), bool)
    if len(ids):
        landed = lookup(plate_hole, current)
        ids, current = ids[landed], current[landed]
        colours[ids] = sample(plate, current, cv2.INTER_CUBIC)
        found[ids] = True
    return colours, found
