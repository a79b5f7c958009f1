"""The data that travels on edges, and how it lies on disk.

`Frames` and `Masks` are clips: read-only, read by index or in chunks, never
held whole in memory. Each is backed by a *reader*: chunk files in the cache
(written through `ClipWriter`) or a lazy reader on a source file (registered
by the I/O nodes with `register_reader`). `KeyMasks`, `Boxes` and `Points`
are small and live in memory as dicts.

Every value has a `version`: the content hash that gives the engine its early
cutoff. It covers what the data *is* (pixels, fps, shape), not where it came
from, so a byte-identical copy of a source file yields the same version.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import zlib
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .memory import keep_large_arrays_out_of_the_heap

CHUNK_BYTES = 32 * 1024 * 1024  # target size of one chunk file


def digest(*parts: Any) -> str:
    """A short, stable content hash of JSON-able parts and bytes."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, (bytes, bytearray, memoryview)):
            h.update(bytes(part))
        else:
            h.update(json.dumps(part, sort_keys=True, separators=(",", ":"), default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


@dataclass(frozen=True)
class SourceInfo:
    """Where a clip came from, so audio and timecode can follow it.

    `first` is the index, in the source, of this clip's frame 0.
    """

    path: str
    first: int = 0
    fps: str | None = None  # the source's own frame rate, as "num/den"

    def to_json(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- readers

READERS: dict[str, Callable[[dict, Path], Any]] = {}


def register_reader(kind: str, from_meta: Callable[[dict, Path], Any]) -> None:
    """Make a reader kind loadable from cache metadata (`meta["kind"] == kind`).

    A kind is a short stable name ("chunks", "video"): cache entries name
    the kind, never the module that defines it, so code can move without
    breaking the cache.
    """
    READERS[kind] = from_meta


def reader_known(kind) -> bool:
    """Whether a reader of this kind can be rebuilt, loading the node registry if it has not been."""
    if kind not in READERS:
        # Node modules register their readers when the registry imports them.
        from .registry import default_registry

        default_registry()
    return kind in READERS


def readers_known(meta: dict) -> bool:
    """Whether every clip output of a cache entry has a reader this process can rebuild.

    An entry whose reader kind nobody registers (a plugin that is gone, an
    entry from other code) counts as a cache miss, never as a crash.
    """
    return all(reader_known(out["reader"].get("kind")) for out in meta.get("outputs", {}).values()
               if isinstance(out, dict) and isinstance(out.get("reader"), dict))


def reader_from_meta(meta: dict, base: Path):
    kind = meta.get("kind")
    if not reader_known(kind):
        raise KeyError(f"no reader for clip kind {kind!r}")
    return READERS[kind](meta, base)


class ChunkReader:
    """Reads a clip stored as numbered chunk files (raw .npy or zlib)."""

    kind = "chunks"

    def __init__(self, folder: Path, count: int, shape: tuple, chunk: int, compressed: bool):
        self.folder, self.count, self.shape = Path(folder), count, tuple(shape)
        self.chunk, self.compressed = chunk, compressed
        self._lock = threading.Lock()
        self._cached: tuple[int, np.ndarray] | None = None  # one decoded chunk

    def _load_chunk(self, index: int) -> np.ndarray:
        with self._lock:
            if self._cached is not None and self._cached[0] == index:
                return self._cached[1]
            self._cached = None  # let the previous chunk go before the next one is decoded
        n = min(self.chunk, self.count - index * self.chunk)
        if self.compressed:
            # One allocation of the known size: a growing buffer fragments the heap.
            raw = zlib.decompress((self.folder / f"{index:06d}.z").read_bytes(), bufsize=n * int(np.prod(self.shape)))
            arr = np.frombuffer(raw, dtype=np.uint8).reshape((n, *self.shape))
        else:
            arr = np.load(self.folder / f"{index:06d}.npy", mmap_mode="r")
        with self._lock:
            self._cached = (index, arr)
        return arr

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, *self.shape), dtype=np.uint8)
        pos = start
        while pos < stop:
            ci = pos // self.chunk
            arr = self._load_chunk(ci)
            lo = pos - ci * self.chunk
            hi = min(len(arr), lo + (stop - pos))
            out[pos - start: pos - start + hi - lo] = arr[lo:hi]
            pos += hi - lo
        return out

    @property
    def natural_chunk(self) -> int:
        return self.chunk

    def files(self) -> list[Path]:
        ext = ".z" if self.compressed else ".npy"
        n = -(-self.count // self.chunk) if self.count else 0
        return [self.folder / f"{i:06d}{ext}" for i in range(n)]

    def to_meta(self, base: Path) -> dict:
        return {"kind": self.kind, "dir": os.path.relpath(self.folder, base), "count": self.count,
                "shape": list(self.shape), "chunk": self.chunk, "compressed": self.compressed}

    @classmethod
    def from_meta(cls, meta: dict, base: Path) -> "ChunkReader":
        return cls(base / meta["dir"], meta["count"], tuple(meta["shape"]), meta["chunk"], meta["compressed"])


register_reader(ChunkReader.kind, ChunkReader.from_meta)


# ---------------------------------------------------------------- clips

class Clip:
    """A read-only sequence of equally sized uint8 frames."""

    type_name = "Clip"

    def __init__(self, reader, count: int, height: int, width: int, version: str,
                 frame_versions: list | None = None):
        self.reader, self.count, self.height, self.width = reader, int(count), int(height), int(width)
        self.version = version
        self._frame_versions = frame_versions

    @property
    def frame_versions(self) -> list:
        """A data-version per frame (None: a frame this clip does not hold, see `present`).

        A source that cannot tell its frames apart (one video file) gives
        none, and every frame then changes with the clip.
        """
        if self._frame_versions is None:
            self._frame_versions = [digest(self.version, t) for t in range(self.count)]
        return self._frame_versions

    def present(self):
        """The frames this clip holds as ranges: all, unless it came from a frame-range run."""
        from . import frames

        if self._frame_versions is None or None not in self._frame_versions:
            return ((0, self.count),) if self.count else ()
        return frames.from_frames(t for t, v in enumerate(self._frame_versions) if v is not None)

    def span(self, start: int, stop: int) -> "Clip":
        """Frames start..stop-1 as a clip of their own (read from this one, nothing copied)."""
        start, stop = max(0, int(start)), min(self.count, int(stop))
        return self._derive(OffsetReader(self.reader, start), max(0, stop - start),
                            digest(self.version, "span", start, stop), self.frame_versions[start:stop], start)

    def _derive(self, reader, count, version, frame_versions, offset):
        return type(self)(reader, count, self.height, self.width, version, frame_versions)

    def __len__(self) -> int:
        return self.count

    @property
    def shape(self) -> tuple:
        return (self.count, *self.frame_shape)

    @property
    def frame_shape(self) -> tuple:
        return (self.height, self.width)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1 as one array (k, *frame_shape)."""
        start, stop = max(0, int(start)), min(self.count, int(stop))
        if stop <= start:
            return np.empty((0, *self.frame_shape), dtype=np.uint8)
        return self.reader.read(start, stop)

    def __getitem__(self, i: int) -> np.ndarray:
        if i < 0:
            i += self.count
        if not 0 <= i < self.count:
            raise IndexError(f"frame {i} is outside the clip (0..{self.count - 1})")
        return self.read(i, i + 1)[0]

    def chunks(self, size: int | None = None, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first index, array) over the clip, a bounded chunk at a time."""
        stop = self.count if stop is None else min(stop, self.count)
        size = size or getattr(self.reader, "natural_chunk", None) or chunk_frames(self.frame_shape)
        for pos in range(start, stop, size):
            yield pos, self.read(pos, min(stop, pos + size))

    def __repr__(self) -> str:
        return f"{self.type_name}({self.count} x {'x'.join(map(str, self.frame_shape))}, version {self.version[:8]})"


class Frames(Clip):
    """A clip of RGB frames, (H, W, 3) uint8 each, with its frame rate."""

    type_name = "Frames"

    def __init__(self, reader, count, height, width, version, frame_versions: list | None = None,
                 fps: Fraction = Fraction(25), source: SourceInfo | None = None):
        super().__init__(reader, count, height, width, version, frame_versions)
        self.fps, self.source = Fraction(fps), source

    def _derive(self, reader, count, version, frame_versions, offset):
        source = self.source
        if source is not None:  # audio and timecode follow the frames that are kept
            source = SourceInfo(source.path, source.first + offset, source.fps)
        return Frames(reader, count, self.height, self.width, version, frame_versions, fps=self.fps, source=source)

    @property
    def frame_shape(self) -> tuple:
        return (self.height, self.width, 3)


class Masks(Clip):
    """A clip of label maps, (H, W) uint8 each: 0 background, 1..255 objects."""

    type_name = "Masks"


class OffsetReader:
    """Reads frames of another reader from `offset` on (a clip's span)."""

    def __init__(self, reader, offset: int):
        self.reader, self.offset = reader, offset

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.reader.read(start + self.offset, stop + self.offset)

    @property
    def natural_chunk(self):
        return getattr(self.reader, "natural_chunk", None)


class PresentOnly:
    """Reads a clip from a frame-range run, refusing the frames that run left out
    (they are stored as zeros, which must never pass for pixels)."""

    def __init__(self, reader, versions: list):
        self.reader, self.versions = reader, versions

    def read(self, start: int, stop: int) -> np.ndarray:
        missing = next((t for t in range(start, stop) if self.versions[t] is None), None)
        if missing is not None:
            raise ValueError(f"frame {missing} was not rendered: this clip comes from a run of some frames "
                             f"only; run the graph for the frames you need")
        return self.reader.read(start, stop)

    @property
    def natural_chunk(self):
        return getattr(self.reader, "natural_chunk", None)


def stored_reader(reader):
    """The reader that holds a clip's data, beneath any check on which frames may be read."""
    return reader.reader if isinstance(reader, PresentOnly) else reader


def frame_version(frame: np.ndarray) -> str:
    """The data-version of one stored frame: a hash of its bytes."""
    return hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=16).hexdigest()


def clip_version(header: dict, frame_versions: list) -> str:
    """A clip's version from its header and frame versions, so a clip spliced from
    reused and new frames has the version a cold render of the same bytes has."""
    return digest(header, frame_versions)


def chunk_frames(frame_shape: tuple) -> int:
    return max(1, CHUNK_BYTES // max(1, int(np.prod(frame_shape))))


_HASH = object()  # a buffered frame whose version is its hash, computed when its chunk is written


class ClipWriter:
    """Appends frames to chunk files in a folder, with a data-version per frame."""

    def __init__(self, folder: Path, frame_shape: tuple, compressed: bool, make: Callable[..., Clip], header: dict):
        keep_large_arrays_out_of_the_heap()  # or the heap grows with clip length
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.frame_shape, self.compressed, self._make = tuple(frame_shape), compressed, make
        self.chunk = chunk_frames(self.frame_shape)
        self._buf = np.empty((self.chunk, *self.frame_shape), dtype=np.uint8)
        self._fill = 0
        self._pending: list = []  # versions of the buffered frames (or _HASH)
        self._chunks_written = 0
        self._header = header
        self.versions: list = []
        self.count = 0
        self._closed = False

    def append(self, frames: np.ndarray, versions: list | None = None) -> None:
        """Add one frame (frame_shape) or a batch (k, *frame_shape) of uint8.

        `versions` gives the frames' known versions (frames reused from an
        earlier result; None marks a frame the clip does not hold); without
        it each frame's version is the hash of its bytes.
        """
        arr = np.asarray(frames)
        if arr.shape == self.frame_shape:
            arr = arr[None]
        if arr.shape[1:] != self.frame_shape:
            raise ValueError(f"frame shape {arr.shape[1:]} does not match the clip's {self.frame_shape}")
        if arr.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {arr.dtype}")
        if versions is not None and len(versions) != len(arr):
            raise ValueError(f"{len(versions)} versions for {len(arr)} frames")
        pos = 0
        while pos < len(arr):
            take = min(self.chunk - self._fill, len(arr) - pos)
            self._buf[self._fill:self._fill + take] = arr[pos:pos + take]
            self._pending += [_HASH] * take if versions is None else list(versions[pos:pos + take])
            self._fill += take
            pos += take
            if self._fill == self.chunk:
                self._flush()
        self.count += len(arr)

    @property
    def at_chunk_start(self) -> bool:
        return self._fill == 0

    def link_chunk(self, path: Path, versions: list) -> None:
        """Take a whole stored chunk of another clip with the same layout, without copying it."""
        if self._fill or len(versions) != self.chunk:
            raise ValueError("only a whole chunk can be linked, at a chunk boundary")
        link_or_copy(Path(path), self.folder / self._chunk_name(self._chunks_written))
        self._chunks_written += 1
        self.versions += list(versions)
        self.count += self.chunk

    def _chunk_name(self, index: int) -> str:
        return f"{index:06d}{'.z' if self.compressed else '.npy'}"

    def _flush(self) -> None:
        if not self._fill:
            return
        data = self._buf[: self._fill]
        self.versions += [frame_version(data[i]) if v is _HASH else v for i, v in enumerate(self._pending)]
        path = self.folder / self._chunk_name(self._chunks_written)
        if self.compressed:
            path.write_bytes(zlib.compress(data.tobytes(), 1))
        else:
            # The bytes np.save writes, but through file.write: np.save's tofile reports a full
            # disk as "N requested and M written" with no errno, so it would not read as one.
            with open(path, "wb") as fh:
                np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(data))
                fh.write(memoryview(np.ascontiguousarray(data)).cast("B"))
        self._chunks_written += 1
        self._fill = 0
        self._pending = []

    def close(self) -> Clip:
        if self._closed:
            raise RuntimeError("clip writer already closed")
        self._flush()
        self._closed = True
        self._buf = None
        reader = ChunkReader(self.folder, self.count, self.frame_shape, self.chunk, self.compressed)
        version = clip_version(self._header, self.versions)
        h, w = self.frame_shape[:2]
        return self._make(reader, self.count, h, w, version, self.versions)


def writer_like(folder: Path, clip: Clip) -> ClipWriter:
    """A writer for a clip of the same type, size, rate and source as `clip`."""
    if isinstance(clip, Frames):
        return frames_writer(folder, clip.height, clip.width, clip.fps, clip.source)
    return masks_writer(folder, clip.height, clip.width)


def frames_writer(folder: Path, height: int, width: int, fps: Fraction, source: SourceInfo | None = None) -> ClipWriter:
    fps = Fraction(fps)
    header = {"type": "Frames", "h": height, "w": width, "fps": str(fps)}
    return ClipWriter(folder, (height, width, 3), False,
                      lambda r, n, h, w, v, fv: Frames(r, n, h, w, v, fv, fps=fps, source=source), header)


def masks_writer(folder: Path, height: int, width: int) -> ClipWriter:
    # Label maps are mostly zeros: zlib at level 1 shrinks them ~50x for little CPU.
    header = {"type": "Masks", "h": height, "w": width}
    return ClipWriter(folder, (height, width), True, Masks, header)


def frames_version(content: str, count: int, height: int, width: int, fps: Fraction) -> str:
    """The version of a Frames clip read lazily from a source (content = hash of the source data)."""
    return digest("Frames", content, count, height, width, str(Fraction(fps)))


def masks_version(content: str, count: int, height: int, width: int) -> str:
    return digest("Masks", content, count, height, width)


# ---------------------------------------------------------------- keyed data

class KeyMasks(dict):
    """Label maps for some frames only: {frame index: (H, W) uint8}."""

    type_name = "KeyMasks"

    def __init__(self, items=(), height: int = 0, width: int = 0):
        super().__init__()
        self.height, self.width = int(height), int(width)
        for k, v in dict(items).items():
            self[k] = v

    def __setitem__(self, key, value):
        arr = np.asarray(value)
        if arr.dtype != np.uint8 or arr.ndim != 2:
            raise ValueError(f"keymask for frame {key} must be an (H, W) uint8 label map, got {arr.dtype} {arr.shape}")
        if self.height and arr.shape != (self.height, self.width):
            raise ValueError(f"keymask for frame {key} is {arr.shape[1]}x{arr.shape[0]}, expected {self.width}x{self.height}")
        if not self.height:
            self.height, self.width = arr.shape
        super().__setitem__(int(key), arr)

    @property
    def version(self) -> str:
        return digest("KeyMasks", self.height, self.width, self.frame_versions())

    def frame_versions(self) -> dict:
        """{frame: version}: a keyframe added or changed at N changes N only."""
        return {k: digest(self.height, self.width, np.ascontiguousarray(self[k]).tobytes()) for k in sorted(self)}


class _Records(dict):
    """{frame index: [record, ...]} with JSON-able records."""

    type_name = "Records"

    def __init__(self, items=()):
        super().__init__()
        for k, v in dict(items).items():
            self[int(k)] = [list(r) for r in v]

    @property
    def version(self) -> str:
        return digest(self.type_name, {str(k): self[k] for k in sorted(self)})

    def frame_versions(self) -> dict:
        """{frame: version}: a prompt added at frame N changes N only."""
        return {k: digest(self.type_name, self[k]) for k in sorted(self)}

    def to_json(self) -> dict:
        return {str(k): self[k] for k in sorted(self)}


class Boxes(_Records):
    """{frame: [[x0, y0, x1, y1, score, label, object id], ...]} in clip pixels."""

    type_name = "Boxes"


class Points(_Records):
    """{frame: [[x, y, positive, object id], ...]} in clip pixels."""

    type_name = "Points"


# Every type that travels on an edge, by its name in descriptors and graph files.
TYPES = {"Frames": Frames, "Masks": Masks, "KeyMasks": KeyMasks, "Boxes": Boxes, "Points": Points}


# ---------------------------------------------------------------- storage

def link_or_copy(src: Path, dst: Path) -> None:
    """Put src's bytes at dst: a hard link (nothing copied, shared between cache
    entries), or a copy on a file system without links."""
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def save_value(type_name: str, value: Any, base: Path, name: str) -> dict:
    """Record `value` inside the entry folder `base`; return its metadata.

    Clips written by this render already lie under `base`; clips that pass
    through from elsewhere are hard-linked in, so an entry never depends on
    another entry that eviction may remove.
    """
    cls = TYPES[type_name]
    if not isinstance(value, cls):
        raise TypeError(f"output '{name}' must be {type_name}, got {type(value).__name__}")
    meta: dict = {"type": type_name, "version": value.version}
    if isinstance(value, Clip):
        reader = stored_reader(value.reader)
        if isinstance(reader, ChunkReader):
            base_res = base.resolve()
            if base_res not in reader.folder.resolve().parents:
                folder = base / "data" / name
                folder.mkdir(parents=True, exist_ok=True)
                for f in reader.files():
                    link_or_copy(f, folder / f.name)
                reader = ChunkReader(folder, reader.count, reader.shape, reader.chunk, reader.compressed)
        meta.update(reader=reader.to_meta(base), count=value.count, height=value.height, width=value.width,
                    frames=value.frame_versions)
        if isinstance(value, Frames):
            meta.update(fps=str(value.fps), source=value.source.to_json() if value.source else None)
    elif isinstance(value, KeyMasks):
        path = base / f"{name}.keymasks.npz"
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **{f"f{k}": v for k, v in value.items()})
        meta.update(file=path.name, height=value.height, width=value.width)
    else:
        meta.update(records=value.to_json())
    if not isinstance(value, Clip):
        meta["frames"] = {str(k): v for k, v in value.frame_versions().items()}
    return meta


