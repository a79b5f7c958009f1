"""Full-resolution detail for a fill computed at a smaller working size.

Scaled up, a working-size fill is as soft as the working size. Where a hole
pixel was filled from another frame, that frame at full resolution holds the
detail the working size lost: its detail layer (the full-size frame minus
the same frame scaled down to the working size and back up) is sampled at
the source position, scaled to full resolution, and added to the scaled-up
fill. What was invented (no frame shows it) stays soft.
"""

import cv2
import numpy as np

from .sample import sample
from .size import to_working_frame

# Detail is taken from source frames at most this many frames away, so that
# a bounded number of full-size layers is held at once. Most hole pixels of
# a slow object find their source further off than a few frames: on the
# synthetic pan at 1280x720 a reach of 4 brings back 0.4 dB, 16 brings 2.9.
DETAIL_REACH = 12


class DetailLayers:
    """Detail layers of full-size frames, read through read_frame on demand
    and kept for the frames near the one being filled."""

    def __init__(self, read_frame, size):
        self.read_frame, self.size = read_frame, tuple(size)
        self._layers = {}

    def layer(self, index):
        if index not in self._layers:
            full = np.asarray(self.read_frame(index))
            height, width = full.shape[:2]
            soft = cv2.resize(to_working_frame(full, self.size), (width, height), interpolation=cv2.INTER_CUBIC)
            # Kept as detail + 128 in a byte (detail beyond +-127 is rare and
            # clipped): a quarter of the memory of floats.
            self._layers[index] = np.clip(full.astype(np.int16) - soft + 128, 0, 255).astype(np.uint8)
        return self._layers[index]

    def drop_outside(self, low, high):
        for index in [i for i in self._layers if not low <= i <= high]:
            del self._layers[index]


def with_detail(frame, mask, filled, sources, layers):
    """Full-size frame with its hole (mask > 0) taken from the working-size
    fill scaled up, plus the detail of the frames the fill came from.

    sources: (ys, xs, frame index, source x, source y) per working pixel
    filled from another frame, in working pixels.
    """
    height, width = frame.shape[:2]
    out = frame.copy()
    hole = mask > 0
    if not hole.any():
        return out
    soft = cv2.resize(filled, (width, height), interpolation=cv2.INTER_CUBIC)
    result = soft.astype(np.int16)
    ys, xs, index, source_x, source_y = sources
    if len(ys):
        work_h, work_w = filled.shape[:2]
        scale_x, scale_y = width / work_w, height / work_h
        # Per working pixel: which frame, and the offset from this pixel to
        # its source; each full-size pixel uses its working pixel's.
        frame_of = np.full((work_h, work_w), -1, np.int32)
        frame_of[ys, xs] = index
        shift = np.zeros((work_h, work_w, 2), np.float32)
        shift[ys, xs, 0], shift[ys, xs, 1] = source_x - xs, source_y - ys
        full_y, full_x = np.nonzero(hole)
        work_x = np.clip(((full_x + 0.5) / scale_x).astype(np.intp), 0, work_w - 1)
        work_y = np.clip(((full_y + 0.5) / scale_y).astype(np.intp), 0, work_h - 1)
        which = frame_of[work_y, work_x]
        for source in np.unique(which[which >= 0]):
            pick = which == source
            px, py = full_x[pick], full_y[pick]
            at = np.stack([px + shift[work_y[pick], work_x[pick], 0] * scale_x,
                           py + shift[work_y[pick], work_x[pick], 1] * scale_y], axis=1)
            result[py, px] += np.rint(sample(layers.layer(int(source)), at)).astype(np.int16) - 128
    out[hole] = np.clip(result[hole], 0, 255).astype(np.uint8)
    return out

