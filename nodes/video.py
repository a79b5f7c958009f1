"""Video files through PyAV (FFmpeg): indexing, a lazy frame reader, encoding.

A video is indexed once by demuxing it (no decoding): the presentation
timestamps of its frames give the exact frame count, the frame rate and the
keyframes to seek to. The container's own frame count is not trusted (Matroska
has none, edit lists and damaged files make it wrong). The index is checked
by decoding the first frame and the last group of pictures; if that disagrees,
every frame is decoded once and the decoded timestamps become the index.

`VideoReader` is the lazy clip backing a `ReadVideo` output: it decodes from
the file on demand, so nothing is copied into the cache and memory does not
grow with the clip. It keeps a few open decoders ("cursors"), because nodes
often walk a clip with two iterators a few frames apart (a fill that reads
ahead and a paste that lags behind); each keeps its own decoder position
instead of seeking back and forth.
"""
from __future__ import annotations

import bisect
import shlex
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from inpainterz.engine import BadInput
from inpainterz.engine.fingerprint import file_sha256
from inpainterz.engine.paths import not_regular
from inpainterz.engine.data import chunk_frames, register_reader
from inpainterz.engine.fingerprint import stat_key

READER_KIND = "inpainterz.video"
# Bump when decoding gives different pixels for the same file (colour
# conversion, scaling filter), so versions of cached results change with it.
DECODE_VERSION = 1
MAX_CURSORS = 3

# Rates people write as decimals but mean as NTSC fractions.
NTSC_RATES = (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(48000, 1001),
              Fraction(60000, 1001), Fraction(120000, 1001))

# libavutil colour-space codes that swscale understands (AVCOL_SPC_*).
_BT709, _BT601, _SMPTE170M, _SMPTE240M, _BT2020 = 1, 5, 6, 7, 9


def parse_rate(text) -> Fraction:
    """'25', '24000/1001', 23.976 or '29.97' -> a frame rate; NTSC decimals snap to their fraction."""
    try:
        rate = Fraction(str(text).strip())
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"cannot read {text!r} as a frame rate; write e.g. 25, 24000/1001 or 29.97") from None
    if rate <= 0 or rate > 1000:
        raise ValueError(f"frame rate {text!r} is outside 0..1000")
    for ntsc in NTSC_RATES:
        if rate != ntsc and abs(float(rate) - float(ntsc)) < 0.006:
            return ntsc
    return rate


def rate_error(text) -> str | None:
    try:
        parse_rate(text)
    except ValueError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------- index

@dataclass
class VideoIndex:
    """What a video file holds, found once per render of ReadVideo."""

    stream: int  # the container-wide index of the video stream
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    pts: list  # presentation timestamps in display order, one per frame; None when unknown
    keys: list  # positions of the frames a decoder can start at, ascending
    rotation: int = 0
    expected: int | None = None  # the frame count the file declares, when it declares one

    @property
    def count(self) -> int:
        return len(self.pts)

    @property
    def seekable(self) -> bool:
        return self.pts is not None and bool(self.pts) and self.pts[0] is not None


def _ffmpeg_errors():
    return (av.error.FFmpegError, OSError, EOFError, ValueError)


def open_video(path: Path):
    """Open a container and find its video stream, or raise BadInput naming the file."""
    if not path.exists():
        raise BadInput(f"video file {path} does not exist; check the path")
    if path.is_dir():
        raise BadInput(f"{path} is a folder, not a video file; for an image sequence use ReadImages")
    what = not_regular(path)
    if what:  # opening a FIFO or a device would block or read forever
        raise BadInput(f"{path} is {what}, not a video file; give a regular file")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except _ffmpeg_errors() as exc:
        raise BadInput(f"cannot open {path} as a video: {exc}; is it a video file, and complete?") from None
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not streams:
        container.close()
        raise BadInput(f"{path} has no video stream")
    return container, streams[0]


