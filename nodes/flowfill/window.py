"""The frames around the ones being filled, read on demand, with their flows
and their clean-background maps computed lazily."""

import cv2
import numpy as np

from .flow import (background_motion, estimate_flow, pixel_grid, reliable_flow,
                   squared_length, to_gray)
from .size import grow, to_working_frame, to_working_hole
from .smooth import fill_smooth

# Pixels per frame that a point may depart from the background's motion and
# still count as background. DIS is accurate to a tenth of a pixel on still
# texture; a person who barely moves departs by a few tenths, and trusting
# that would let the background carried through the hole drift with them.
MOTION_FLOOR = 0.3

# Grey levels a background point may change by from one frame to the next
# (noise, compression, sampling between pixels); more, and something that is
# not the still background is there (a passer-by who hardly moves still
# turns, breathes and sways).
STEADY = 14

# A source pixel is sampled with bicubic weights, which reach 2 pixels out, so
# it must be this far from any hole (or anything moving) to carry none of it.
GUARD_RADIUS = 2


class FrameWindow:
    """Working-size frames, holes, background flows and clean maps of a clip.

    A frame is read the first time something asks for it, and everything is
    computed from the frames it depends on only (a flow from its two frames,
    a clean map from its frame and the two neighbours), so a value never
    depends on which frames happen to be loaded: that is what makes a fill
    the same whatever range of the clip is rendered.
    """

    def __init__(self, read_frame, read_mask, count, size, preset, flow_margin, pairs=None, read_holdout=None):
        self.read_frame, self.read_mask = read_frame, read_mask
        self.read_holdout = read_holdout  # (H, W) map of what is never background (> 0), or None
        self.pairs = pairs  # a pairs.PairStore the pairs are kept in and taken from, or None
        self.count, self.size = count, tuple(size)
        self.preset = preset
        self.flow_margin = flow_margin
        self._frames, self._holes, self._guards, self._grays, self._near = {}, {}, {}, {}, {}
        self._forward, self._backward, self._moving, self._clean = {}, {}, {}, {}

    def __contains__(self, index):
        return 0 <= index < self.count

    def frame(self, index):
        if index not in self._frames:
            self._frames[index] = to_working_frame(np.asarray(self.read_frame(index)), self.size)
        return self._frames[index]

    def hole(self, index):
        if index not in self._holes:
            self._holes[index] = to_working_hole(np.asarray(self.read_mask(index)), self.size)
        return self._holes[index]

    def guard(self, index):
        """The hole grown by the sampling reach: no source is taken in it."""
        if index not in self._guards:
            self._guards[index] = grow(self.hole(index), GUARD_RADIUS)
        return self._guards[index]

    def near_hole(self, index):
        """The hole grown by the flow margin: what is seen there, just
        outside an object, is likeliest to be something in front of it or
        walking past it rather than the background behind."""
        if index not in self._near:
            self._near[index] = grow(self.hole(index), self.flow_margin)
        return self._near[index]

    def clean(self, index):
        """Bool map of the pixels of a frame that show the still background:
        away from the hole, from anything that moves on its own and from
        what the holdout matte marks."""
        if index not in self._clean:
            moving = np.zeros(self.size, bool)
            if self.read_holdout is not None:
                moving |= to_working_hole(np.asarray(self.read_holdout(index)), self.size)
            if index + 1 in self:
                self.forward(index)
                moving |= self._moving[(index, +1)]
            if index - 1 in self:
                self.backward(index - 1)
                moving |= self._moving[(index, -1)]
            self._clean[index] = ~(self.guard(index) | grow(moving, GUARD_RADIUS))
        return self._clean[index]

    def drop_before(self, index):
        for table in (self._frames, self._holes, self._guards, self._grays, self._near, self._forward,
                      self._backward, self._clean):
            for key in [k for k in table if k < index]:
                del table[key]
        for key in [k for k in self._moving if k[0] < index]:
            del self._moving[key]

    def forward(self, index):
        """Background flow from frame index to frame index + 1."""
        if index not in self._forward:
            self._complete_pair(index)
        return self._forward[index]

    def backward(self, index):
        """Background flow from frame index + 1 back to frame index."""
        if index not in self._backward:
            self._complete_pair(index)
        return self._backward[index]

    def _complete_pair(self, index):
        kept = self.pairs.load(index) if self.pairs is not None else None
        if kept is None:
            kept = self._estimate_pair(index)
            if self.pairs is not None:
                self.pairs.save(index, *kept)
        self._forward[index], self._backward[index], self._moving[(index, +1)], self._moving[(index + 1, -1)] = kept

    def _estimate_pair(self, index):
        """(forward flow, backward flow, moving map of frame index, moving
        map of frame index + 1): both flows between the two frames as the
        background moves, with everything that is not background replaced by a smooth
        fill from the background around it.

        Not background: wherever either frame shows the object (on it the
        flow follows the object), grown by the margin the estimator smears
        motion over; wherever the two flows disagree (occlusions, content
        entering at the frame's edge); and whatever moves against the
        camera's motion (a passer-by outside the mask). Points traced through
        the hole therefore follow the background even where a passer-by
        walks over it, and the passer-by is marked as no source.
        """
        gray_a, gray_b = self._gray(index), self._gray(index + 1)
        forward = estimate_flow(self.preset, gray_a, gray_b)
        backward = estimate_flow(self.preset, gray_b, gray_a)
        objects = grow(self.hole(index) | self.hole(index + 1), self.flow_margin)
        ahead_flow, ahead = _complete(forward, reliable_flow(forward, backward), objects, self.flow_margin)
        behind_flow, behind = _complete(backward, reliable_flow(backward, forward), objects, self.flow_margin)
        ahead_flow, behind_flow = (f.astype(np.float16).astype(np.float32) for f in (ahead_flow, behind_flow))
        ahead |= _changes(gray_a, gray_b, ahead_flow)
        behind |= _changes(gray_b, gray_a, behind_flow)
        return ahead_flow, behind_flow, ahead, behind

    def _gray(self, index):
        if index not in self._grays:
            self._grays[index] = to_gray(self.frame(index))
        return self._grays[index]


