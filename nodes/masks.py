"""Mask tools: grow, select, merge and view label maps.

Masks stay hard label maps (0 background, 1..255 object ids): every inpaint
node needs a hard hole, and a soft edge cannot live in a label map. A soft
edge for compositing is made where mattes leave the graph: WriteMasks'
`feather`.

Every node streams its inputs a chunk at a time, and renders only the frames
the engine asks for (`ctx.frames_wanted`): each is per frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from inpainterz.engine import Input, Output, Param, node, per_frame

from ..engine.palette import PALETTE
from .clips import check_same_clip, chunks_in, frames_total, paired_chunks, whole_clip

SHAPES = ("ellipse", "square", "cross")
# The distance whose balls are the structuring element: a pixel is within
# `radius` of an object exactly when dilation with that element reaches it.
_METRICS = {"ellipse": cv2.DIST_L2, "square": cv2.DIST_C, "cross": cv2.DIST_L1}


def ids_check(value) -> str | None:
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 255 for v in value):
        return "each id must be an integer from 1 to 255"
    return None


# ---------------------------------------------------------------- DilateMask

def structuring_element(shape: str, radius: int) -> np.ndarray:
    """ellipse: the disk x^2 + y^2 <= r^2; square: (2r+1)^2; cross: a plus of arm r."""
    size = 2 * radius + 1
    if shape == "ellipse":
        y, x = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        return (x * x + y * y <= radius * radius).astype(np.uint8)
    if shape == "square":
        return np.ones((size, size), np.uint8)
    return cv2.getStructuringElement(cv2.MORPH_CROSS, (size, size))


def distance_to(region: np.ndarray, shape: str) -> np.ndarray:
    """Distance of every pixel to `region` in the metric matching `shape` (0 inside)."""
    inverse = np.where(region, 0, 255).astype(np.uint8)
    mask_size = cv2.DIST_MASK_PRECISE if shape == "ellipse" else 3
    return cv2.distanceTransform(inverse, _METRICS[shape], mask_size)


def within(dist: np.ndarray, radius: int) -> np.ndarray:
    # Euclidean distances are square roots of integers: r^2 + 1 lies > 1/(2r) above r, far more than float error.
    return dist <= radius + 1e-3


def grow(region: np.ndarray, shape: str, radius: int) -> np.ndarray:
    """Dilate a boolean region by `radius` with the exact element of `shape`."""
    if radius == 0 or not region.any():
        return region.copy()
    if shape == "cross":
        # A plus is the union of a horizontal and a vertical line: two fast 1-D dilations.
        src = region.astype(np.uint8)
        line = np.ones((1, 2 * radius + 1), np.uint8)
        return (cv2.dilate(src, line) | cv2.dilate(src, line.T)).astype(bool)
    # A distance transform costs the same for any radius, unlike a large kernel.
    return within(distance_to(region, shape), radius)


def grow_labels(labels: np.ndarray, shape: str, radius: int, per_object: bool) -> np.ndarray:
    """Grow each object by `radius`. Where grown objects meet, a pixel goes to the nearest
    object (ties to the lower id); an object's own pixels always keep its id."""
    if not per_object:
        return grow(labels > 0, shape, radius).astype(np.uint8)
    ids = [int(i) for i in np.flatnonzero(np.bincount(labels.ravel(), minlength=256)) if i]
    if radius == 0 or not ids:
        return labels.copy()
    if len(ids) == 1:
        out = np.zeros_like(labels)
        out[grow(labels == ids[0], shape, radius)] = ids[0]
        return out
    dists = {}

    def dist(i: int) -> np.ndarray:
        if i not in dists:
            dists[i] = distance_to(labels == i, shape)
        return dists[i]

    if shape == "cross":
        grown = np.stack([grow(labels == i, shape, radius) for i in ids])
    else:
        grown = np.stack([within(dist(i), radius) for i in ids])
    claims = grown.sum(axis=0)
    out = np.zeros_like(labels)
    single = claims == 1
    out[single] = np.asarray(ids, np.uint8)[np.argmax(grown[:, single], axis=0)]
    contested = claims > 1
    if contested.any():
        # cross has no distance whose balls are pluses; L1 (the diamond around it) decides there
        d = np.stack([np.where(grown[k][contested], dist(i)[contested], np.inf) for k, i in enumerate(ids)])
        out[contested] = np.asarray(ids, np.uint8)[np.argmin(d, axis=0)]  # argmin keeps the first: lower id
    own = labels > 0
    out[own] = labels[own]
    return out


@node("DilateMask", category="masks", version=1,
      doc="Grow the masks by an exact radius, so the hole covers the object's edge, blur and shadow fringe.",
      inputs=[Input("masks", "Masks")],
      outputs=[Output("masks", "Masks")],
      params=[Param("radius", "int", 8, min=0, max=256, doc="pixels to grow by"),
              Param("shape", "choice", "ellipse", choices=SHAPES,
                    doc="ellipse: round growth (a pixel becomes a disk of this radius); square: (2r+1) box; "
                        "cross: only left/right/up/down"),
              Param("per_object", "bool", True,
                    doc="grow each object keeping its id (where two meet, the nearer one wins, ties to the lower "
                        "id); off: every object becomes one hole with id 1")],
      temporal=per_frame())
