"""Prompts drawn on the viewer: where they go and how they change the prompt node's params. No Qt.

A click or a box on frame F becomes an edit of a PointPrompt's or
BoxPrompt's params, the same params a person could type: the frame's
prompts live in one place (the main `frame`/`points`/`object_ids` params when
`frame` is F, else the `prompts` entry for F), so the saved graph runs
unchanged under `inpainterz run`. Every function here returns new param
values and leaves its input alone; the window applies them as one undoable
step.
"""
from __future__ import annotations

import copy
import math

import networkx as nx

POINT_TYPE, BOX_TYPE, SAM_TYPE = "PointPrompt", "BoxPrompt", "SegmentSAM"
KIND_TYPE = {"points": POINT_TYPE, "boxes": BOX_TYPE}  # SegmentSAM input -> prompt node type
TYPE_KIND = {t: k for k, t in KIND_TYPE.items()}


# ------------------------------------------------------------ view -> clip

def view_to_clip(x: float, y: float, offset: tuple[float, float], scale: float,
                 shown: tuple[int, int], clip: tuple[int, int]) -> tuple[float, float]:
    """A widget position -> clip pixels at full resolution.

    The image on screen is `shown` (width, height) pixels, drawn at `offset`
    and magnified by `scale`; the clip is `clip` (width, height). A proxy
    (a shown image smaller than the clip) scales back up here.
    """
    sx, sy = clip[0] / max(shown[0], 1), clip[1] / max(shown[1], 1)
    return (x - offset[0]) / scale * sx, (y - offset[1]) / scale * sy


def clip_pixel(x: float, y: float, clip: tuple[int, int]) -> tuple[int, int] | None:
    """The pixel (column, row) under a clip position, or None outside the frame."""
    cx, cy = math.floor(x), math.floor(y)
    if 0 <= cx < clip[0] and 0 <= cy < clip[1]:
        return cx, cy
    return None


# ------------------------------------------------------------ reading params

def _main_entry(params: dict, kind: str) -> dict | None:
    items = params.get(kind) or []
    if not items:
        return None
    return {"frame": int(params.get("frame", 0)), kind: items, "object_ids": params.get("object_ids") or []}


def _entries(params: dict, kind: str) -> list[dict]:
    main = _main_entry(params, kind)
    return ([main] if main else []) + [e for e in params.get("prompts") or [] if isinstance(e, dict)]


def frame_points(params: dict, frame: int) -> list[list]:
    """[[x, y, positive, object id], ...] on `frame`, with ids resolved as PointPrompt resolves them."""
    out = []
    for e in _entries(params, "points"):
        if int(e.get("frame", -1)) != frame:
            continue
        ids = e.get("object_ids") or []
        for n, p in enumerate(e["points"]):
            oid = ids[n] if n < len(ids) else (p[3] if len(p) == 4 else 1)
            out.append([p[0], p[1], bool(p[2]), int(oid)])
    return out


def frame_boxes(params: dict, frame: int) -> list[list]:
    """[[x0, y0, x1, y1, object id], ...] on `frame`, with ids resolved as BoxPrompt resolves them."""
    out = []
    for e in _entries(params, "boxes"):
        if int(e.get("frame", -1)) != frame:
            continue
        ids = e.get("object_ids") or list(range(1, len(e["boxes"]) + 1))
        for b, oid in zip(e["boxes"], ids):
            out.append([b[0], b[1], b[2], b[3], int(oid)])
    return out


def prompt_frames(params: dict, kind: str) -> set[int]:
    """Frames holding prompts of `kind` ("points" or "boxes")."""
    return {int(e["frame"]) for e in _entries(params, kind) if e.get(kind) and isinstance(e.get("frame"), int)}


def object_ids(params: dict, kind: str) -> set[int]:
    ids: set[int] = set()
    for f in prompt_frames(params, kind):
        rows = frame_points(params, f) if kind == "points" else frame_boxes(params, f)
        ids |= {int(r[-1]) for r in rows}
    return ids


# ------------------------------------------------------------ writing params

def with_frame(params: dict, kind: str, frame: int, rows: list[list]) -> dict:
    """The params that put exactly `rows` on `frame` (points [x, y, positive, id] or boxes [x0, y0, x1, y1, id]).

    Returns only the params that change, ready to apply. The frame's prompts
    stay where they were: in the main params when `frame` is theirs, else in
    one `prompts` entry, which goes away when the frame is left empty.
    """
    items = [[r[0], r[1], bool(r[2])] if kind == "points" else list(r[:4]) for r in rows]
    ids = [int(r[-1]) for r in rows]
    prompts = [copy.deepcopy(e) for e in params.get("prompts") or []]
    rest = [e for e in prompts if not (isinstance(e, dict) and e.get("frame") == frame)]
    changes: dict = {}
    if int(params.get("frame", 0)) == frame:
        changes[kind], changes["object_ids"] = items, ids
    elif items:
        rest.append({"frame": frame, kind: items, "object_ids": ids})
    rest.sort(key=lambda e: e.get("frame", 0) if isinstance(e, dict) else 0)
    changes["prompts"] = rest
    return {k: v for k, v in changes.items() if (params.get(k) or []) != v}


def add_point(params: dict, frame: int, x: int, y: int, positive: bool, oid: int) -> dict:
    return with_frame(params, "points", frame, frame_points(params, frame) + [[int(x), int(y), bool(positive), oid]])


