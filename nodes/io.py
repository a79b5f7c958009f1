"""Reading and writing video, image sequences and masks.

Readers give lazy clips: the frames stay in the source files and are decoded
when a node reads them, so nothing is copied into the cache. A reader's
data-version is the hash of the file content (plus the range and scale), so
pointing a reader at a byte-identical copy re-runs nothing downstream.

Writers write under hidden temporary names in the destination folder and
rename into place only when everything is written: a failed or interrupted
run leaves the previous output untouched.
"""
from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from inpainterz.engine import BadInput, Frames, Input, Masks, Output, Param, SourceInfo, node, per_frame
from inpainterz.engine.atomic import sweep
from inpainterz.engine.frames import WHOLE
from inpainterz.engine.data import digest, frames_version, masks_version
from inpainterz.engine.fingerprint import file_sha256, stat_key

from . import encode, images, maskfiles, video
from .clips import STEP, chunks_in, frames_total

# ---------------------------------------------------------------- helpers


def _needs_path(params: dict, config) -> list[str]:
    return [] if params.get("path") else ["param 'path' is empty: set the file or folder to use"]


def _stable_stat(path: Path, before) -> None:
    if stat_key(path) != before:
        raise BadInput(f"{path} changed while it was being read; wait until it is fully written, then run again")


def _scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """Proxy size: scaled and rounded to even numbers, so a proxy encodes with any pixel format."""
    if scale == 1.0:
        return width, height
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


RANGE_PARAMS = [
    Param("first", "int", 0, min=0, doc="index of the first frame to read (0: the first frame there is)"),
    Param("last", "int", -1, min=-1, doc="index of the last frame to read, inclusive; -1 reads to the end"),
]


# ---------------------------------------------------------------- ReadVideo

@node("ReadVideo", category="io", version=1,
      doc="Read a video file (anything FFmpeg decodes) as frames, with its exact frame count and frame rate. "
          "Frames are decoded on demand from the file; its audio and timecode follow to WriteVideo.",
      outputs=[Output("frames", "Frames")],
      params=[Param("path", "path", "", io="read", kind="file", doc="the video file"),
              *RANGE_PARAMS,
              Param("scale", "float", 1.0, min=0.05, max=1.0,
                    doc="proxy factor: frames are resized by it (sizes rounded to even); 1 keeps full resolution")],
      preflight=_needs_path)
def read_video(ctx, path, first, last, scale):
    path = Path(path).absolute()
    before = stat_key(path)
    index = video.index_video(path)
    first, count = images.pick_range(index.count, first, last, str(path))
    ctx.progress(0.2)
    sha = file_sha256(path)
    _stable_stat(path, before)
    width, height = _scaled_size(index.width, index.height, scale)
    reader = video.VideoReader(path, before, sha, first, count, width, height, scale, index=index)
    content = digest("video", video.DECODE_VERSION, sha, index.stream, first, scale)
    if index.expected and index.expected > index.count + 1:
        ctx.note(f"warning: {path.name} declares {index.expected} frames but only {index.count} could be read; "
                 f"the file is probably cut short")
    if index.rotation:
        ctx.note(f"{path.name} asks players to rotate it by {index.rotation} degrees; frames are kept as coded "
                 f"(unrotated) and WriteVideo passes the same rotation on")
    ctx.progress(1.0)
    return Frames(reader, count, height, width, frames_version(content, count, height, width, index.fps),
                  fps=index.fps, source=SourceInfo(str(path), first, str(index.fps)))


# ---------------------------------------------------------------- ReadImages

@node("ReadImages", category="io", version=1,
      doc="Read an image sequence (PNG, JPEG, TIFF) as frames. 16-bit (0..65535) and float (0..1) images are "
          "converted to 8-bit, grey to RGB; alpha is dropped; signed-integer images are refused. Each file is "
          "a frame's version: one changed file changes one frame.",
      outputs=[Output("frames", "Frames")],
      params=[Param("path", "path", "", io="read", kind="pattern",
                    doc="a pattern like shot.%04d.png or shot.####.png, or a folder holding one numbered sequence"),
              *RANGE_PARAMS,
              Param("fps", "str", "25", check=video.rate_error,
                    doc="frame rate: 25, 24000/1001, or 23.976 / 29.97 (read as 24000/1001 / 30000/1001)")],
      preflight=_needs_path)
