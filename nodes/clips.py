"""Walking clips inside a node: the one chunk size, and the helpers every family shares.

Nodes read their input clips a bounded chunk of frames at a time, so memory
never depends on a clip's length.
"""
from __future__ import annotations

from inpainterz.engine import BadInput

STEP = 16  # frames read at a time when a node walks a clip


def each_frame(clip, step: int = STEP):
    """The clip's frames one at a time, reading a chunk at a time."""
    for _, chunk in clip.chunks(size=step):
        yield from chunk


def paired_chunks(a, b, size: int = STEP):
    """(first index, chunk of a, chunk of b) over two clips of the same length, side by side."""
    for (start, ca), (_, cb) in zip(a.chunks(size=size), b.chunks(size=size)):
        yield start, ca, cb


def check_same_clip(a, a_name: str, b, b_name: str) -> None:
    """Raise BadInput, naming both inputs, unless two clips have the same frame count and size."""
    if len(a) != len(b):
        raise BadInput(f"input '{a_name}' has {len(a)} frames but input '{b_name}' has {len(b)}; "
                       f"connect clips of the same shot and range")
    if (a.height, a.width) != (b.height, b.width):
        raise BadInput(f"input '{a_name}' is {a.width}x{a.height} but input '{b_name}' is {b.width}x{b.height}; "
                       f"connect clips of the same size")
