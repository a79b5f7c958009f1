"""Image sequences: finding the files, reading frames, writing files atomically.

A sequence is named by a pattern (`shot.%04d.png`, `shot.####.png`) or by a
folder holding one numbered sequence. Frames are numbered by the digits in
the file names; a gap in the numbering is an error, because a missing frame
would silently shift everything after it in time.

`ImageReader` is the lazy clip backing a `ReadImages` output: it decodes each
file when asked for it.
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path

import cv2
import numpy as np

from inpainterz.engine import BadInput
from inpainterz.engine.data import chunk_frames, register_reader
from inpainterz.engine import paths
from inpainterz.engine.atomic import temp_path_for
from inpainterz.engine.errors import is_disk_full
from inpainterz.engine.fingerprint import stat_key

READER_KIND = "inpainterz.images"
DECODE_VERSION = 1

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
_PRINTF, _HASHES = paths.PRINTF, paths.HASHES
has_frame_placeholder = paths.has_frame_placeholder
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


# ---------------------------------------------------------------- finding files

def find_sequence(path: Path, exts=IMAGE_EXTS, what: str = "images") -> list[Path]:
    """The files of a sequence in frame order; BadInput for no files, several sequences or gaps."""
    if has_frame_placeholder(path.name):
        folder = path.parent
        if not folder.is_dir():
            raise BadInput(f"param 'path': folder {folder} does not exist")
        regex = paths.pattern_regex(path.name)
        numbered = []
        for entry in folder.iterdir():
            m = regex.fullmatch(entry.name)
            if m and entry.is_file():
                numbered.append((int(m.group(1)), entry))
        if not numbered:
            raise BadInput(f"param 'path': no files match {path}")
        where = str(path)
    elif path.is_dir():
        groups: dict[tuple[str, str], list] = {}
        for entry in path.iterdir():
            if entry.name.startswith(".") or not entry.is_file() or entry.suffix.lower() not in exts:
                continue
            m = _NUMBERED.match(entry.stem)
            if not m:
                continue
            groups.setdefault((m.group(1), m.group(3) + entry.suffix), []).append((int(m.group(2)), entry))
        if not groups:
            raise BadInput(f"param 'path': folder {path} holds no numbered {what} ({', '.join(exts)})")
        if len(groups) > 1:
            listed = ", ".join(f"{pre}#{post} ({len(v)} files)" for (pre, post), v in
                               sorted(groups.items(), key=lambda kv: -len(kv[1]))[:4])
            raise BadInput(f"param 'path': folder {path} holds several sequences: {listed}; "
                           f"give a pattern such as {path}/name.%04d.png")
        numbered = next(iter(groups.values()))
        where = str(path)
    elif path.is_file():
        raise BadInput(f"param 'path': {path} is a single file; give a pattern like shot.%04d.png or a folder")
    else:
        raise BadInput(f"param 'path': {path} does not exist; give a pattern like shot.%04d.png or a folder")
    numbered.sort()
    numbers = [n for n, _ in numbered]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        names = [p.name for n, p in numbered if n == dup]
        raise BadInput(f"{where}: frame {dup} is there twice ({', '.join(names)}); keep one")
    for (a, pa), (b, pb) in zip(numbered, numbered[1:]):
        if b != a + 1:
            raise BadInput(f"{where}: frames {a + 1}..{b - 1} are missing between {pa.name} and {pb.name}; "
                           f"a missing frame would shift every later frame in time")
    return [p for _, p in numbered]


def pick_range(count: int, first: int, last: int, what: str) -> tuple[int, int]:
    """first..last (inclusive, last -1 = the end) checked against `count` frames; returns (first, length)."""
    end = count - 1 if last == -1 else last
    if first >= count:
        raise BadInput(f"param 'first' is {first} but {what} has {count} frames (0..{count - 1})")
    if end >= count:
        raise BadInput(f"param 'last' is {last} but {what} has {count} frames (0..{count - 1}); use -1 for the end")
    if end < first:
        raise BadInput(f"param 'last' ({last}) is before param 'first' ({first})")
    return first, end - first + 1


def file_hashes(files: list[Path], what: str = "image") -> list[str]:
    """The SHA-256 of each file's bytes, in frame order: one changed file is one changed frame."""
    out = []
    for f in files:
        try:
            data = f.read_bytes()
        except OSError as exc:
            raise BadInput(f"cannot read {what} file {f}: {exc.strerror}") from None
        if f.suffix.lower() == ".png" and b"IEND" not in data[-1024:]:
            # Caught here, while the bytes are read anyway: decoded later, by a node downstream,
            # the damage would be blamed on that node.
            raise BadInput(f"{what} file {f} is cut short (its PNG end marker is missing); "
                           f"write it again or replace it")
        out.append(hashlib.sha256(data).hexdigest())
    return out


def combined_hash(hashes: list[str]) -> str:
    """One content hash over a sequence, from its files' hashes (names excluded: a copy hashes the same)."""
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def files_sha256(files: list[Path], what: str = "image") -> str:
    return combined_hash(file_hashes(files, what))


def files_stat(files: list[Path]) -> list:
    return [stat_key(f) for f in files]


def check_files_unchanged(files: list[Path], stats: list, sha256: str, node_type: str) -> None:
    now = files_stat(files)
    if any(s is None for s in now):
        gone = next(f for f, s in zip(files, now) if s is None)
        raise BadInput(f"{gone} was read by {node_type} but is gone now; restore it or run the graph again")
    if [list(s) for s in now] != [list(s) for s in stats] and files_sha256(files) != sha256:
        raise BadInput(f"files under {files[0].parent} changed since {node_type} read them; run the graph again")


# ---------------------------------------------------------------- reading images