def read_images(ctx, path, first, last, fps):
    path = Path(path).absolute()
    files = images.find_sequence(path)
    first, count = images.pick_range(len(files), first, last, str(path))
    files = files[first:first + count]
    img, conversions = images.to_rgb8(images.decode_image(files[0]), files[0])
    height, width = img.shape[:2]
    stats = images.files_stat(files)
    for i, f in enumerate(files[1:], 1):
        w, h, _ = images.image_header(f)
        if (w, h) != (width, height):
            raise BadInput(f"image {f} is {w}x{h} but {files[0].name} is {width}x{height}; "
                           f"every frame of a sequence must have one size")
        if i % 64 == 0:
            ctx.progress(0.5 * i / count)
    hashes = images.file_hashes(files)
    sha = images.combined_hash(hashes)
    if images.files_stat(files) != stats:
        raise BadInput(f"files under {files[0].parent} changed while they were being read; run again")
    for kind, text in (("16-bit", "16-bit images converted to 8-bit"), ("float", "float images converted to 8-bit"),
                       ("gray", "grey images converted to RGB"), ("alpha", "alpha channel dropped")):
        if kind in conversions:
            ctx.note(f"{text} ({files[0].name})")
    rate = video.parse_rate(fps)
    reader = images.ImageReader(files, stats, sha, width, height)
    content = digest("images", images.DECODE_VERSION, sha)
    versions = [digest("images", images.DECODE_VERSION, h) for h in hashes]
    ctx.progress(1.0)
    return Frames(reader, count, height, width, frames_version(content, count, height, width, rate), versions,
                  fps=rate)


# ---------------------------------------------------------------- ReadMasks

@node("ReadMasks", category="io", version=1,
      doc="Read a sequence of mask PNGs as label maps: DAVIS palette PNGs (index = object id), grey label maps, "
          "black-and-white or soft mattes (object 1), or flat-colour masks (one id per colour). Each file "
          "is a frame's version: one changed file changes one frame.",
      outputs=[Output("masks", "Masks")],
      params=[Param("path", "path", "", io="read", kind="pattern",
                    doc="a folder of numbered mask files, or a pattern like mattes/shot.%04d.png"),
              *RANGE_PARAMS,
              Param("kind", "choice", "auto", choices=maskfiles.KINDS,
                    doc="auto: palette and grey files are labels, 0/255 files are mattes, colour files colours; "
                        "matte: grey at or above threshold is object 1; labels: grey value is the id; "
                        "colors: each flat colour is an object"),
              Param("threshold", "int", 128, min=1, max=255,
                    doc="for mattes: grey level (of 255) from which a pixel belongs to the object")],
      preflight=_needs_path)
def read_masks(ctx, path, first, last, kind, threshold):
    path = Path(path).absolute()
    files = images.find_sequence(path, maskfiles.MASK_EXTS, "mask files")
    first, count = images.pick_range(len(files), first, last, str(path))
    files = files[first:first + count]
    stats = images.files_stat(files)
    plan, height, width, note = maskfiles.scan_masks(files, kind, threshold)
    ctx.progress(0.8)
    hashes = images.file_hashes(files, "mask")
    sha = images.combined_hash(hashes)
    if images.files_stat(files) != stats:
        raise BadInput(f"files under {files[0].parent} changed while they were being read; run again")
    if note:
        ctx.note(note)
    reader = maskfiles.MaskFileReader(files, stats, sha, width, height, plan)
    content = digest("maskfiles", 1, sha, plan.to_json())
    # The plan (how files become ids) is found over the whole sequence, so it is part of every frame's version.
    versions = [digest("maskfiles", 1, h, plan.to_json()) for h in hashes]
    ctx.progress(1.0)
    return Masks(reader, count, height, width, masks_version(content, count, height, width), versions)


# ---------------------------------------------------------------- WriteVideo

