"""Weight-free video inpainting guided by optical flow.

The hole of each frame is filled with background that other frames show,
brought in along optical flow that has been completed across the holes.
What no frame shows is invented once by spatial inpainting and then carried
along the flow, so it does not flicker. Everything runs on a sliding window
of frames, so memory stays bounded and time grows linearly with clip length.

Plain functions on numpy arrays; the InpaintFlow node wraps them.
"""

from .clip import fill_clip, fill_stream
from .flow import FLOW_PRESETS, estimate_flow, make_flow_estimator, reliable_flow
from .size import working_size

__all__ = [
    "FLOW_PRESETS",
    "estimate_flow",
    "fill_clip",
    "fill_stream",
    "make_flow_estimator",
    "reliable_flow",
    "working_size",
]
