"""SMPTE timecode: so a clip cut from a source keeps the source's timecode for its first frame.

`HH:MM:SS:FF` counts whole frames at the rounded rate (24 for 24000/1001).
`HH:MM:SS;FF` is drop-frame (30000/1001, 60000/1001): frame numbers 0 and 1
(0-3 at 60) are skipped at the start of every minute except each tenth, so
the timecode keeps up with the clock.
"""
from __future__ import annotations

import re
from fractions import Fraction

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def _nominal(fps: Fraction) -> int:
    return max(1, round(float(fps)))


def _drop_count(fps: Fraction) -> int:
    return 2 * round(float(fps) / 30) if Fraction(fps).denominator == 1001 else 0


def to_frames(tc: str, fps: Fraction) -> int | None:
    """Frame number of a timecode, or None when it cannot be read."""
    m = _TC.match(tc.strip())
    if not m:
        return None
    h, mi, s, sep, f = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5))
    rate = _nominal(fps)
    n = ((h * 60 + mi) * 60 + s) * rate + f
    drop = _drop_count(fps) if sep in ";," else 0
    if drop:
        minutes = h * 60 + mi
        n -= drop * (minutes - minutes // 10)
    return n


def from_frames(n: int, fps: Fraction, drop_frame: bool) -> str:
    rate = _nominal(fps)
    drop = _drop_count(fps) if drop_frame else 0
    if drop:
        per_10min = rate * 600 - drop * 9
        per_min = rate * 60 - drop
        tens, rest = divmod(n, per_10min)
        n += drop * 9 * tens + (drop * ((rest - drop) // per_min) if rest > drop else 0)
    f = n % rate
    s = (n // rate) % 60
    mi = (n // rate // 60) % 60
    h = (n // rate // 3600) % 24
    return f"{h:02d}:{mi:02d}:{s:02d}{';' if drop else ':'}{f:02d}"


def offset(tc: str, frames: int, fps: Fraction) -> str | None:
    """The timecode `frames` frames after `tc`, in the same style; None when `tc` is unreadable."""
    start = to_frames(tc, fps)
    if start is None:
        return None
    drop_frame = bool(_drop_count(fps)) and (";" in tc or "," in tc)
    return from_frames(start + frames, fps, drop_frame)


def source_timecode(container) -> str | None:
    """The start timecode a container declares: on the video stream, a timecode track, or the file."""
    candidates = [s.metadata for s in container.streams.video] + [s.metadata for s in container.streams
                                                                   if s.type == "data"] + [container.metadata]
    for meta in candidates:
        for key in ("timecode", "TIMECODE"):
            if meta.get(key):
                return str(meta[key])
    return None