@node("WriteVideo", category="io", version=1,
      doc="Encode frames to a video file at their exact frame rate and count, copying the source's audio "
          "for the same frames and its timecode. The file appears only when complete. Any changed frame "
          "re-encodes the whole file; a frame range (run --frames A-B) writes just frames A..B, with "
          "their audio and timecode, to the path.",
      inputs=[Input("frames", "Frames")],
      params=[Param("path", "path", "", io="write", kind="file", doc="output file: .mp4, .mov or .mkv"),
              Param("codec", "choice", "h264", choices=tuple(encode.CODECS),
                    doc="h264 / h265 (crf), ffv1 (lossless, .mkv), prores (422 HQ or 4444, .mov)"),
              Param("crf", "int", 18, min=0, max=51, doc="h264/h265 quality: lower is better and bigger; 18 looks "
                                                          "lossless to most eyes"),
              Param("preset", "choice", "medium", choices=encode.PRESETS,
                    doc="h264/h265 speed against file size"),
              Param("pix_fmt", "str", "", doc="pixel format; empty picks yuv420p (h264/h265), bgr0 (ffv1, "
                                              "lossless RGB) or yuv422p10le (prores)"),
              Param("audio", "bool", True, doc="copy the source's audio for these frames, without re-encoding")],
      preflight=_needs_path, temporal=per_frame(partial=False))
def write_video(ctx, frames, path, codec, crf, preset, pix_fmt, audio):
    path = Path(path).absolute()
    wanted = ctx.frames_wanted
    if wanted is not None and tuple(wanted) != ((0, len(frames)),):
        frames = frames.span(wanted[0][0], wanted[-1][1])  # a farm's chunk: just these frames
    encode.write_video(path, frames, codec, crf, pix_fmt, preset, audio, ctx.progress, ctx.note)
    return {}


# ---------------------------------------------------------------- WriteImages

FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}
_EXT_FORMAT = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".tif": "tif", ".tiff": "tif"}


def _write_sequence(ctx, folders: list[Path], names: list[Path], frames_iter, what: str) -> None:
    """Write (path, bytes) pairs all-or-nothing, then say if older frames of the sequence remain."""
    for folder in folders:
        encode.prepare_folder(folder, what)
        sweep(folder)  # temporary files of writers that were killed
    files = images.AtomicFiles()
    try:
        for path, data in frames_iter:
            files.write(path, data)
        files.commit()
    except BaseException:
        files.abort()
        raise
    stale = images.stale_files(names[0].parent, names) if names else []
    if stale:
        ctx.note(f"{len(stale)} older file(s) of this sequence were left in place, e.g. {stale[0].name}")


@node("WriteImages", category="io", version=1,
      doc="Write frames as an image sequence (PNG, JPEG or TIFF). Files appear only when all are written; "
          "after an edit only the files of changed frames are rewritten, and a frame range writes only "
          "its files.",
      inputs=[Input("frames", "Frames")],
      params=[Param("path", "path", "", io="write", kind="pattern",
                    doc="a pattern like out/shot.%04d.png or out/shot.####.png, or a folder (00000.png, ...)"),
              Param("format", "choice", "auto", choices=("auto", *FORMATS),
                    doc="file format; auto takes it from the pattern's extension (png for a folder)"),
              Param("start", "int", 0, min=0, doc="number of the first file"),
              Param("quality", "int", 95, min=1, max=100, doc="JPEG quality")],
      preflight=_needs_path, temporal=per_frame())
def write_images(ctx, frames, path, format, start, quality):
    path = Path(path).absolute()
    ext = path.suffix.lower() if images.has_frame_placeholder(path.name) else ""
    if format == "auto":
        if ext and ext not in _EXT_FORMAT:
            raise BadInput(f"param 'path': cannot write {ext} files; end the pattern in .png, .jpg or .tif")
        format = _EXT_FORMAT.get(ext, "png")
    elif ext and _EXT_FORMAT.get(ext) != format:
        raise BadInput(f"param 'format' is {format} but param 'path' ends in {ext}; make them agree")
    ext = ext or FORMATS[format]
    folder, names = images.output_names(path, len(frames), start, ext)
    total = frames_total(ctx, frames)

    def encoded():
        done = 0
        for first, chunk in chunks_in(frames, ctx.frames_wanted, STEP):
            for k, rgb in enumerate(chunk):
                yield names[first + k], images.encode_image(rgb, ext, quality)
                done += 1
                ctx.progress(done / total)

    _write_sequence(ctx, [folder], names, encoded(), str(path))
    return {}


# ---------------------------------------------------------------- WriteMasks

def _matte_path(path: Path, object_id: int) -> Path:
    """Where one object's mattes go: `{id}` / `{id:02d}` in the path, else a subfolder objNN/."""
    text = str(path)
    if "{id" in text:
        return Path(re.sub(r"\{id(:[^}]*)?\}", lambda m: format(object_id, (m.group(1) or ":")[1:]), text))
    if images.has_frame_placeholder(path.name):
        return path.parent / f"obj{object_id:02d}" / path.name
    return path / f"obj{object_id:02d}"


