"""Filling a whole clip: the sliding window driver and full-resolution paste."""

import cv2
import numpy as np

from ..composite import paste
from .propagate import carry_previous, trace_sources
from .size import to_working_frame, to_working_hole, working_size
from .window import FrameWindow

DEFAULTS = {
    "window": 30,
    "max_long_edge": 640,
    "preset": "medium",
    "spatial_radius": 5,
}


def fill_frame(window, t, previous_fill, max_steps, spatial_radius):
    """Frame t at working size with its hole filled.

    Each hole pixel takes the background from the nearest frames that show
    it, forward and backward in time, blended by inverse distance in time.
    What neither direction finds comes from the previous filled frame along
    the flow, and what is left after that (the first frame of a hidden area)
    is inpainted spatially.
    """
    frame = window.frames[t]
    hole = window.holes[t]
    if not hole.any():
        return frame
    ys, xs = np.nonzero(hole)
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    after, after_distance = trace_sources(window, t, points, +1, max_steps)
    before, before_distance = trace_sources(window, t, points, -1, max_steps)
    weight_after = np.where(after_distance > 0, 1.0 / np.maximum(after_distance, 1), 0.0)
    weight_before = np.where(before_distance > 0, 1.0 / np.maximum(before_distance, 1), 0.0)
    total = weight_after + weight_before
    found = total > 0
    colours = np.zeros((len(points), 3), np.float32)
    colours[found] = (
        after[found] * weight_after[found, None] + before[found] * weight_before[found, None]
    ) / total[found, None]

    missing = ~found
    if missing.any() and previous_fill is not None and (t - 1) in window:
        carried, carried_found = carry_previous(window, t, points[missing], previous_fill)
        index = np.flatnonzero(missing)[carried_found]
        colours[index] = carried[carried_found]
        missing[index] = False

    filled = frame.copy()
    filled[ys, xs] = np.clip(np.rint(colours), 0, 255).astype(np.uint8)
    if missing.any():
        unknown = np.zeros(hole.shape, np.uint8)
        unknown[ys[missing], xs[missing]] = 255
        filled = cv2.inpaint(filled, unknown, spatial_radius, cv2.INPAINT_TELEA)
    return filled


def fill_stream(frames, masks, window=DEFAULTS["window"], max_long_edge=DEFAULTS["max_long_edge"],
                preset=DEFAULTS["preset"], spatial_radius=DEFAULTS["spatial_radius"], flow_margin=None):
    """Fill a clip frame by frame, reading ahead `window` frames.

    frames: iterable of (H, W, 3) uint8 RGB; masks: iterable of (H, W) label
    maps (> 0 is the hole), same count. Yields (index, filled) in order, where
    filled is the frame at working size with the hole filled; composite.paste puts
    it into the full-size frame. At most 2 * window + 1 working frames and
    their flows are held at once.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    frame_iter, mask_iter = iter(frames), iter(masks)
    frames_window = None
    size = None
    loaded = 0
    exhausted = False
    previous_fill = None
    t = 0
    while True:
        while not exhausted and loaded <= t + window:
            frame = next(frame_iter, None)
            mask = next(mask_iter, None)
            if frame is None or mask is None:
                if (frame is None) != (mask is None):
                    raise ValueError(f"frames and masks differ in count (one ran out at frame {loaded})")
                exhausted = True
                break
            if frames_window is None:
                size = working_size(frame.shape[0], frame.shape[1], max_long_edge)
                margin = flow_margin if flow_margin is not None else default_flow_margin(size)
                frames_window = FrameWindow(preset, margin)
            frames_window.add(loaded, to_working_frame(frame, size), to_working_hole(mask, size))
            loaded += 1
        if t >= loaded:
            return
        filled = fill_frame(frames_window, t, previous_fill, window, spatial_radius)
        yield t, filled
        previous_fill = filled
        frames_window.drop_before(t + 1 - window)
        t += 1


def fill_clip(frames, masks, **settings):
    """Fill a clip held in memory (sequences of full-size arrays); for tests
    and scripts. Returns a list of full-size filled frames."""
    return [paste(frames[t], masks[t], filled) for t, filled in fill_stream(frames, masks, **settings)]


def default_flow_margin(size):
    """How far past a hole the estimated flow is distrusted, in working pixels.

    DIS matches patches, so the object's motion leaks several pixels into the
    background around it; trusting that leak biases the completed flow, and
    the bias adds up over every frame a point is carried.
    """
    return max(4, round(max(size) / 20))
