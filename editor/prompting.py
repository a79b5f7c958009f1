"""Prompting on the viewer: the glue between the viewer's tools, the graph and SAM's instant mask.

A click, box, delete or clear on the viewer becomes one undoable edit of a
prompt node's params (`prompt_tools` says which node and what values). When
the viewed chain's SegmentSAM has no prompt node of the kind drawn, one is
added and wired in, in the same undo step. After each edit the frame's
prompts go to the SAM preview worker, whose mask is drawn once it arrives.
While a node runs, the frames it has finished (engine "frame" events) show
in the viewer and on the timeline.
"""
from __future__ import annotations

import math
import threading
import zlib

import networkx as nx
import numpy as np
from qtpy.QtCore import QObject, QPointF, Qt, Signal

from ..engine.data import Boxes, Points, digest
from ..engine.errors import InpainterzError
from ..engine.graph import Graph
from . import prompt_tools as pt
from .sam_preview import PreviewWorker, Request
from .viewer import PromptLayer

LIVE_BUDGET = 256 * 1024 ** 2  # bytes of compressed label maps kept per running node
DECODED_FRAMES = 4  # frames of the chain's clip kept decoded (the one on screen, and a few scrubbed past)


class LiveFrames:
    """The label maps a running node has finished, kept zlib-compressed (they compress a hundredfold)
    under a byte budget, so a long shot cannot fill the editor's memory; past the budget the
    oldest frames keep only their mark on the timeline."""

    def __init__(self, budget: int = LIVE_BUDGET):
        self.budget, self.bytes = budget, 0
        self.data: dict[int, tuple | None] = {}  # frame -> (shape, compressed bytes), None once dropped

    def add(self, frame: int, labels: np.ndarray) -> None:
        labels = np.ascontiguousarray(labels, np.uint8)
        packed = zlib.compress(labels.tobytes(), 1)
        self.data[frame] = (labels.shape, packed)
        self.bytes += len(packed)
        for old in sorted(self.data):
            if self.bytes <= self.budget:
                break
            if self.data[old] is not None and old != frame:
                self.bytes -= len(self.data[old][1])
                self.data[old] = None

    def get(self, frame: int) -> np.ndarray | None:
        got = self.data.get(frame)
        if got is None:
            return None
        shape, packed = got
        return np.frombuffer(zlib.decompress(packed), np.uint8).reshape(shape)

    def shape(self) -> tuple:
        return next(v[0] for v in reversed(self.data.values()) if v is not None)


class LiveMasks:
    """The frames a running node has finished, read like a Masks clip (other frames read as empty)."""

    def __init__(self, count: int, frames: LiveFrames):
        self.count, self.frames = count, frames
        self.height, self.width = frames.shape()

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> np.ndarray:
        got = self.frames.get(i)
        return got if got is not None else np.zeros((self.height, self.width), np.uint8)