def _complete(flow, reliable, objects, margin):
    """(background flow, moving map): the flow with what does not move as
    the background replaced, and the map of the pixels that move on their
    own or whose flow is unreliable. The moving map reaches into the margin
    around the objects too: a passer-by right beside the hole is the source
    most likely to be taken.

    The background follows the camera's motion plus a smooth departure from
    it hung from the trusted pixels `margin` pixels or more away from
    anything moving, so zooms, rotations and parallax carry across large
    holes.
    """
    keep = reliable & ~objects
    if keep.mean() < 0.02:
        # Almost nothing to trust (a cut, a flash): assume no motion rather
        # than stretch a few pixels' flow over the whole frame, and trust no
        # source across it.
        return np.zeros_like(flow), np.ones(flow.shape[:2], bool)
    camera = background_motion(flow, keep)
    if camera is None:
        background = fill_smooth(flow, keep)
        return background, ~reliable
    departure = flow - camera
    camera_speed = squared_length(camera)
    own_motion = _own_motion(departure, camera_speed)
    # Parallax makes a whole region depart a little from the homography; a
    # passer-by departs from its surroundings. Judge the departure against
    # its smooth trend so that only the second counts.
    own_motion = _own_motion(departure - _trend(departure, keep & ~own_motion), camera_speed)
    keep &= ~own_motion
    # The flow is taken as it is only a margin away from anything moving,
    # and the departure elsewhere is hung from there: DIS smears an object's
    # motion over about that margin around it, too little to count as
    # moving of its own, and a flow taken or hung from there drags the
    # background traced through a hole along with a passer-by.
    steady = keep & ~grow(own_motion, margin)
    background = camera + fill_smooth(departure, steady)
    return background, own_motion | ~reliable


def _own_motion(departure, camera_speed):
    """Where the departure is over MOTION_FLOOR and over a fifth of the camera's motion."""
    return squared_length(departure) > np.maximum(MOTION_FLOOR ** 2, 0.04 * camera_speed)


# The trend of the departure from the camera's motion is computed this many
# times smaller than the frame: it is smooth by design, and small is cheap.
_TREND_SCALE = 8


def _trend(departure, known):
    """A smooth version of departure, interpolated over what is not known and
    blurred over about a twentieth of the frame."""
    height, width = known.shape
    small = (max(1, width // _TREND_SCALE), max(1, height // _TREND_SCALE))
    weight = cv2.resize(known.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    values = cv2.resize(departure * known[..., None], small, interpolation=cv2.INTER_AREA)
    values = values / np.maximum(weight, 1e-6)[..., None]
    trend = fill_smooth(values, weight > 0.5)
    trend = cv2.GaussianBlur(trend, (0, 0), max(1.0, max(small) / 20))
    return cv2.resize(trend, (width, height), interpolation=cv2.INTER_LINEAR)


def _changes(gray_from, gray_to, flow):
    """Bool map of the pixels of gray_from whose grey level, followed along
    the background flow into gray_to, changes by more than STEADY."""
    height, width = gray_from.shape
    grid_x, grid_y = pixel_grid(height, width)
    followed = cv2.remap(gray_to, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    change = cv2.absdiff(followed, gray_from)
    # The smaller of the change and its 3x3 minimum: a one-pixel misfit of
    # the flow on a sharp edge is no change of what is there.
    return cv2.erode(change, np.ones((3, 3), np.uint8)) > STEADY
