"""Manual prompts: boxes and clicks a person draws on frames.

`BoxPrompt` gives Boxes and `PointPrompt` gives Points for SegmentSAM. The
main params (`frame`, `boxes`/`points`, `object_ids`) describe one frame; the
`prompts` param adds entries for more frames, each
{"frame": N, "boxes": [...], "object_ids": [...]} (or "points"), so one node
can hold every keyframe of a shot. Coordinates are pixels of the clip.

Object ids: a box is one object, so boxes default to ids 1..n in order.
Clicks usually outline one object, so points default to object 1; give
`object_ids` (one per point) or a fourth number per point to click several
objects.
"""
from __future__ import annotations

import math

from ..engine import BadInput, Boxes, Output, Param, Points, node


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_ids(ids) -> str | None:
    if not isinstance(ids, list):
        return "expected a list of object ids"
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 1 <= i <= 255:
            return f"object id {i!r} must be an integer 1..255"
    return None


def _check_boxes(boxes) -> str | None:
    for i, b in enumerate(boxes):
        if not (isinstance(b, list) and len(b) == 4 and all(_number(v) for v in b)):
            return f"box {i} must be [x0, y0, x1, y1] in pixels, got {b!r}"
        if b[2] <= b[0] or b[3] <= b[1]:
            return f"box {i} {b} is empty: x1 must be > x0 and y1 > y0"
    return None


def _check_points(points) -> str | None:
    for i, p in enumerate(points):
        ok = isinstance(p, list) and len(p) in (3, 4) and _number(p[0]) and _number(p[1])
        if ok:
            ok = isinstance(p[2], (bool, int)) and p[2] in (0, 1, True, False)
        if ok and len(p) == 4:
            ok = isinstance(p[3], int) and not isinstance(p[3], bool) and 1 <= p[3] <= 255
        if not ok:
            return f"point {i} must be [x, y, positive] (positive true/false or 1/0), optionally with an object id, got {p!r}"
    return None


def _check_entries(key: str, check_items):
    def check(entries) -> str | None:
        for n, e in enumerate(entries):
            if not isinstance(e, dict) or "frame" not in e or key not in e:
                return f"entry {n} must be {{\"frame\": N, \"{key}\": [...], \"object_ids\": [...]}}"
            if isinstance(e["frame"], bool) or not isinstance(e["frame"], int) or e["frame"] < 0:
                return f"entry {n}: frame must be an integer >= 0"
            if not isinstance(e[key], list):
                return f"entry {n}: {key} must be a list"
            err = check_items(e[key]) or _check_ids(e.get("object_ids", []))
            if err:
                return f"entry {n}: {err}"
        return None

    return check


def _box_records(frame: int, boxes: list, ids: list, where: str) -> list:
    if ids and len(ids) != len(boxes):
        raise BadInput(f"{where}: {len(ids)} object ids for {len(boxes)} boxes; give one id per box or none")
    ids = ids or list(range(1, len(boxes) + 1))
    return [[float(b[0]), float(b[1]), float(b[2]), float(b[3]), 1.0, "box", int(i)] for b, i in zip(boxes, ids)]


def _point_records(points: list, ids: list, where: str) -> list:
    if ids and len(ids) != len(points):
        raise BadInput(f"{where}: {len(ids)} object ids for {len(points)} points; give one id per point or none")
    out = []
    for n, p in enumerate(points):
        oid = ids[n] if ids else (p[3] if len(p) == 4 else 1)
        out.append([float(p[0]), float(p[1]), bool(p[2]), int(oid)])
    return out


@node("BoxPrompt", category="prompts", version=1,
      doc="Boxes drawn around the objects to remove, on one or more frames.",
      outputs=[Output("boxes", "Boxes", doc="one box per object, score 1")],
      params=[
          Param("frame", "int", 0, min=0, doc="frame the boxes are drawn on"),
          Param("boxes", "list", [], check=_check_boxes, doc="[[x0, y0, x1, y1], ...] in pixels of the clip"),
          Param("object_ids", "list", [], check=_check_ids, doc="one id (1..255) per box; default 1..n"),
          Param("prompts", "list", [], check=_check_entries("boxes", _check_boxes),
                doc='more frames: [{"frame": N, "boxes": [...], "object_ids": [...]}, ...]'),
      ])
def box_prompt(ctx, frame, boxes, object_ids, prompts):
    out = Boxes()
    entries = ([{"frame": frame, "boxes": boxes, "object_ids": object_ids}] if boxes else []) + list(prompts)
    for n, e in enumerate(entries):
        where = "params 'boxes'/'object_ids'" if (boxes and n == 0) else f"param 'prompts' entry {n - (1 if boxes else 0)}"
        records = _box_records(e["frame"], e["boxes"], e.get("object_ids", []), where)
        out.setdefault(int(e["frame"]), []).extend(records)
    for f, recs in out.items():
        ids = [r[6] for r in recs]
        if len(ids) != len(set(ids)):
            raise BadInput(f"frame {f}: two boxes share an object id ({sorted(ids)}); one box per object and frame")
    if not out:
        ctx.note("no boxes given: nothing will be segmented")
    return {"boxes": Boxes(out)}


@node("PointPrompt", category="prompts", version=1,
      doc="Clicks on the objects to remove (positive) and on what to keep (negative).",
      outputs=[Output("points", "Points")],
      params=[
          Param("frame", "int", 0, min=0, doc="frame the points are clicked on"),
          Param("points", "list", [], check=_check_points,
                doc="[[x, y, positive], ...] in pixels; positive is true on the object, false on background"),
          Param("object_ids", "list", [], check=_check_ids,
                doc="one id (1..255) per point; default: each point's 4th number, else 1"),
          Param("prompts", "list", [], check=_check_entries("points", _check_points),
                doc='more frames: [{"frame": N, "points": [...], "object_ids": [...]}, ...]'),
      ])
def point_prompt(ctx, frame, points, object_ids, prompts):
    out = Points()
    entries = ([{"frame": frame, "points": points, "object_ids": object_ids}] if points else []) + list(prompts)
    for n, e in enumerate(entries):
        where = "params 'points'/'object_ids'" if (points and n == 0) else f"param 'prompts' entry {n - (1 if points else 0)}"
        out.setdefault(int(e["frame"]), []).extend(_point_records(e["points"], e.get("object_ids", []), where))
    for f, recs in out.items():
        for oid in sorted({r[3] for r in recs}):
            if not any(r[2] for r in recs if r[3] == oid):
                raise BadInput(f"frame {f}: object {oid} has only negative points; click it at least once")
    if not out:
        ctx.note("no points given: nothing will be segmented")
    return {"points": Points(out)}
