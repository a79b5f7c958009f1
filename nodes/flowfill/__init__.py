"""Weight-free video inpainting guided by optical flow.

The hole of each frame is filled with background that other frames show,
brought in along the background's own motion (optical flow with the hole
and everything that moves on its own replaced by the motion around it).
A source is taken only where a frame shows still background, and the
colour most such frames agree on wins, so passers-by are not copied in.
What no frame shows is invented at anchor frames by spatial inpainting (a
smooth membrane from the hole's border, or TELEA) and carried along the
flow to the frames between, so it does not flicker.
Filled frame t depends on input frames t - r .. t + r only (frames_reach),
and comes out the same whatever range is rendered (fill_range); memory
stays bounded and time grows linearly with clip length.

Plain functions on numpy arrays; the InpaintFlow node wraps them.
"""

from .clip import SPATIAL_METHODS, fill_clip, fill_range, frames_reach
from .detail import DETAIL_REACH
from .flow import FLOW_PRESETS, estimate_flow, make_flow_estimator, reliable_flow
from .size import working_size

__all__ = [
    "DETAIL_REACH",
    "FLOW_PRESETS",
    "SPATIAL_METHODS",
    "estimate_flow",
    "fill_clip",
    "fill_range",
    "frames_reach",
    "make_flow_estimator",
    "reliable_flow",
    "working_size",
]