def dilate_mask(ctx, masks, radius, shape, per_object):
    out = ctx.new_masks(masks.height, masks.width)
    total, done = frames_total(ctx, masks), 0
    for _, chunk in chunks_in(masks, ctx.frames_wanted):
        out.append(np.stack([grow_labels(m, shape, radius, per_object) for m in chunk]))
        done += len(chunk)
        ctx.progress(done / total)
    return {"masks": out.close()}


# ---------------------------------------------------------------- SelectObjects

@node("SelectObjects", category="masks", version=1,
      doc="Keep only the listed object ids; every other object becomes background.",
      inputs=[Input("masks", "Masks")],
      outputs=[Output("masks", "Masks")],
      params=[Param("ids", "list", [1], check=lambda v: ids_check(v) or (None if v else "list at least one id"),
                    doc="object ids to keep, e.g. [1, 3]")],
      temporal=per_frame())
def select_objects(ctx, masks, ids):
    lut = np.zeros(256, np.uint8)
    lut[ids] = ids
    out = ctx.new_masks(masks.height, masks.width)
    total, done = frames_total(ctx, masks), 0
    seen = np.zeros(256, bool)
    for _, chunk in chunks_in(masks, ctx.frames_wanted):
        seen[np.flatnonzero(np.bincount(chunk.ravel(), minlength=256))] = True
        out.append(lut[chunk])
        done += len(chunk)
        ctx.progress(done / total)
    missing = [i for i in ids if not seen[i]]
    if missing and whole_clip(ctx, masks):  # a partial render sees only some frames
        ctx.note(f"id(s) {', '.join(map(str, missing))} appear in no frame")
    return {"masks": out.close()}


# ---------------------------------------------------------------- MergeMasks

@node("MergeMasks", category="masks", version=1,
      doc="Merge objects into one id: the listed ids (or all) of 'masks', and of 'other' when connected.",
      inputs=[Input("masks", "Masks"),
              Input("other", "Masks", optional=True,
                    doc="more masks of the same clip; its objects lie under those of 'masks'")],
      outputs=[Output("masks", "Masks")],
      params=[Param("ids", "list", [], check=ids_check,
                    doc="object ids to merge, in both inputs; empty merges every object"),
              Param("into", "int", 1, min=1, max=255, doc="the id the merged objects get")],
      temporal=per_frame())
def merge_masks(ctx, masks, other, ids, into):
    picked = np.zeros(256, bool)
    if ids:
        picked[ids] = True
    else:
        picked[1:] = True
    lut = np.arange(256, dtype=np.uint8)
    lut[picked] = into
    out = ctx.new_masks(masks.height, masks.width)
    total, done = frames_total(ctx, masks), 0
    if other is None:
        for _, chunk in chunks_in(masks, ctx.frames_wanted):
            out.append(lut[chunk])
            done += len(chunk)
            ctx.progress(done / total)
        return {"masks": out.close()}
    check_same_clip(masks, "masks", other, "other")
    for _, a, b in paired_chunks(masks, other, ranges=ctx.frames_wanted):
        merged = lut[a]
        under = merged == 0
        merged[under] = lut[b][under]
        out.append(merged)
        done += len(a)
        ctx.progress(done / total)
    return {"masks": out.close()}


# ---------------------------------------------------------------- OverlayMasks

def object_colors() -> np.ndarray:
    """A stable colour per id (the DAVIS palette), so an object keeps its colour in every view."""
    return PALETTE.copy()


def overlay(frame: np.ndarray, labels: np.ndarray, opacity: float, contour: int, colors: np.ndarray) -> np.ndarray:
    inside = labels > 0
    out = frame.copy()
    if not inside.any():
        return out
    ids = labels[inside]
    blend = (1.0 - opacity) * frame[inside].astype(np.float32) + opacity * colors[ids].astype(np.float32)
    out[inside] = np.rint(blend).astype(np.uint8)
    if contour:
        k = np.ones((2 * contour + 1, 2 * contour + 1), np.uint8)
        edge = (cv2.dilate(labels, k) != cv2.erode(labels, k)) & inside
        out[edge] = colors[labels[edge]]
    return out


@node("OverlayMasks", category="masks", version=1,
      doc="Draw the masks over the frames, each object in its own stable colour with an outline, for checking.",
      inputs=[Input("frames", "Frames"), Input("masks", "Masks")],
      outputs=[Output("frames", "Frames")],
      params=[Param("opacity", "float", 0.5, min=0.0, max=1.0, doc="how strongly objects are tinted"),
              Param("contour", "int", 2, min=0, max=20, doc="outline width in pixels (0: none)")],
      temporal=per_frame())
def overlay_masks(ctx, frames, masks, opacity, contour):
    check_same_clip(frames, "frames", masks, "masks")
    colors = object_colors()
    out = ctx.new_frames(frames.height, frames.width, frames.fps, source=frames.source)
    total, done = frames_total(ctx, frames), 0
    for _, f, m in paired_chunks(frames, masks, ranges=ctx.frames_wanted):
        out.append(np.stack([overlay(a, b, opacity, contour, colors) for a, b in zip(f, m)]))
        done += len(f)
        ctx.progress(done / total)
    return {"frames": out.close()}