def decode_image(path: Path) -> np.ndarray:
    """The file as OpenCV decodes it unchanged (BGR/BGRA/gray, 8/16-bit or float); BadInput if it cannot."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise BadInput(f"cannot read image {path}: {exc.strerror}") from None
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise BadInput(f"cannot decode image {path}: damaged or not an image (PNG, JPEG and TIFF are read)")
    return img


def to_rgb8(img: np.ndarray, path: Path | str = "the image") -> tuple[np.ndarray, set]:
    """An 8-bit RGB frame from whatever was decoded; returns it and the conversions made.

    16-bit: 0..65535 scaled to 0..255. Float (16, 32 or 64-bit): 0.0..1.0 scaled
    to 0..255, below 0 and NaN become 0, above 1 becomes 255. Signed integer
    images (int8/int16/int32 TIFF) have no agreed black and white, so they are
    refused with the file named.
    """
    done = set()
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        done.add("16-bit")
    elif img.dtype.kind == "f":
        img = np.clip(np.rint(np.nan_to_num(img.astype(np.float64), nan=0.0) * 255.0), 0, 255).astype(np.uint8)
        done.add("float")
    elif img.dtype != np.uint8:
        raise BadInput(f"image {path} holds {img.dtype} samples (signed integers), which have no agreed black "
                       f"and white; save it as 8 or 16-bit unsigned, or as float (0..1)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        done.add("gray")
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        done.add("alpha")
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
        done.add("gray")
    return img, done


def image_header(path: Path) -> tuple[int, int, str]:
    """(width, height, mode) from the header only; BadInput when it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.width, im.height, im.mode
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    # Pillow opens no multi-channel float or signed TIFF; OpenCV decodes them.
    img = decode_image(path)
    return img.shape[1], img.shape[0], str(img.dtype)


class ImageReader:
    """A lazy clip over image files: each frame is decoded when read (no shared state, so thread-safe)."""

    kind = READER_KIND

    def __init__(self, files: list[Path], stats: list, sha256: str, width: int, height: int):
        self.files, self.stats, self.sha256 = [Path(f) for f in files], stats, sha256
        self.width, self.height = int(width), int(height)

    @property
    def natural_chunk(self) -> int:
        return min(16, chunk_frames((self.height, self.width, 3)))

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.height, self.width, 3), dtype=np.uint8)
        for k, f in enumerate(self.files[start:stop]):
            img, _ = to_rgb8(decode_image(f), f)
            if img.shape[:2] != (self.height, self.width):
                raise BadInput(f"image {f} is {img.shape[1]}x{img.shape[0]} but the sequence is "
                               f"{self.width}x{self.height}; every frame must have one size")
            out[k] = img
        return out

    def to_meta(self, base: Path) -> dict:
        return {"kind": self.kind, "files": [str(f) for f in self.files], "stats": self.stats,
                "sha256": self.sha256, "width": self.width, "height": self.height}

    @classmethod
    def from_meta(cls, meta: dict, base: Path) -> "ImageReader":
        files = [Path(f) for f in meta["files"]]
        check_files_unchanged(files, meta["stats"], meta["sha256"], "ReadImages")
        return cls(files, meta["stats"], meta["sha256"], meta["width"], meta["height"])


register_reader(READER_KIND, ImageReader.from_meta)


# ---------------------------------------------------------------- writing files

def output_names(path: Path, count: int, start: int, ext: str) -> tuple[Path, list[Path]]:
    """The files a sequence of `count` frames is written to: a pattern, or a folder (00000.png, ...)."""
    if has_frame_placeholder(path.name):
        folder, name = path.parent, path.name
        m = _PRINTF.search(name)
        if m:
            fmt = name[: m.start()] + "{:0" + (m.group(1) or "1") + "d}" + name[m.end():]
        else:
            h = _HASHES.search(name)
            fmt = name[: h.start()] + "{:0" + str(len(h.group(0))) + "d}" + name[h.end():]
        fmt = fmt.replace("%%", "%")
        return folder, [folder / fmt.format(start + i) for i in range(count)]
    folder = path
    return folder, [folder / f"{start + i:05d}{ext}" for i in range(count)]


class AtomicFiles:
    """Write many files under hidden temporary names; `commit` renames them all into place.

    A run that fails part-way removes what it wrote, so a sequence written
    earlier stays whole. A killed run's temporary files carry its writer tag,
    and the next writer into the folder sweeps them.
    """

    def __init__(self):
        self.pending: list[tuple[Path, Path]] = []

    def write(self, path: Path, data: bytes) -> None:
        tmp = temp_path_for(path)
        self.pending.append((tmp, path))  # before writing: a failed write must be removed too
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
        except OSError as exc:
            if is_disk_full(exc):
                raise BadInput(f"the disk is full while writing {path}; free space on it or write the output "
                               f"to another disk (nothing half-written was kept)") from None
            raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None

    def commit(self) -> None:
        for tmp, path in self.pending:
            os.replace(tmp, path)
        self.pending = []

    def abort(self) -> None:
        for tmp, _ in self.pending:
            try:
                tmp.unlink()
            except OSError:
                pass
        self.pending = []


def encode_image(rgb_or_gray: np.ndarray, ext: str, quality: int = 95) -> bytes:
    img = rgb_or_gray
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    params = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def stale_files(folder: Path, written: list[Path]) -> list[Path]:
    """Files beside the ones written that look like more frames of the same sequence (from an older run)."""
    if not written:
        return []
    m = _NUMBERED.match(written[0].stem)
    if not m:
        return []
    regex = re.compile(rf"^{re.escape(m.group(1))}\d+{re.escape(m.group(3) + written[0].suffix)}$")
    names = {p.name for p in written}
    try:
        return sorted(p for p in folder.iterdir() if regex.match(p.name) and p.name not in names)
    except OSError:
        return []