def splice(writer: ClipWriter, count: int, rendered: Clip | None, render: tuple, kept: list) -> Clip:
    """A clip of `count` frames: the `render` frames from `rendered`, and from each (clip, frames)
    of `kept` those frames.

    `rendered` holds the render frames in order (or is a whole clip, read at
    the same indices). Frames in none are left out: stored as zeros with
    version None. Whole stored chunks of a kept clip are linked, not copied.
    """
    from . import frames as fr

    sequential = rendered is not None and rendered.count != count
    pos = {}  # frame index -> index in `rendered`
    if sequential:
        for i, t in enumerate(fr.frames_of(render)):
            pos[t] = i
    sources = []  # (clip, its stored reader if whole chunks of it can be linked, else None)
    for clip, _ in kept:
        reader = stored_reader(clip.reader)
        linkable = (isinstance(reader, ChunkReader) and reader.chunk == writer.chunk
                    and reader.compressed == writer.compressed and clip.count == count)
        sources.append((clip, reader if linkable else None))
    pieces = sorted([(a, b, -1) for a, b in render] + [(a, b, i) for i, (_, frames) in enumerate(kept)
                                                        for a, b in frames])
    t = 0
    while t < count:
        piece = next(((a, b, k) for a, b, k in pieces if a <= t < b), None)
        if piece is None:
            nxt = min([a for a, _, _ in pieces if a > t], default=count)
            stop = min(nxt, t + writer.chunk)
            writer.append(np.zeros((stop - t, *writer.frame_shape), np.uint8), [None] * (stop - t))
            t = stop
            continue
        _, b, k = piece
        if k >= 0:
            clip, chunks = sources[k]
            if chunks is not None and writer.at_chunk_start and t % writer.chunk == 0 and t + writer.chunk <= b:
                ci = t // writer.chunk
                writer.link_chunk(chunks.files()[ci], clip.frame_versions[t:t + writer.chunk])
                t += writer.chunk
                continue
            stop = min(b, t + writer.chunk - (t % writer.chunk) if chunks is not None else t + writer.chunk)
            writer.append(clip.read(t, stop), clip.frame_versions[t:stop])
        else:
            stop = min(b, t + writer.chunk)
            lo = pos[t] if sequential else t
            writer.append(rendered.read(lo, lo + stop - t), rendered.frame_versions[lo:lo + stop - t])
        t = stop
    return writer.close()


def load_value(meta: dict, base: Path) -> Any:
    """Rebuild a value from its metadata in the entry folder `base`."""
    type_name = meta["type"]
    if type_name in ("Frames", "Masks"):
        reader = reader_from_meta(meta["reader"], base)
        versions = meta.get("frames")
        if versions is not None and None in versions:
            reader = PresentOnly(reader, versions)
        if type_name == "Frames":
            src = meta.get("source")
            return Frames(reader, meta["count"], meta["height"], meta["width"], meta["version"], versions,
                          fps=Fraction(meta["fps"]), source=SourceInfo(**src) if src else None)
        return Masks(reader, meta["count"], meta["height"], meta["width"], meta["version"], versions)
    if type_name == "KeyMasks":
        with np.load(base / meta["file"]) as z:
            items = {int(k[1:]): z[k] for k in z.files}
        return KeyMasks(items, meta["height"], meta["width"])
    return TYPES[type_name](meta["records"])
