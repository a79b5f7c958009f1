"""The frames around the one being filled, with their flows computed lazily."""

import numpy as np

from .flow import background_motion, estimate_flow, make_flow_estimator, reliable_flow, to_gray
from .size import grow
from .smooth import fill_smooth

# A source pixel is sampled with bicubic weights, which reach 2 pixels out, so
# it must be this far from any hole to carry no object colour.
GUARD_RADIUS = 2


class FrameWindow:
    """Working-size frames, holes and completed flows for a range of indices.

    Flows are computed the first time a fill asks for them and dropped with
    their frames, so each flow is computed once per clip and memory holds only
    the frames of one window.
    """

    def __init__(self, preset, flow_margin):
        self.estimator = make_flow_estimator(preset)
        self.flow_margin = flow_margin
        self.frames = {}
        self.holes = {}
        self.guards = {}
        self._grays = {}
        self._forward = {}
        self._backward = {}

    def __contains__(self, index):
        return index in self.frames

    def add(self, index, frame, hole):
        self.frames[index] = frame
        self.holes[index] = hole
        self.guards[index] = grow(hole, GUARD_RADIUS)

    def drop_before(self, index):
        for table in (self.frames, self.holes, self.guards, self._grays, self._forward, self._backward):
            for key in [k for k in table if k < index]:
                del table[key]

    def forward(self, index):
        """Completed flow from frame index to frame index + 1."""
        if index not in self._forward:
            self._complete_pair(index)
        return self._forward[index]

    def backward(self, index):
        """Completed flow from frame index + 1 back to frame index."""
        if index not in self._backward:
            self._complete_pair(index)
        return self._backward[index]

    def _complete_pair(self, index):
        """Both flows between frames index and index + 1, with everything
        untrustworthy replaced by a smooth fill from the trustworthy rest.

        Untrustworthy: wherever either frame shows the object (on it the flow
        follows the object, and the background it uncovers has no match in
        the other frame), grown by the margin the estimator smears motion
        over; and wherever the two flows disagree (occlusions, content
        entering at the frame's edge).
        """
        gray_a, gray_b = self._gray(index), self._gray(index + 1)
        forward = estimate_flow(self.estimator, gray_a, gray_b)
        backward = estimate_flow(self.estimator, gray_b, gray_a)
        objects = grow(self.holes[index] | self.holes[index + 1], self.flow_margin)
        surround = grow(objects, 4 * self.flow_margin) & ~objects
        self._forward[index] = _complete(forward, reliable_flow(forward, backward) & ~objects, surround)
        self._backward[index] = _complete(backward, reliable_flow(backward, forward) & ~objects, surround)

    def _gray(self, index):
        if index not in self._grays:
            self._grays[index] = to_gray(self.frames[index])
        return self._grays[index]


def _complete(flow, keep, surround):
    """Fill the flow where keep is False.

    The fill follows the camera's motion plus a smooth departure from it
    hung from the hole's border, so zooms and rotations carry across large
    holes. Pixels of the surround that move on their own (another moving
    thing next to the hole) are left out of the border, or they would drag
    the background in the hole along with them.
    """
    if keep.all():
        return flow
    if keep.mean() < 0.02:
        # Almost nothing to trust (a cut, a flash): assume no motion rather
        # than stretch a few pixels' flow over the whole frame.
        return np.zeros_like(flow)
    camera = background_motion(flow, keep)
    if camera is None:
        return fill_smooth(flow, keep)
    departure = flow - camera
    own_motion = np.hypot(departure[..., 0], departure[..., 1]) > np.maximum(
        1.0, 0.2 * np.hypot(camera[..., 0], camera[..., 1]))
    return camera + fill_smooth(departure, keep & ~(surround & own_motion))