def feathered(matte: np.ndarray, feather: float) -> np.ndarray:
    """A soft 0..255 matte: 255 on the object, falling smoothly to 0 over `feather` pixels outside it."""
    if feather <= 0:
        return np.where(matte, 255, 0).astype(np.uint8)
    if not matte.any():
        return np.zeros(matte.shape, np.uint8)
    dist = cv2.distanceTransform(np.where(matte, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip(1.0 - dist / (feather + 1.0), 0.0, 1.0)
    return np.rint(255.0 * t * t * (3.0 - 2.0 * t)).astype(np.uint8)


def objects_in(masks, ctx=None, share: float = 0.0) -> list[int]:
    counts = np.zeros(256, dtype=np.int64)
    for first, chunk in masks.chunks(size=STEP):
        for labels in chunk:  # one frame at a time: bincount widens to 64-bit ints
            counts += np.bincount(labels.ravel(), minlength=256)
        if ctx is not None and share:
            ctx.progress(share * (first + len(chunk)) / max(1, len(masks)))
    return [int(i) for i in np.nonzero(counts[1:])[0] + 1]


def _write_masks_frames(params: dict):
    """per frame for label PNGs (only changed frames' files are rewritten); whole for mattes, whose objects are found over every frame"""
    return per_frame() if params.get("mode", "labels") == "labels" else WHOLE


@node("WriteMasks", category="io", version=1,
      doc="Write masks as PNGs: one DAVIS-style label PNG per frame, or one 8-bit matte per object per frame "
          "(255 on the object) for compositing. Files appear only when all are written.",
      inputs=[Input("masks", "Masks")],
      params=[Param("path", "path", "", io="write", kind="pattern",
                    doc="a pattern like out/mask.%04d.png or a folder (00000.png, ...); for mattes put {id} or "
                        "{id:02d} where the object id goes, else each object gets a subfolder obj01/, obj02/, ..."),
              Param("mode", "choice", "labels", choices=("labels", "mattes"),
                    doc="labels: palette PNGs whose index is the object id; mattes: one black-and-white "
                        "sequence per object"),
              Param("start", "int", 0, min=0, doc="number of the first file"),
              Param("feather", "float", 0.0, min=0.0, max=256.0,
                    doc="mattes only: soft edge in pixels, falling from 255 at the object's edge to 0 this far "
                        "outside it (the object itself stays 255, so the hole is still fully covered)")],
      preflight=_needs_path, temporal=_write_masks_frames)
def write_masks(ctx, masks, path, mode, start, feather):
    path = Path(path).absolute()
    if images.has_frame_placeholder(path.name) and path.suffix.lower() != ".png":
        raise BadInput("param 'path': masks are written as PNG; end the pattern in .png")
    total = len(masks)
    if mode == "labels":
        if feather:
            raise BadInput("param 'feather' only applies to mode mattes (label maps hold whole ids)")
        folder, names = images.output_names(path, total, start, ".png")

        def encoded():
            done, count = 0, frames_total(ctx, masks)
            for first, chunk in chunks_in(masks, ctx.frames_wanted, STEP):
                for k, labels in enumerate(chunk):
                    yield names[first + k], maskfiles.encode_label_png(labels)
                    done += 1
                    ctx.progress(done / count)

        _write_sequence(ctx, [folder], names, encoded(), str(path))
        return {}

    ids = objects_in(masks, ctx, 0.2)
    if not ids:
        ctx.note("the masks hold no object, so no matte was written")
        return {}
    sequences, folders = {}, []
    for object_id in ids:
        folder, names = images.output_names(_matte_path(path, object_id), total, start, ".png")
        sequences[object_id] = names
        folders.append(folder)

    def encoded():
        for first, chunk in masks.chunks(size=STEP):
            for k, labels in enumerate(chunk):
                for object_id in ids:
                    matte = feathered(labels == object_id, feather)
                    yield sequences[object_id][first + k], images.encode_image(matte, ".png")
                ctx.progress(0.2 + 0.8 * (first + k + 1) / total)

    _write_sequence(ctx, folders, sequences[ids[0]], encoded(), str(path))
    ctx.note(f"mattes for {len(ids)} object(s): ids {', '.join(map(str, ids))}")
    return {}