def index_video(path: Path) -> VideoIndex:
    """Index a video by demuxing it; raise BadInput for missing, damaged or empty files."""
    container, stream = open_video(path)
    try:
        tb = Fraction(stream.time_base) if stream.time_base else None
        pts, keys_pts = [], set()
        known = True
        try:
            for pkt in container.demux(stream):
                if pkt.size == 0 or pkt.is_discard:
                    continue
                if pkt.pts is None:
                    known = False
                pts.append(pkt.pts)
                if pkt.is_keyframe:
                    keys_pts.add(pkt.pts)
        except _ffmpeg_errors() as exc:
            raise BadInput(f"{path} is damaged: reading it failed after {len(pts)} frames ({exc})") from None
        width, height, stream_index = stream.codec_context.width, stream.codec_context.height, stream.index
        guesses = [r for r in (stream.guessed_rate, stream.average_rate, stream.base_rate) if r]
        expected = declared_frames(container, stream, guesses)
    finally:
        container.close()
    if not pts:
        raise BadInput(f"{path} has no video frames")
    if not known or tb is None or len(set(pts)) != len(pts):
        return _index_by_decoding(path, guesses)
    pts.sort()
    keys = [i for i, p in enumerate(pts) if p in keys_pts] or [0]
    if keys[0] != 0:
        keys.insert(0, 0)  # decoding from the start always works
    fps = _frame_rate(path, pts, tb, guesses)
    index = VideoIndex(stream_index, width, height, fps, tb, pts, keys)
    if not _tail_matches(path, index):
        index = _index_by_decoding(path, guesses)
    index.expected = expected
    return index


def declared_frames(container, stream, guesses: list) -> int | None:
    """How many frames the file says it holds (its header, or its duration at its rate), if it says."""
    if stream.frames:
        return int(stream.frames)
    rate = guesses[0] if guesses else None
    if stream.duration and stream.time_base and rate:
        return int(round(float(stream.duration * stream.time_base * rate)))
    if container.duration and rate:
        return int(round(container.duration / 1_000_000 * float(rate)))
    return None


