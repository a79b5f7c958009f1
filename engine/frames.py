"""Frames in time: frame ranges, and how a node's output frames depend on its inputs' frames.

A set of frames is a sorted tuple of disjoint half-open ranges
`((start, stop), ...)`; `ALL` stands for every frame of whatever clip it is
applied to and is cut down by `clamp` once the clip's length is known.

A node type declares a `Temporal`:

- per frame: output frame t needs input frame t;
- window r: t needs t-r .. t+r (r may be computed from the params);
- causal: t needs 0 .. t, and frame-keyed inputs (prompts, keyframes) at or before t;
- whole: anything (the default, for a plugin that declares nothing).

From the declaration the engine finds which output frames an input change
touches (`affected`) and which input frames some output frames need
(`needed`). Frame-keyed inputs (KeyMasks, Boxes, Points) follow the same
declaration as the clip inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

Ranges = tuple  # ((start, stop), ...), sorted, disjoint, non-empty ranges

INFINITY = 1 << 62
ALL: Ranges = ((0, INFINITY),)
NONE: Ranges = ()

KINDS = ("frame", "window", "causal", "whole")


def normalise(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sort, drop empty ranges and merge ranges that touch or overlap."""
    out: list[list[int]] = []
    for a, b in sorted((max(0, int(a)), int(b)) for a, b in ranges):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def union(*sets: Ranges) -> Ranges:
    return normalise(r for s in sets for r in s)


def intersect(x: Ranges, y: Ranges) -> Ranges:
    out, i, j = [], 0, 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a < b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def subtract(x: Ranges, y: Ranges) -> Ranges:
    """Frames of x that are not in y."""
    out = []
    for a, b in x:
        pos = a
        for c, d in y:
            if d <= pos or c >= b:
                continue
            if c > pos:
                out.append((pos, c))
            pos = max(pos, d)
        if pos < b:
            out.append((pos, b))
    return tuple(out)


def clamp(x: Ranges, count: int) -> Ranges:
    return intersect(x, ((0, count),)) if count > 0 else NONE


def size(x: Ranges) -> int:
    return sum(b - a for a, b in x)


def frames_of(x: Ranges) -> Iterable[int]:
    for a, b in x:
        yield from range(a, b)


def from_frames(frames: Iterable[int]) -> Ranges:
    """Ranges from frame indices in any order."""
    return normalise((f, f + 1) for f in frames)


def differing(old: list, new: list) -> Ranges:
    """Frames whose versions differ between two equally long version lists."""
    return from_frames(t for t, (a, b) in enumerate(zip(old, new)) if a != b)


def to_json(x: Ranges) -> list:
    return [[a, b] for a, b in x]


def from_json(x) -> Ranges:
    return normalise((a, b) for a, b in x)


def describe(x: Ranges) -> str:
    """'0-9, 20' for people (inclusive ends)."""
    return ", ".join(f"{a}" if b == a + 1 else f"{a}-{b - 1}" for a, b in x) or "none"


def parse_span(text: str) -> tuple[int, int]:
    """'A-B' (inclusive) or 'A' -> (A, B); ValueError with what to write otherwise."""
    head, sep, tail = str(text).strip().partition("-")
    try:
        a = int(head)
        b = int(tail) if sep else a
    except ValueError:
        raise ValueError(f"expected A-B with frame numbers, e.g. 0-99, got {text!r}") from None
    if a < 0 or b < a:
        raise ValueError(f"{text!r}: the first frame must be at least 0 and at most the last")
    return a, b


# ---------------------------------------------------------------- declarations

@dataclass(frozen=True)
class Temporal:
    """How output frame t depends on input frames.

    `reach` is the window radius r, as a number or a function of the params.
    `partial` says whether the node can render some frames and keep the rest
    of an earlier result; a node that cannot (an encoder writing one file)
    still declares what it reads, so a frame range needs only those frames.
    """

    kind: str = "whole"
    reach: int | Callable[[dict], int] = 0
    partial: bool = True

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"temporal kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def radius(self, params: dict) -> int:
        r = self.reach(params) if callable(self.reach) else self.reach
        return max(0, int(r))

    def describe(self, params: dict | None = None) -> str:
        if self.kind == "window":
            if callable(self.reach):
                r = "r from the params" if params is None else f"r = {self.radius(params)}"
            else:
                r = f"r = {self.reach}"
            text = f"window ({r}): frame t needs input frames t-r..t+r"
        else:
            text = {"frame": "per frame: frame t needs input frame t",
                    "causal": "causal: frame t needs input frames 0..t and prompts/keyframes at or before t",
                    "whole": "whole: any frame may need every input frame"}[self.kind]
        if not self.partial and self.kind != "whole":
            text += "; renders all asked frames together"
        return text

    def to_json(self) -> dict:
        d = {"kind": self.kind, "partial": self.partial}
        if self.kind == "window":
            d["reach"] = None if callable(self.reach) else self.reach
        return d


WHOLE = Temporal("whole")


def per_frame(partial: bool = True) -> Temporal:
    return Temporal("frame", 0, partial)


def window(reach: int | Callable[[dict], int], partial: bool = True) -> Temporal:
    return Temporal("window", reach, partial)


def causal(partial: bool = True) -> Temporal:
    return Temporal("causal", 0, partial)


def affected(decl: Temporal, params: dict, changed: Ranges, count: int) -> Ranges:
    """Output frames (of `count`) that changed input frames reach."""
    if not changed:
        return NONE
    if decl.kind == "frame":
        out = changed
    elif decl.kind == "window":
        r = decl.radius(params)
        out = normalise((a - r, b + r) for a, b in changed)
    elif decl.kind == "causal":
        out = ((changed[0][0], INFINITY),)
    else:
        out = ALL
    return clamp(out, count)


def needed(decl: Temporal, params: dict, wanted: Ranges) -> Ranges:
    """Input frames that output frames `wanted` read (not yet cut to a clip length)."""
    if not wanted:
        return NONE
    if decl.kind == "frame":
        return wanted
    if decl.kind == "window":
        r = decl.radius(params)
        return normalise((a - r, b + r if b < INFINITY else b) for a, b in wanted)
    if decl.kind == "causal":
        return ((0, wanted[-1][1]),)
    return ALL
