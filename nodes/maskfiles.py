"""Mask image files: reading label, palette, matte and colour PNGs as label maps, and writing them.

Kinds of mask file, and the object ids they give:

- palette PNG (DAVIS): the palette index of a pixel is its object id.
  Read with Pillow, because OpenCV turns palette images into colours.
- grey label map: the grey value is the object id (1, 2, 3, ...).
- matte: black and white (0/255), or soft with `kind` = matte: value at or
  above `threshold` is object 1 (for colour files, the brightest channel).
- colour masks (RGB): each flat colour is an object. When every colour is a
  colour of the DAVIS palette, its palette index is the id (so a DAVIS mask
  saved as RGB keeps its ids); otherwise the colours found in the whole
  sequence are sorted (by R, G, B) and numbered 1, 2, 3, ... Black is 0.
Pixels whose alpha is 0 are background.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inpainterz.engine import BadInput
from inpainterz.engine.data import register_reader
from inpainterz.engine.palette import PALETTE

from .images import check_files_unchanged

READER_KIND = "inpainterz.maskfiles"
MASK_EXTS = (".png", ".tif", ".tiff", ".bmp")
KINDS = ("auto", "labels", "matte", "colors")
# More grey levels than this in a 'label map' means a soft matte, not labels.
MAX_AUTO_LABELS = 64


_PALETTE_CODES = {int(r) << 16 | int(g) << 8 | int(b): k for k, (r, g, b) in enumerate(PALETTE)}


@dataclass
class RawMask:
    """A decoded mask file before ids are assigned."""

    mode: str  # "palette" | "gray" | "rgb"
    values: np.ndarray  # (H, W) uint8/uint16 for palette/gray; (H, W) uint32 0xRRGGBB for rgb


def decode_mask(path: Path) -> RawMask:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            if mode == "P":
                return RawMask("palette", np.asarray(im))
            if mode == "1":
                return RawMask("gray", np.asarray(im).astype(np.uint8) * np.uint8(255))
            if mode in ("L", "I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                if arr.dtype.kind == "i" or arr.dtype.byteorder == ">":
                    arr = np.clip(arr, 0, 65535).astype(np.uint16)
                return RawMask("gray", arr)
            if mode in ("LA", "La"):
                arr = np.asarray(im.convert("LA"))
                gray = arr[:, :, 0].copy()
                gray[arr[:, :, 1] == 0] = 0
                return RawMask("gray", gray)
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise BadInput(f"cannot read mask {path}: {exc}") from None
    rgb = rgba[:, :, :3].astype(np.uint32)
    rgb[rgba[:, :, 3] == 0] = 0
    return RawMask("rgb", rgb[:, :, 0] << 16 | rgb[:, :, 1] << 8 | rgb[:, :, 2])


def values_present(values: np.ndarray) -> np.ndarray:
    """The distinct values of a decoded mask (bincount for 8/16-bit: much faster than sorting)."""
    if values.dtype in (np.uint8, np.uint16):
        return np.flatnonzero(np.bincount(values.ravel(), minlength=1))
    return np.unique(values)


def _rgb_as_gray(packed: np.ndarray, path: Path, exact: bool) -> np.ndarray:
    packed = packed.astype(np.int64)
    r, g, b = packed >> 16, (packed >> 8) & 255, packed & 255
    if exact and not ((r == g) & (g == b)).all():
        raise BadInput(f"mask {path} is in colour; read colour masks with param 'kind' auto or colors")
    return np.maximum(np.maximum(r, g), b)


@dataclass
class MaskPlan:
    """How every file of a sequence turns into ids; found by scanning the whole sequence once."""

    kind: str  # "labels" | "matte" | "colors"
    threshold: int = 128
    colors: dict = field(default_factory=dict)  # packed colour -> id (kind colors)

    def to_json(self) -> dict:
        return {"kind": self.kind, "threshold": self.threshold,
                "colors": [[c, i] for c, i in sorted(self.colors.items())]}

    @classmethod
    def from_json(cls, d: dict) -> "MaskPlan":
        return cls(d["kind"], d["threshold"], {int(c): int(i) for c, i in d["colors"]})

    def apply(self, raw: RawMask, path: Path) -> np.ndarray:
        v = raw.values
        if self.kind == "colors":
            if raw.mode != "rgb":
                raise BadInput(f"mask {path} is {raw.mode} but the sequence holds colour masks")
            uniq, inv = np.unique(v, return_inverse=True)
            ids = np.array([self.colors.get(int(c), 0 if c == 0 else -1) for c in uniq], dtype=np.int64)
            if (ids < 0).any():
                raise BadInput(f"mask {path} has a colour not seen when the sequence was read; run the graph again")
            return ids[inv].reshape(v.shape).astype(np.uint8)
        if raw.mode == "rgb":
            v = _rgb_as_gray(v, path, exact=self.kind == "labels")
        if self.kind == "matte":
            limit = self.threshold * (257 if v.dtype == np.uint16 else 1)
            return (v >= limit).astype(np.uint8)
        if v.max(initial=0) > 255:
            raise BadInput(f"mask {path} has label values up to {int(v.max())}; object ids go up to 255")
        return v.astype(np.uint8)


def scan_masks(files: list[Path], kind: str, threshold: int) -> tuple[MaskPlan, int, int, str]:
    """Decode every file once: check sizes, decide the kind, number the colours. Returns (plan, h, w, notes)."""
    size = None
    modes: dict[str, Path] = {}
    gray_values: set = set()
    colors: set = set()
    for f in files:
        raw = decode_mask(f)
        shape = raw.values.shape
        if size is None:
            size = shape
        elif shape != size:
            raise BadInput(f"mask {f} is {shape[1]}x{shape[0]} but {files[0].name} is {size[1]}x{size[0]}; "
                           f"every mask of a sequence must have one size")
        modes.setdefault(raw.mode, f)
        uniq = values_present(raw.values)
        if raw.mode == "rgb" and kind in ("auto", "colors"):
            colors.update(int(c) for c in uniq)
            if len(colors) > 256:
                raise BadInput(f"colour masks up to {f} hold more than 255 colours; colour masks need flat colours "
                               f"(no anti-aliasing or compression), one per object")
        elif raw.mode != "rgb":
            gray_values.update(int(x) for x in uniq)
    h, w = size
    note = ""
    if kind in ("labels", "matte"):
        return MaskPlan(kind, threshold), h, w, note
    if "rgb" in modes and len(modes) > 1:
        other = next(m for m in modes if m != "rgb")
        raise BadInput(f"the masks mix colour files ({modes['rgb'].name}) and {other} files ({modes[other].name}); "
                       f"use one kind for the whole sequence")
    if "rgb" in modes or kind == "colors":
        if "rgb" not in modes:
            raise BadInput(f"param 'kind' is colors but {files[0].name} holds grey or palette masks")
        colors.discard(0)
        if all(c in _PALETTE_CODES for c in colors):
            table = {c: _PALETTE_CODES[c] for c in colors}
            note = f"colour masks use the DAVIS palette: {len(table)} object(s), ids from their palette index"
        else:
            if len(colors) > 255:
                raise BadInput(f"colour masks hold {len(colors)} colours; at most 255 objects fit in a label map")
            table = {c: i + 1 for i, c in enumerate(sorted(colors))}
            listed = ", ".join(f"#{c:06x}={i}" for c, i in list(table.items())[:8])
            note = f"colour masks: {len(table)} colour(s) numbered by sorted colour: {listed}"
        return MaskPlan("colors", threshold, table), h, w, note
    # auto
    if "palette" in modes:
        return MaskPlan("labels", threshold), h, w, note
    top = max(gray_values, default=0)
    if gray_values <= {0, 255} or gray_values <= {0, 65535}:
        return MaskPlan("matte", threshold), h, w, "black-and-white mattes: white is object 1"
    if len(gray_values) > MAX_AUTO_LABELS or top > 255:
        raise BadInput(f"the masks hold {len(gray_values)} grey levels up to {top}: that looks like a soft matte, "
                       f"not a label map; set param 'kind' to matte (threshold {threshold}) or to labels")
    return MaskPlan("labels", threshold), h, w, note


class MaskFileReader:
    """A lazy Masks clip over mask files: decoded and mapped to ids when read."""

    kind = READER_KIND

    def __init__(self, files: list[Path], stats: list, sha256: str, width: int, height: int, plan: MaskPlan):
        self.files, self.stats, self.sha256 = [Path(f) for f in files], stats, sha256
        self.width, self.height, self.plan = int(width), int(height), plan

    natural_chunk = 64

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, self.height, self.width), dtype=np.uint8)
        for k, f in enumerate(self.files[start:stop]):
            labels = self.plan.apply(decode_mask(f), f)
            if labels.shape != (self.height, self.width):
                raise BadInput(f"mask {f} is {labels.shape[1]}x{labels.shape[0]} but the sequence is "
                               f"{self.width}x{self.height}")
            out[k] = labels
        return out

    def to_meta(self, base: Path) -> dict:
        return {"kind": self.kind, "files": [str(f) for f in self.files], "stats": self.stats,
                "sha256": self.sha256, "width": self.width, "height": self.height, "plan": self.plan.to_json()}

    @classmethod
    def from_meta(cls, meta: dict, base: Path) -> "MaskFileReader":
        files = [Path(f) for f in meta["files"]]
        check_files_unchanged(files, meta["stats"], meta["sha256"], "ReadMasks")
        return cls(files, meta["stats"], meta["sha256"], meta["width"], meta["height"], MaskPlan.from_json(meta["plan"]))


register_reader(READER_KIND, MaskFileReader.from_meta)


# ---------------------------------------------------------------- writing

def encode_label_png(labels: np.ndarray) -> bytes:
    """A DAVIS-style palette PNG: pixel value = object id, shown in the DAVIS colours."""
    import io

    from PIL import Image

    pim = Image.frombytes("P", (labels.shape[1], labels.shape[0]), np.ascontiguousarray(labels).tobytes())
    pim.putpalette(PALETTE.tobytes())
    buf = io.BytesIO()
    pim.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()