def add_box(params: dict, frame: int, box: tuple, oid: int) -> dict:
    """A box for `oid` on `frame`; it replaces that object's box there (one box per object and frame)."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    rows = [r for r in frame_boxes(params, frame) if r[4] != oid]
    rows.append([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1), oid])
    rows.sort(key=lambda r: r[4])
    return with_frame(params, "boxes", frame, rows)


def _distance(row: list, kind: str, x: float, y: float) -> float:
    if kind == "points":
        return math.hypot(row[0] - x, row[1] - y)
    x0, y0, x1, y1 = row[:4]  # to the box's outline: a box is picked by its edge or from inside
    dx = max(x0 - x, 0.0, x - x1)
    dy = max(y0 - y, 0.0, y - y1)
    outside = math.hypot(dx, dy)
    return outside if outside > 0 else min(x - x0, x1 - x, y - y0, y1 - y)


def nearest(params_by_kind: dict, frame: int, x: float, y: float) -> tuple[str, int, float] | None:
    """(kind, index on the frame, distance) of the prompt nearest (x, y), among {kind: params}."""
    best = None
    for kind, params in params_by_kind.items():
        rows = frame_points(params, frame) if kind == "points" else frame_boxes(params, frame)
        for i, row in enumerate(rows):
            d = _distance(row, kind, x, y)
            if best is None or d < best[2]:
                best = (kind, i, d)
    return best


def without_row(params: dict, kind: str, frame: int, index: int) -> dict:
    rows = frame_points(params, frame) if kind == "points" else frame_boxes(params, frame)
    return with_frame(params, kind, frame, rows[:index] + rows[index + 1:])


def cleared(params: dict, kind: str, frame: int) -> dict:
    return with_frame(params, kind, frame, [])


# ------------------------------------------------------------ where prompts go

def chain_sam(graph, viewed: str | None) -> str | None:
    """The SegmentSAM of the chain being viewed: the node itself, the nearest upstream, else the
    nearest downstream one; with nothing viewed, the graph's only SegmentSAM."""
    sams = [n for n, s in graph.nodes.items() if s.type == SAM_TYPE]
    if viewed is None or viewed not in graph.nodes:
        return sams[0] if len(sams) == 1 else None
    if graph.nodes[viewed].type == SAM_TYPE:
        return viewed
    dag = graph.dag()
    for nodes, dist in ((nx.ancestors(dag, viewed), lambda n: nx.shortest_path_length(dag, n, viewed)),
                        (nx.descendants(dag, viewed), lambda n: nx.shortest_path_length(dag, viewed, n))):
        near = sorted((n for n in nodes if n in sams), key=lambda n: (dist(n), n))
        if near:
            return near[0]
    return sams[0] if len(sams) == 1 else None


def feeding(graph, sam: str, kind: str) -> str | None:
    """The node feeding SegmentSAM's `kind` input ("points" or "boxes"), whatever its type."""
    ref = graph.nodes[sam].inputs.get(kind)
    if isinstance(ref, str) and "." in ref:
        src = ref.split(".", 1)[0]
        return src if src in graph.nodes else None
    return None


def sam_frames_source(graph, sam: str) -> tuple[str, str] | None:
    ref = graph.nodes[sam].inputs.get("frames")
    if isinstance(ref, str) and "." in ref:
        src, out = ref.split(".", 1)
        if src in graph.nodes:
            return src, out
    return None


class NoTarget(Exception):
    """Why a prompt cannot be placed, in words for the status bar."""


def target_for(graph, kind: str, selected: list[str], viewed: str | None) -> tuple[str | None, str | None]:
    """(prompt node id or None, SegmentSAM id or None) that a prompt of `kind` goes to.

    The selected prompt node of the right type wins; else the one feeding the
    viewed chain's SegmentSAM. (None, sam) means: add a prompt node and wire
    it into `sam`. Raises NoTarget when neither is possible.
    """
    want = KIND_TYPE[kind]
    chosen = [n for n in selected if n in graph.nodes and graph.nodes[n].type == want]
    if len(chosen) == 1:
        sams = [d for s, _, d, port in graph.edges() if s == chosen[0] and port == kind
                and graph.nodes[d].type == SAM_TYPE]
        return chosen[0], (sams[0] if sams else chain_sam(graph, viewed))
    sam = chain_sam(graph, viewed)
    if sam is None:
        raise NoTarget("no SegmentSAM to prompt: select a PointPrompt or BoxPrompt node, "
                       "or view a chain with a SegmentSAM")
    src = feeding(graph, sam, kind)
    if src is None:
        return None, sam
    if graph.nodes[src].type != want:
        raise NoTarget(f"{sam}.{kind} is fed by {src} ({graph.nodes[src].type}); "
                       f"select a {want} node to draw {kind} into, or disconnect {src}")
    return src, sam


def chain_prompts(graph, sam: str | None) -> dict[str, str]:
    """{kind: prompt node id} of the prompt nodes feeding `sam`."""
    out = {}
    if sam is None or sam not in graph.nodes:
        return out
    for kind, want in KIND_TYPE.items():
        src = feeding(graph, sam, kind)
        if src is not None and graph.nodes[src].type == want:
            out[kind] = src
    return out
