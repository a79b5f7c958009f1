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


def chunks_in(clip, ranges, size: int = STEP):
    """(first index, array) over the frames in `ranges` (all frames when None), a bounded chunk at a time."""
    for start, stop in ranges if ranges is not None else ((0, len(clip)),):
        yield from clip.chunks(size=size, start=start, stop=stop)


def paired_chunks(a, b, size: int = STEP, ranges=None):
    """(first index, chunk of a, chunk of b) over two clips of the same length, side by side,
    over the frames in `ranges` (all frames when None)."""
    for (start, ca), (_, cb) in zip(chunks_in(a, ranges, size), chunks_in(b, ranges, size)):
        yield start, ca, cb


def frames_total(ctx, clip) -> int:
    """How many frames this render gives: what progress fractions are of."""
    return sum(b - a for a, b in ctx.frames_wanted) if ctx.frames_wanted is not None else len(clip)


def whole_clip(ctx, clip) -> bool:
    """Whether this render covers every frame of the clip (not a partial, frame-aware one)."""
    return ctx.frames_wanted is None or tuple(ctx.frames_wanted) == ((0, len(clip)),)


def check_same_clip(a, a_name: str, b, b_name: str) -> None:
    """Raise BadInput, naming both inputs, unless two clips have the same frame count and size."""
    if len(a) != len(b):
        raise BadInput(f"input '{a_name}' has {len(a)} frames but input '{b_name}' has {len(b)}; "
                       f"connect clips of the same shot and range")
    if (a.height, a.width) != (b.height, b.width):
        raise BadInput(f"input '{a_name}' is {a.width}x{a.height} but input '{b_name}' is {b.width}x{b.height}; "
                       f"connect clips of the same size")
