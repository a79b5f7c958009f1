"""Finding a node's output for the viewer, and turning it into a picture. No Qt.

An output comes from the last run when the graph has not changed since, or
else from the cache: the cache keys of the node and its ancestors are worked
out by the engine's `cached_entries`, without rendering anything. A node whose
result is not in the cache has nothing to show until the graph is run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ..engine import data
from ..engine.executor import cached_entries
from . import overlay


def cached_value(graph, node_id: str, output: str, cache, config=None):
    entries = cached_entries(graph, node_id, cache, config)
    if not entries:
        return None
    entry = entries[node_id]
    meta = entry.meta.get("outputs", {}).get(output)
    if meta is None:
        return None
    return data.load_value(meta, entry.path)


class ValueSource:
    """Where the viewer gets values: the last run's result while it is current, else the cache."""

    def __init__(self, graph, cache, result=None, config=None):
        self.graph, self.cache, self.result, self.config = graph, cache, result, config
        self._memo: dict = {}

    def value(self, node_id: str, output: str):
        key = (node_id, output)
        if key not in self._memo:
            value = None
            if self.result is not None:
                try:
                    value = self.result.value(node_id, output)
                except (KeyError, OSError, ValueError):
                    value = None
            if value is None:
                try:
                    value = cached_value(self.graph, node_id, output, self.cache, self.config)
                except (OSError, ValueError, KeyError):
                    value = None
            self._memo[key] = value
        return self._memo[key]

    def frames_inputs(self, nid: str):
        """(source node, output) of each Frames input of a node."""
        spec = self.graph.nodes.get(nid)
        nt = self.graph.registry.get(spec.type) if spec else None
        for port in (nt.inputs if nt else ()):
            ref = spec.inputs.get(port.name)
            if port.type == "Frames" and isinstance(ref, str) and "." in ref:
                yield tuple(ref.split(".", 1))

    def backdrop(self, node_id: str, size: tuple | None = None):
        """Frames to draw a node's masks, boxes or points on.

        The nearest upstream Frames first (walking inputs breadth first). A
        mask read from files has none, so next the plate its consumers pair
        it with (the frames input of the inpaint that takes the mask); any
        frames must match `size` (height, width) when it is given.
        """
        dag = self.graph.dag()
        if node_id not in dag:
            return None
        below = nx.descendants(dag, node_id)

        def usable(src, out):
            if src not in self.graph.nodes or src in below or src == node_id:
                return None
            value = self.value(src, out)
            if value is None or not hasattr(value, "height"):
                return None
            if size and (value.height, value.width) != tuple(size):
                return None
            return value

        seen, queue = {node_id}, [node_id]
        while queue:  # upstream, nearest first
            nid = queue.pop(0)
            for src, out in self.frames_inputs(nid):
                value = usable(src, out)
                if value is not None:
                    return value
            for src in dag.predecessors(nid):
                if src not in seen:
                    seen.add(src)
                    queue.append(src)
        for nid in sorted(below, key=lambda n: nx.shortest_path_length(dag, node_id, n)):  # what consumers pair it with
            for src, out in self.frames_inputs(nid):
                value = usable(src, out)
                if value is not None:
                    return value
        return None


@dataclass
class Picture:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    count: int  # how many frames the slider can reach
    caption: str
    keyframes: list = field(default_factory=list)
    objects: list = field(default_factory=list)  # object ids on this frame


def picture(value, type_name: str, frame: int, backdrop=None, on_frames: bool = True, opacity: float = 0.5,
            hidden=()) -> Picture:
    """The picture of one output at one frame; masks, boxes and points are drawn over `backdrop`.

    Masks are tinted at `opacity`; objects whose ids are in `hidden` are left out.
    """
    backdrop = backdrop if on_frames else None
    hide = sorted(hidden)

    def shown(labels):
        return np.where(np.isin(labels, hide), 0, labels).astype(np.uint8) if hide else labels

    def tinted(i, labels):
        labels = shown(labels)
        if backdrop is not None and i < count_bd:
            return overlay.overlay_labels(backdrop[i], labels, opacity)
        return overlay.labels_image(labels)
    count_bd = len(backdrop) if backdrop is not None else 0

    def under(i: int, height=None, width=None):
        if backdrop is not None and 0 <= i < count_bd:
            return backdrop[i]
        return overlay.blank(height, width)

    if type_name == "Frames":
        n = len(value)
        i = min(max(frame, 0), max(n - 1, 0))
        img = value[i] if n else overlay.blank()
        return Picture(img, n, f"frame {i} of {n}  ·  {value.width}x{value.height}  ·  {float(value.fps):g} fps")
    if type_name == "Masks":
        n = len(value)
        i = min(max(frame, 0), max(n - 1, 0))
        if not n:
            return Picture(overlay.blank(), 0, "no mask frames")
        labels = value[i]
        ids = [int(v) for v in np.unique(labels) if v]
        img = tinted(i, labels)
        return Picture(img, n, f"frame {i} of {n}  ·  objects {', '.join(map(str, ids)) or 'none'}", [], ids)
    if type_name == "KeyMasks":
        keys = sorted(value)
        n = max(count_bd, (keys[-1] + 1) if keys else 0)
        i = min(max(frame, 0), max(n - 1, 0))
        keylist = ", ".join(map(str, keys)) or "none"
        if i in value:
            labels = value[i]
            img = tinted(i, labels)
            ids = [int(v) for v in np.unique(labels) if v]
            cap = f"keyframe {i}  ·  objects {', '.join(map(str, ids)) or 'none'}  ·  keyframes {keylist}"
        else:
            ids = []
            img = under(i, value.height or None, value.width or None)
            cap = f"frame {i}: no keymask  ·  keyframes {keylist}"
        return Picture(img, n, cap, keys, ids)
    if type_name in ("Boxes", "Points"):
        keys = sorted(value)
        n = max(count_bd, (keys[-1] + 1) if keys else 0)
        i = min(max(frame, 0), max(n - 1, 0))
        base = backdrop[i] if backdrop is not None and i < count_bd else overlay.canvas_for_records(value)
        rows = [r for r in value.get(i, []) if (r[6] if type_name == "Boxes" else r[3]) not in hidden]
        img = overlay.draw_boxes(base, rows) if type_name == "Boxes" else overlay.draw_points(base, rows)
        what = "boxes" if type_name == "Boxes" else "points"
        cap = f"frame {i}: {len(rows)} {what}  ·  frames with {what}: {', '.join(map(str, keys)) or 'none'}"
        return Picture(img, n, cap, keys)
    raise ValueError(f"cannot show {type_name}")