class PromptController(QObject):
    preview_ready = Signal(object)  # sam_preview.Result
    preview_progress = Signal(str)
    preview_failed = Signal(str)
    source_ready = Signal(str)
    source_failed = Signal(str)  # why the chain's frames cannot be read (validation names it in the log already)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.viewer = window.viewer
        self.worker: PreviewWorker | None = None
        self.previews: dict[int, tuple[str, np.ndarray]] = {}  # frame -> (prompt state, label map)
        self.live: dict[str, LiveFrames] = {}  # running node -> the frames it has finished
        self._sources_started: set[str] = set()
        self._decoded: dict[str, np.ndarray] = {}  # frame content version -> the decoded frame
        self._removal: tuple[str, int] | None = None  # (inpaint node, frame) of a preview being rendered
        self.source_error: str | None = None  # why the chain's frames could not be read, once known
        self.viewer.layer_source = self.layer
        self.viewer.rendered_source = self.rendered
        self.viewer.live_source = self.live_value
        self.viewer.prompt_point.connect(self.add_point)
        self.viewer.prompt_box.connect(self.add_box)
        self.viewer.prompt_delete.connect(self.delete_nearest)
        self.viewer.prompt_clear.connect(self.clear_frame)
        self.viewer.frame_changed.connect(self._frame_changed)
        self.viewer.preview_requested.connect(self.preview_removal)
        self.preview_ready.connect(self._preview_ready, Qt.QueuedConnection)
        self.preview_progress.connect(self._preview_progress, Qt.QueuedConnection)
        self.preview_failed.connect(self._preview_failed, Qt.QueuedConnection)
        self.source_ready.connect(self._source_ready, Qt.QueuedConnection)
        self.source_failed.connect(self.viewer.status.setText, Qt.QueuedConnection)

    # ------------------------------------------------------------ the chain

    def _graph(self):
        return self.window.doc.to_graph()

    def _selected(self) -> list[str]:
        return [n.node_id for n in self.window.doc.view.selected_nodes() if getattr(n, "node_id", None)]

    def _chain(self, graph):
        """(SegmentSAM id, {kind: prompt node id}) of what the viewer shows."""
        sam = pt.chain_sam(graph, self.viewer.node_id)
        nodes = pt.chain_prompts(graph, sam)
        for nid in self._selected():
            kind = pt.TYPE_KIND.get(graph.nodes[nid].type) if nid in graph.nodes else None
            if kind:
                nodes[kind] = nid
        return sam, nodes

    def _values(self):
        """The viewer's ValueSource (it keeps what it has read, so scrubbing opens no file twice)."""
        return self.viewer.source if self.viewer.source is not None else self.window.value_source()

    def frames(self, graph, sam):
        """The chain's clip (the frames SegmentSAM reads), or None while it is not at hand."""
        src = pt.sam_frames_source(graph, sam) if sam else None
        if src is None:
            return None
        value = self._values().value(*src)
        if value is None:
            self._render_source(graph, src[0])
        return value

    def frame_image(self, frames, index: int) -> np.ndarray:
        """Frame `index` of the chain's clip, decoded once: each click redraws the viewer and asks
        for the mask, and decoding an HD frame each time would cost more than SAM's decoder."""
        version = frames.frame_versions[index]
        if version is None:  # not rendered (a frame-range result): nothing to key it by
            return np.asarray(frames[index])
        image = self._decoded.get(version)
        if image is None:
            image = np.asarray(frames[index])
            image.setflags(write=False)  # shared by every redraw: drawn over in copies only
            if len(self._decoded) >= DECODED_FRAMES:
                self._decoded.pop(next(iter(self._decoded)))
            self._decoded[version] = image
        return image

    def _render_source(self, graph, node_id: str) -> None:
        """Render the node that gives the frames (a reader: cheap), once, in the background."""
        key = digest(graph.to_json()["nodes"].get(node_id), node_id, str(graph.base_dir))
        if key in self._sources_started:
            return
        self._sources_started.add(key)
        self.source_error = None
        cache = self.window.cache

        # Only the source and what it reads: problems elsewhere (a checkpoint not fetched yet) must not stop it.
        part = Graph(registry=graph.registry, base_dir=graph.base_dir)
        part.path = graph.path
        for nid in nx.ancestors(graph.dag(), node_id) | {node_id}:
            part.nodes[nid] = graph.nodes[nid]

        def work():
            from ..engine.executor import run_graph

            try:
                result = run_graph(part, targets=[node_id], cache=cache)
            except InpainterzError as exc:
                self.source_error = f"cannot read the frames of {node_id}: {exc}"
            else:
                if result.ok:
                    self.source_ready.emit(node_id)
                    return
                self.source_error = "; ".join(r.error or r.status for r in result.failed) or "cancelled"
            self.source_failed.emit(self.source_error)

        threading.Thread(target=work, name="inpainterz-frames-source", daemon=True).start()

    # ------------------------------------------------------------ what the viewer draws

    def layer(self, frame: int) -> PromptLayer | None:
        if self.window.doc is None:
            return None
        graph = self._graph()
        sam, nodes = self._chain(graph)
        if sam is None and not nodes:
            return None
        layer = PromptLayer()
        for kind, nid in nodes.items():
            params = graph.nodes[nid].params
            layer.keyframes |= pt.prompt_frames(params, kind)
            if kind == "points":
                layer.points = pt.frame_points(params, frame)
            else:
                layer.boxes = pt.frame_boxes(params, frame)
        layer.keyframes |= self._detected_frames(graph, sam)
        frames = self.frames(graph, sam)
        if frames is not None and len(frames):
            layer.count = len(frames)
            if 0 <= frame < len(frames):
                layer.backdrop = self.frame_image(frames, frame)
        got = self.previews.get(frame)
        # Not over a removal: SAM's mask would hide the very pixels the preview is there to show.
        if got is not None and got[0] == self._state(layer.points, layer.boxes) \
                and not self._is_inpaint(graph, self.viewer.node_id):
            layer.labels = got[1]
        layer.objects = self._known_objects(graph, nodes)
        return layer

    def _detected_frames(self, graph, sam) -> set[int]:
        """Frames where a detector feeding SegmentSAM found something (once its result is at hand)."""
        out: set[int] = set()
        for kind in pt.KIND_TYPE:
            ref = graph.nodes[sam].inputs.get(kind) if sam else None
            if not isinstance(ref, str) or "." not in ref:
                continue
            src, output = ref.split(".", 1)
            if src in graph.nodes and graph.nodes[src].type not in pt.TYPE_KIND:
                value = self._values().value(src, output)
                out |= {int(f) for f, rows in (value or {}).items() if rows}
        return out

    def _known_objects(self, graph, nodes: dict) -> set[int]:
        ids: set[int] = set()
        for kind, nid in nodes.items():
            ids |= pt.object_ids(graph.nodes[nid].params, kind)
        return ids

    def rendered(self, node_id: str, count: int) -> set[int]:
        """Frames of the viewed node's result already rendered: all of a finished one, or those done so far."""
        if node_id in self.live:
            return set(self.live[node_id].data)
        return set(range(count))

    def live_value(self, node_id: str):
        """The running node's finished frames as a clip the viewer can show, or None."""
        frames = self.live.get(node_id)
        if frames is None or not any(v is not None for v in frames.data.values()):
            return None
        values = self._values()
        count = max(frames.data) + 1
        for src, out in values.frames_inputs(node_id) if node_id in values.graph.nodes else ():
            clip = values.value(src, out)
            if clip is not None:
                count = len(clip)
                break
        return LiveMasks(count, frames)

    def on_event(self, ev) -> None:
        if ev.kind == "frame" and ev.value is not None:
            self.live.setdefault(ev.node, LiveFrames()).add(ev.frame, ev.value)
            if ev.node == self.viewer.node_id:
                self.viewer.refresh_soon()
        elif ev.kind in ("done", "cached", "failed", "skipped"):
            self.live.pop(ev.node, None)

    def run_finished(self) -> None:
        self.live.clear()
        if self._removal is not None:
            node_id, frame = self._removal
            self._removal = None
            node = self.window.doc.node(node_id)
            if node is not None and self.window.result is not None and self.window.result.ok:
                self.viewer.act_before.setChecked(False)
                self.window._view_node(node)
                self.viewer.set_frame(frame)

    # ------------------------------------------------------------ previewing the removal

    @staticmethod
    def _is_inpaint(graph, node_id) -> bool:
        nt = graph.registry.get(graph.nodes[node_id].type) if node_id in graph.nodes else None
        return nt is not None and nt.category == "inpaint"

    def inpaint_node(self, graph) -> str | None:
        """The inpaint node of the chain being viewed: the node itself, else the nearest downstream one."""
        def is_inpaint(n):
            return self._is_inpaint(graph, n)

        viewed = self.viewer.node_id
        if viewed in graph.nodes:
            if is_inpaint(viewed):
                return viewed
            dag = graph.dag()
            below = sorted((n for n in nx.descendants(dag, viewed) if is_inpaint(n)),
                           key=lambda n: (nx.shortest_path_length(dag, viewed, n), n))
            if below:
                return below[0]
        every = [n for n in graph.nodes if is_inpaint(n)]
        return every[0] if len(every) == 1 else None

    def preview_removal(self, frame: int) -> bool:
        """Render the removal for `frame` (no file is written) and show it when it is done.

        Only the inpaint node and what it needs run. Where the engine renders
        frame ranges, that is just the frames the inpaint's window needs around
        `frame`; elsewhere the chain renders whole, once, into the cache.
        """
        import inspect

        from ..engine.executor import run_graph

        graph = self._graph()
        node_id = self.inpaint_node(graph)
        if node_id is None:
            self.viewer.status.setText("no inpaint node to preview: view a chain that ends in one")
            return False
        ranged = "frames" in inspect.signature(run_graph).parameters
        if not self.window.run(targets=[node_id], frames=(frame, frame) if ranged else None):
            return False
        self._removal = (node_id, frame)
        self.viewer.status.setText(f"previewing the removal at frame {frame} ({node_id}): "
                                   + ("its window only" if ranged else "renders the chain once into the cache"))
        return True

    def document_changed(self) -> None:
        self.previews.clear()
        self.live.clear()
        self._sources_started.clear()
        self.window.doc.params_edited.connect(self._params_edited)

    def _params_edited(self, node) -> None:
        """Any change of a prompt node's params (drawn, typed, undone) asks SAM again for the frame on screen."""
        if node.type_id in pt.TYPE_KIND:
            self.request_preview(self.viewer.frame)

    # ------------------------------------------------------------ edits

    def _edit(self, kind: str, text: str, change) -> bool:
        """Apply `change(params) -> new values` to the prompt node for `kind`, as one undo step.

        The node is the selected one or the chain's; when the chain's SegmentSAM
        has none, one is added and wired in within the same step.
        """
        try:
            nid, sam = pt.target_for(self._graph(), kind, self._selected(), self.viewer.node_id)
        except pt.NoTarget as exc:
            self.window.statusBar().showMessage(str(exc), 8000)
            self.viewer.status.setText(str(exc))
            return False
        stack = self.window.doc.view._undo_stack
        stack.beginMacro(text)
        try:
            node = self.window.doc.node(nid) if nid is not None else self._add_prompt_node(kind, sam)
            values = change(dict(node.params))
            if values:
                self.window.doc.edit_params(node, values, text)
        finally:
            stack.endMacro()
        return True

    def _add_prompt_node(self, kind: str, sam_id: str):
        from ryvencore_qt.src.flows.FlowCommands import ConnectPorts_Command, PlaceNode_Command

        doc = self.window.doc
        sam = doc.node(sam_id)
        pos = doc.item(sam).pos()
        view = doc.view
        view._node_place_pos = QPointF(pos.x() - 280, pos.y() + (-160 if kind == "boxes" else 160))
        before = set(doc.nodes())
        view.push_undo(PlaceNode_Command(view, doc.classes[pt.KIND_TYPE[kind]], view._node_place_pos))
        node = next(n for n in doc.nodes() if n not in before)
        inp = sam.inputs[sam.input_names.index(kind)]
        view.push_undo(ConnectPorts_Command(view, out=node.outputs[0], inp=inp))
        self.window.log(f"added {node.node_id} ({node.type_id}) feeding {sam_id}.{kind}", "info")
        return node

    def add_point(self, frame: int, x: float, y: float, positive: bool) -> None:
        px = pt.clip_pixel(x, y, self.viewer.canvas.clip_size)
        if px is None:
            return
        oid = self.viewer.object_id()
        self.viewer.pick_object(oid)
        sign = "" if positive else "negative "
        self._edit("points", f"{sign}click on frame {frame}",
                   lambda p: pt.add_point(p, frame, px[0], px[1], positive, oid))

    def add_box(self, frame: int, x0: float, y0: float, x1: float, y1: float) -> None:
        # The box covers the pixels from the one pressed to the one released, both included.
        w, h = self.viewer.canvas.clip_size
        x0, y0 = max(0, math.floor(min(x0, x1))), max(0, math.floor(min(y0, y1)))
        x1, y1 = min(w, math.floor(max(x0, x1)) + 1), min(h, math.floor(max(y0, y1)) + 1)
        oid = self.viewer.object_id()
        self.viewer.pick_object(oid)
        self._edit("boxes", f"box on frame {frame}", lambda p: pt.add_box(p, frame, (x0, y0, x1, y1), oid))

    def delete_nearest(self, frame: int, x: float, y: float) -> None:
        graph = self._graph()
        _, nodes = self._chain(graph)
        found = pt.nearest({k: graph.nodes[n].params for k, n in nodes.items()}, frame, x, y)
        if found is None:
            self.window.statusBar().showMessage(f"no prompt on frame {frame} to delete", 4000)
            return
        kind, index, _ = found
        node = self.window.doc.node(nodes[kind])
        values = pt.without_row(dict(node.params), kind, frame, index)
        if values:
            self.window.doc.edit_params(node, values, f"delete a prompt on frame {frame}")

    def clear_frame(self, frame: int) -> None:
        graph = self._graph()
        _, nodes = self._chain(graph)
        stack = self.window.doc.view._undo_stack
        stack.beginMacro(f"clear the prompts of frame {frame}")
        try:
            for kind, nid in nodes.items():
                node = self.window.doc.node(nid)
                values = pt.cleared(dict(node.params), kind, frame)
                if values:
                    self.window.doc.edit_params(node, values, f"clear {nid} on frame {frame}")
        finally:
            stack.endMacro()

    # ------------------------------------------------------------ the instant mask

    @staticmethod
    def _state(points: list, boxes: list) -> str:
        return digest("prompts", points, boxes)

    def _source_ready(self, _node_id: str) -> None:
        self.window._refresh_viewer()
        self._frame_changed(self.viewer.frame)  # the mask that waited for the frames

    def _frame_changed(self, frame: int) -> None:
        if frame not in self.previews:
            graph = self._graph()
            _, nodes = self._chain(graph)
            if any(frame in pt.prompt_frames(graph.nodes[n].params, k) for k, n in nodes.items()):
                self.request_preview(frame)

    def request_preview(self, frame: int) -> int | None:
        """Ask SAM for the frame's mask from its current prompts; returns the request's serial."""
        graph = self._graph()
        sam, nodes = self._chain(graph)
        if sam is None:
            return None
        points = pt.frame_points(graph.nodes[nodes["points"]].params, frame) if "points" in nodes else []
        boxes = pt.frame_boxes(graph.nodes[nodes["boxes"]].params, frame) if "boxes" in nodes else []
        state = self._state(points, boxes)
        if not points and not boxes:
            self.previews.pop(frame, None)
            self.window._refresh_viewer()
            return None
        frames = self.frames(graph, sam)
        if frames is None or not 0 <= frame < len(frames):
            self.viewer.status.setText("the frames are not read yet: the mask follows once they are")
            return None
        params = graph.params_of(sam)
        try:
            from ..nodes.segment import prompts_by_frame

            checkpoint = self.window.config.find_checkpoint("sam_" + params["model"], params.get("checkpoint") or None)
            prompts = prompts_by_frame(Boxes({frame: [[*b[:4], 1.0, "box", b[4]] for b in boxes]}),
                                       Points({frame: points}), len(frames))[frame]
        except InpainterzError as exc:
            self.viewer.status.setText(f"no instant mask: {exc}")
            return None
        except ImportError as exc:
            self.viewer.status.setText(f"no instant mask: SAM is not installed ({exc})")
            return None
        image = self.frame_image(frames, frame)  # read here: a video reader belongs to one thread
        if self.worker is None:
            self.worker = PreviewWorker(self.window.cache, on_result=self.preview_ready.emit,
                                        on_progress=lambda r, text: self.preview_progress.emit(text),
                                        on_error=lambda r, text: self.preview_failed.emit(text))
        return self.worker.request(Request(frame, prompts, params["model"], checkpoint, params["multimask"],
                                           lambda: image, extra={"state": state}))

    def _preview_ready(self, result) -> None:
        req = result.request
        if result.labels is None:
            self.previews.pop(req.frame, None)
        else:
            self.previews[req.frame] = (req.extra["state"], result.labels)
        self.viewer.status.setText(f"frame {req.frame}: SAM mask in {result.decode_seconds * 1000:.0f} ms"
                                   + (" (after computing the frame's embedding)" if result.encoded else ""))
        if req.frame == self.viewer.frame:
            self.viewer.refresh()

    def _preview_progress(self, text: str) -> None:
        self.viewer.status.setText(text + " — keep clicking; the mask follows the latest clicks")

    def _preview_failed(self, text: str) -> None:
        first = text.splitlines()[0] if text else "unknown error"
        self.viewer.status.setText(f"the instant mask failed: {first}")
        self.window.log(f"warning: the instant mask failed: {text}", "warning")

    def graph_opened(self) -> None:
        """A graph with one SegmentSAM opens with it in the viewer: its frames, ready to be clicked."""
        sam = pt.chain_sam(self._graph(), None)
        if sam is not None and self.viewer.node_id is None:
            self.window._view_node(self.window.doc.node(sam))
            self._frame_changed(self.viewer.frame)  # prompts on the first frame show their mask

    def settle(self, app, timeout: float = 600.0) -> bool:
        """Wait for the chain's frames and the instant mask of the frame on screen (for a screenshot)."""
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            app.processEvents()
            layer = self.layer(self.viewer.frame)
            if layer is None or layer.backdrop is not None or self.source_error:
                break
            time.sleep(0.02)
        else:
            return False
        if layer is None or layer.backdrop is None or self.request_preview(self.viewer.frame) is None:
            app.processEvents()
            return True
        while time.monotonic() < end:
            app.processEvents()
            if self.worker.idle():
                app.processEvents()
                self.viewer.refresh()
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