def frame_rotation(frame) -> int:
    """The rotation a frame asks players to apply (phone footage), in degrees."""
    try:
        return int(round(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):
        return 0


def _frame_rate(path: Path, pts: list, tb: Fraction, guesses: list) -> Fraction:
    """The constant frame rate the timestamps show; refuse variable frame rate."""
    if len(pts) < 2:
        return Fraction(guesses[0]) if guesses else Fraction(25)
    steps = np.diff(np.asarray(pts, dtype=np.int64))
    typical = float(np.median(steps))
    # A gap of a hundred typical frames or more is no frame rate at all: damaged timestamps.
    wild = steps > 100 * typical
    if typical > 0 and wild.any():
        first = int(np.argmax(wild))
        raise BadInput(
            f"{path} has damaged timestamps: frame {first + 1} is stamped {steps[first] * float(tb):.1f} s after "
            f"frame {first}, where frames are {typical * float(tb) * 1000:.1f} ms apart; re-encode it with new "
            f"timestamps (ffmpeg's setpts=N/FRAME_RATE/TB filter makes them from the frame numbers)")
    median = typical * float(tb)
    mean = (pts[-1] - pts[0]) * tb / (len(pts) - 1)
    tick = float(tb)
    fps = None
    for guess in guesses:
        g = Fraction(guess)
        # a container time base coarser than the frame rate rounds each step by up to one tick
        if abs(median - 1 / float(g)) <= tick + 1e-9 and abs(float(mean) - 1 / float(g)) <= tick + 1e-9:
            fps = g
            break
    if fps is None:
        # No declared rate fits the timestamps: take the rate they show.
        if not mean or mean <= 0 or 1 / mean > 1000:
            raise BadInput(f"{path}: the frame timestamps give no usable frame rate; re-encode it at a constant rate")
        fps = parse_rate((1 / mean).limit_denominator(1001))
    # Frames whose spacing is off by half a frame or more mean dropped or held
    # frames: frame index no longer tells time, and audio would drift.
    frame = 1 / float(fps)
    off = np.abs(steps * tick - frame) > max(0.5 * frame, tick)
    if off.any():
        first = int(np.argmax(off))
        raise BadInput(
            f"{path} has a variable frame rate (frame {first + 1} comes {steps[first] * tick * 1000:.1f} ms after "
            f"frame {first}, expected {frame * 1000:.1f} ms); conform it to a constant rate first, e.g. "
            f"ffmpeg -i {shlex.quote(str(path))} -fps_mode cfr -r {fps.numerator}/{fps.denominator} -c:a copy "
            f"{shlex.quote(str(path.with_name(path.stem + '_cfr' + path.suffix)))}")
    return fps


def _decode_all_pts(path: Path) -> tuple[list, set, int, int, int, int]:
    container, stream = open_video(path)
    stream.thread_type = "AUTO"
    pts, keys = [], set()
    rotation = 0
    try:
        for frame in container.decode(stream):
            if not pts:
                rotation = frame_rotation(frame)
            if frame.key_frame:
                keys.add(len(pts))
            pts.append(frame.pts)
    except _ffmpeg_errors() as exc:
        raise BadInput(f"{path} is damaged: decoding failed after {len(pts)} frames ({exc})") from None
    finally:
        w, h, idx = stream.codec_context.width, stream.codec_context.height, stream.index
        container.close()
    return pts, keys, w, h, idx, rotation


def _index_by_decoding(path: Path, guesses: list) -> VideoIndex:
    """Index by decoding every frame once: for streams without usable timestamps."""
    pts, keys, w, h, idx, rotation = _decode_all_pts(path)
    if not pts:
        raise BadInput(f"{path} has no decodable video frames")
    container, stream = open_video(path)
    tb = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
    container.close()
    if any(p is None for p in pts) or len(set(pts)) != len(pts):
        fps = Fraction(guesses[0]) if guesses else Fraction(25)
        return VideoIndex(idx, w, h, fps, tb, [None] * len(pts), [0], rotation)
    order = sorted(range(len(pts)), key=lambda i: pts[i])
    sorted_pts = [pts[i] for i in order]
    key_pos = sorted({order.index(k) for k in keys} | {0})
    fps = _frame_rate(path, sorted_pts, tb, guesses)
    return VideoIndex(idx, w, h, fps, tb, sorted_pts, key_pos, rotation)


def _tail_matches(path: Path, index: VideoIndex) -> bool:
    """Decode the first frame and the last group of pictures; do they match the index?"""
    container = av.open(str(path), metadata_errors="ignore")
    try:
        stream = container.streams[index.stream]
        stream.thread_type = "AUTO"
        try:
            first = next(container.decode(stream), None)
        except _ffmpeg_errors() as exc:
            raise BadInput(f"{path}: the video cannot be decoded ({exc})") from None
        if first is None or first.pts != index.pts[0]:
            return False
        index.rotation = frame_rotation(first)
        last_key = index.keys[-1]
        container.seek(index.pts[last_key], stream=stream, backward=True, any_frame=False)
        want = set(index.pts[last_key:])
        seen = set()
        for frame in container.decode(stream):
            if frame.pts is None:
                return False
            if frame.pts in want:
                seen.add(frame.pts)
        return seen == want
    except av.error.FFmpegError:
        return False
    finally:
        container.close()


# ---------------------------------------------------------------- colour

def source_colorspace(frame) -> int:
    """The matrix a YUV frame was made with; untagged video follows the player convention (HD: BT.709)."""
    cs = int(frame.colorspace or 2)
    if cs in (_BT709, _BT601, _SMPTE240M):
        return cs
    if cs == _SMPTE170M:
        return _BT601
    if cs in (_BT2020, 10):
        return _BT2020
    return _BT709 if frame.height >= 720 or frame.width >= 1280 else _BT601


def output_colorspace(width: int, height: int) -> int:
    return _BT709 if height >= 720 or width >= 1280 else _BT601


def frame_to_rgb(frame, width: int, height: int) -> np.ndarray:
    scaling = (width, height) != (frame.width, frame.height)
    interp = "AREA" if scaling and width < frame.width else ("BICUBIC" if scaling else None)
    rng = int(frame.color_range or 0) or None
    rgb = frame.reformat(width=width, height=height, format="rgb24", src_colorspace=source_colorspace(frame),
                         src_color_range=rng, interpolation=interp)
    return rgb.to_ndarray()


# ---------------------------------------------------------------- lazy reader

class _Cursor:
    """One open decoder and the position of the frame it yields next."""

    def __init__(self, path: Path, stream_index: int):
        self.stream_index = stream_index
        self.container = av.open(str(path), metadata_errors="ignore")
        self.stream = self.container.streams[stream_index]
        self.stream.thread_type = "AUTO"
        self.frames = self.container.decode(self.stream)
        self.next_pos: int | None = 0  # a fresh decoder starts at frame 0
        self.from_start = True  # decoding from the start: nothing earlier to step back to
        self.seek_key = 0  # the keyframe position of the last seek
        self.decoded = 0  # frames decoded from the start (for streams without timestamps)
        self.last_used = 0

    def seek(self, pts: int, key: int) -> None:
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.frames = self.container.decode(self.stream)
        self.next_pos, self.from_start, self.seek_key = None, False, key

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


class VideoReader:
    """Frames first..first+count-1 of a video file, decoded on demand (thread-safe)."""

    kind = READER_KIND

    def __init__(self, path, stat, sha256: str, first: int, count: int, width: int, height: int,
                 scale: float, index: VideoIndex | None = None, stream: int | None = None):
        self.path, self.stat, self.sha256 = Path(path), stat, sha256
        self.first, self.count, self.width, self.height, self.scale = int(first), int(count), int(width), int(height), float(scale)
        self._index = index
        self._stream = index.stream if index is not None else stream
        self._lock = threading.Lock()
        self._cursors: list[_Cursor] = []
        self._clock = 0
        self._pos_of: dict | None = None

    @property
    def natural_chunk(self) -> int:
        return min(32, chunk_frames((self.height, self.width, 3)))

    # -- cache metadata

    def to_meta(self, base: Path) -> dict:
        return {"kind": self.kind, "path": str(self.path), "stat": self.stat,
                "sha256": self.sha256, "first": self.first, "last": self.first + self.count - 1,
                "count": self.count, "width": self.width,
                "height": self.height, "scale": self.scale, "stream": self._stream}

    @classmethod
    def from_meta(cls, meta: dict, base: Path) -> "VideoReader":
        path = Path(meta["path"])
        check_unchanged(path, meta["stat"], meta["sha256"], "ReadVideo")
        return cls(path, meta["stat"], meta["sha256"], meta["first"], meta["count"], meta["width"],
                   meta["height"], meta["scale"], stream=meta.get("stream"))

    # -- reading

    def _ensure_index(self) -> VideoIndex:
        if self._index is None:
            self._index = index_video(self.path)
            if self._index.count < self.first + self.count:
                raise BadInput(f"{self.path} now has {self._index.count} frames, fewer than when it was read; "
                               f"run ReadVideo again")
        if self._pos_of is None and self._index.seekable:
            self._pos_of = {p: i for i, p in enumerate(self._index.pts)}
        return self._index

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.height, self.width, 3), dtype=np.uint8)
        with self._lock:
            index = self._ensure_index()
            for k, pos in enumerate(range(self.first + start, self.first + stop)):
                out[k] = frame_to_rgb(self._decode(index, pos), self.width, self.height)
        return out

    def _decode(self, index: VideoIndex, pos: int):
        cursor = self._cursor_for(index, pos)
        try:
            return self._advance(index, cursor, pos)
        except av.error.FFmpegError as exc:
            self._drop(cursor)
            raise BadInput(f"{self.path}: frame {pos} cannot be decoded ({exc}); the file may be damaged") from None

    def _cursor_for(self, index: VideoIndex, pos: int) -> _Cursor:
        self._clock += 1
        key = index.keys[bisect.bisect_right(index.keys, pos) - 1]
        # Decoding on from a cursor beats seeking when no keyframe lies between it and `pos`.
        best = None
        for c in self._cursors:
            if c.next_pos is not None and key <= c.next_pos <= pos:
                if best is None or c.next_pos > best.next_pos:
                    best = c
        if best is not None:
            best.last_used = self._clock
            return best
        if len(self._cursors) < MAX_CURSORS:
            cursor = _Cursor(self.path, index.stream)
            self._cursors.append(cursor)
            if key > 0 and index.seekable:
                cursor.seek(index.pts[key], key)
        else:
            cursor = min(self._cursors, key=lambda c: c.last_used)
            self._reposition(index, cursor, pos)
        cursor.last_used = self._clock
        return cursor

    def _reposition(self, index: VideoIndex, cursor: _Cursor, pos: int, before: int | None = None) -> None:
        """Seek to the last keyframe at or before `pos` (or before `before`); frame 0 needs no seek."""
        limit = pos if before is None else before - 1
        key = index.keys[bisect.bisect_right(index.keys, limit) - 1] if limit >= 0 else 0
        if key == 0 or not index.seekable:
            self._restart(cursor)
        else:
            cursor.seek(index.pts[key], key)

    def _restart(self, cursor: _Cursor) -> None:
        cursor.close()
        fresh = _Cursor(self.path, cursor.stream_index)
        cursor.container, cursor.stream, cursor.frames = fresh.container, fresh.stream, fresh.frames
        cursor.next_pos, cursor.from_start, cursor.seek_key, cursor.decoded = 0, True, 0, 0

    def _advance(self, index: VideoIndex, cursor: _Cursor, pos: int):
        while True:
            frame = next(cursor.frames, None)
            if frame is None:
                self._drop(cursor)
                raise BadInput(f"{self.path}: the video ends before frame {pos}; the file may be truncated")
            if index.seekable:
                at = self._pos_of.get(frame.pts)
                if at is None:
                    continue  # a frame the container tells the decoder to drop
            else:
                at = cursor.decoded
                cursor.decoded += 1
            if at > pos:
                if cursor.from_start:
                    self._drop(cursor)
                    raise BadInput(f"{self.path}: frame {pos} cannot be decoded; the file may be damaged")
                # The seek landed after the frame wanted: step back one keyframe.
                self._reposition(index, cursor, pos, before=cursor.seek_key)
                continue
            cursor.next_pos = at + 1
            if at == pos:
                return frame

    def _drop(self, cursor: _Cursor) -> None:
        cursor.close()
        if cursor in self._cursors:
            self._cursors.remove(cursor)

    def close(self) -> None:
        with self._lock:
            for c in self._cursors:
                c.close()
            self._cursors.clear()

    def __del__(self):
        try:
            for c in self._cursors:
                c.close()
        except Exception:
            pass


def check_unchanged(path: Path, stat, sha256: str, node_type: str) -> None:
    """A clip read lazily is only valid while its file still holds the same bytes."""
    now = stat_key(path)
    if now is None:
        raise BadInput(f"{path} was read by {node_type} but is gone now; restore it or run the graph again")
    if list(now) != list(stat) and file_sha256(path) != sha256:
        raise BadInput(f"{path} changed since {node_type} read it; run the graph again so it is read anew")


register_reader(READER_KIND, VideoReader.from_meta)
