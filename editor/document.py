"""The open graph: a Ryven flow kept in step with the engine's graph format.

The flow is what the user edits; `to_graph()` turns it into an engine
`Graph` (for saving and running) and `load()` builds it from one. Node ids,
params as written (an int stays an int), unknown keys and connections to
nodes that do not exist all survive a load and a save. Ryven's own project
format is never written or read.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import networkx as nx
from qtpy.QtCore import QObject, QPointF, Signal
from qtpy.QtGui import QGuiApplication, QKeySequence
from qtpy.QtWidgets import QInputDialog, QShortcut
from ryvencore.RC import PortObjPos
from ryvencore_qt.src.flows.FlowCommands import Delegate_Command

from ..engine.errors import GraphError
from ..engine.graph import Graph, NodeSpec, is_node_id, new_node_id, parse_ref
from .layout import layered_positions
from .nodes_from_registry import EngineNode, unknown_node_class

LAYOUT_ORIGIN = (600.0, 1200.0)  # scene point where an unplaced graph starts


class GraphDocument(QObject):
    """One graph open in one flow view."""

    params_edited = Signal(object)  # EngineNode
    structure_changed = Signal(object)  # EngineNode whose inputs changed, or None
    view_requested = Signal(object)  # EngineNode
    notice = Signal(str)  # a one-line message for the status bar

    def __init__(self, session_gui, registry, classes: dict, title: str = "graph"):
        super().__init__()
        self.session_gui = session_gui
        self.registry = registry
        self.classes = classes  # {type id: Node class}, registered once per session
        self.unknown_classes: dict = {}  # stand-ins for types the registry lacks, by (type, ports)
        session = session_gui.core_session
        self._views: dict = {}
        session_gui.flow_view_created.connect(self._remember_view)
        self.flow = session.create_flow(title=self._unique_title(session, title))
        self.view = self._views.pop(self.flow)
        session_gui.flow_view_created.disconnect(self._remember_view)
        self.path: Path | None = None
        self.extra: dict = {}
        self.saved_text: str | None = None
        self._loading = False
        self._install_hooks()

    # ------------------------------------------------------------ setup

    @staticmethod
    def _unique_title(session, title: str) -> str:
        name, n = title, 1
        while not session.flow_title_valid(name):
            n += 1
            name = f"{title} {n}"
        return name

    def _remember_view(self, flow, view) -> None:
        self._views[flow] = view

    def _install_hooks(self) -> None:
        flow, view = self.flow, self.view
        flow.node_added.sub(self._on_node_added, nice=1)  # after the view made the node's item
        flow.node_removed.sub(self._on_node_removed, nice=1)
        flow.connection_added.sub(self._on_connection_changed, nice=1)
        flow.connection_removed.sub(self._on_connection_changed, nice=1)
        # Connections are checked against the engine's port types (and for cycles).
        flow.check_connection_validity = self._connection_valid
        view.check_connection_validity_request.disconnect()
        view.check_connection_validity_request.connect(self._connection_request)
        # Ryven copies and pastes nodes as pickles; here they travel as graph JSON.
        for sc in view.findChildren(QShortcut):
            key = sc.key()
            for seq, slot in ((QKeySequence.Copy, self.copy_selection), (QKeySequence.Cut, self.cut_selection),
                              (QKeySequence.Paste, self.paste)):
                if key.matches(QKeySequence(seq)) == QKeySequence.ExactMatch:
                    sc.activated.disconnect()
                    sc.activated.connect(slot)
        view._stylus_modes_proxy.hide()  # drawing on the flow is not part of a graph file
        view._menu_layout_proxy.hide()
        view.hide_proxies = lambda: None  # keep them hidden when Ryven renders the scene
        view.show_proxies = lambda: None

    # ------------------------------------------------------------ nodes

    def nodes(self) -> list[EngineNode]:
        return [n for n in self.flow.nodes if isinstance(n, EngineNode)]

    def node(self, node_id: str) -> EngineNode | None:
        return next((n for n in self.flow.nodes if getattr(n, "node_id", None) == node_id), None)

    def item(self, node: EngineNode):
        return self.view.node_items.get(node)

    def base_dir(self) -> Path:
        return self.path.resolve().parent if self.path else Path.cwd()

    def new_id(self, type_id: str, taken: set | None = None) -> str:
        return new_node_id(type_id, taken if taken is not None else {n.node_id for n in self.nodes()})

    def _on_node_added(self, node) -> None:
        if not isinstance(node, EngineNode):
            return
        node.document = self
        if self._loading:
            return
        if node.node_id is None or any(n is not node and n.node_id == node.node_id for n in self.nodes()):
            node.node_id = self.new_id(node.type_id, {n.node_id for n in self.nodes() if n is not node})
        self._show_title(node)
        self.structure_changed.emit(node)

    def _on_node_removed(self, node) -> None:
        if isinstance(node, EngineNode) and not self._loading:
            self.structure_changed.emit(None)

    def _show_title(self, node: EngineNode) -> None:
        gui = getattr(node, "gui", None)
        if gui is not None:
            gui.set_display_title(node.node_id)

    def _class_for(self, spec_type: str, inputs: list[str], outputs: list[str]):
        cls = self.classes.get(spec_type)
        if cls is not None:
            return cls
        key = (spec_type, tuple(inputs), tuple(outputs))
        if key not in self.unknown_classes:
            self.unknown_classes[key] = unknown_node_class(spec_type, inputs, outputs)
        return self.unknown_classes[key]

    def _create(self, cls) -> EngineNode:
        """Create a node; a stand-in for an unknown type is registered only for that moment,
        so it never shows in the node list."""
        session = self.session_gui.core_session
        listed = cls in session.nodes
        if not listed:
            session.register_node_type(cls)
        try:
            return self.flow.create_node(cls)
        finally:
            if not listed:
                session.nodes.discard(cls)

    def add_node(self, type_id: str, node_id: str | None = None, pos: tuple | None = None) -> EngineNode:
        """Place a node of a registered type (what dropping it from the node list does)."""
        if pos is not None:
            self.view._node_place_pos = QPointF(*pos)
        node = self.flow.create_node(self.classes[type_id])
        if node_id is not None and node_id != node.node_id:
            if not is_node_id(node_id) or self.node(node_id) is not None:
                raise ValueError(f"node id {node_id!r} is taken or not a valid id")
            node.node_id = node_id
            self._show_title(node)
        return node

    # ------------------------------------------------------------ loading

    def load(self, graph: Graph) -> list[str]:
        """Show `graph` in the (empty) flow. Returns the ids of nodes that had no position."""
        self.path = Path(graph.path) if graph.path else None
        self.extra = copy.deepcopy(graph.extra)
        outputs_used: dict[str, list[str]] = {}
        for src, out, _, _ in graph.edges():
            outputs_used.setdefault(src, [])
            if out not in outputs_used[src]:
                outputs_used[src].append(out)
        created: dict[str, EngineNode] = {}
        self._loading = True
        try:
            for nid, spec in graph.nodes.items():
                cls = self._class_for(spec.type, list(spec.inputs), outputs_used.get(nid, []))
                node = self._create(cls)
                node.node_id = nid
                node.params = dict(spec.params)
                node.loaded_params = frozenset(spec.params)
                node.extra = copy.deepcopy(spec.extra)
                ui = graph.ui.get(nid)
                node.loaded_ui = dict(ui) if isinstance(ui, dict) else None
                created[nid] = node
                self._show_title(node)
                body = self.item(node).main_widget
                if body is not None:
                    body.refresh()
            for nid, spec in graph.nodes.items():
                node = created[nid]
                for port, ref in spec.inputs.items():
                    if not self._connect_ref(node, port, ref, created):
                        node.dangling_inputs[port] = ref
        finally:
            self._loading = False
        unplaced = []
        for nid, node in created.items():
            ui = node.loaded_ui
            if ui and isinstance(ui.get("x"), (int, float)) and isinstance(ui.get("y"), (int, float)):
                self.item(node).setPos(QPointF(float(ui["x"]), float(ui["y"])))
            else:
                unplaced.append(nid)
        if unplaced:
            self.layout(only=set(unplaced))
        self.view.clear_selection()
        self.view._undo_stack.clear()
        self.fit_scene_rect()
        return unplaced

    def _connect_ref(self, node: EngineNode, port: str, ref, created: dict) -> bool:
        parsed = parse_ref(ref)
        if parsed is None or port not in node.input_names:
            return False
        src = created.get(parsed[0])
        if src is None or parsed[1] not in src.output_names:
            return False
        out = src.outputs[src.output_names.index(parsed[1])]
        inp = node.inputs[node.input_names.index(port)]
        if not self._types_match(out, inp):
            return False  # kept as written; validation names the mismatch
        self.flow.add_connection((out, inp), silent=True)
        return True

    # ------------------------------------------------------------ layout

    def node_sizes(self) -> dict:
        out = {}
        for node in self.nodes():
            rect = self.item(node).boundingRect()
            if rect.width() > 0 and rect.height() > 0:
                out[node.node_id] = (rect.width(), rect.height())
        return out

    def layout(self, only: set | None = None) -> None:
        """Lay nodes out in columns by depth (all of them, or just `only`, beside the placed ones)."""
        graph = self.to_graph()
        dag = graph.dag()
        origin = LAYOUT_ORIGIN
        if only is not None and len(only) < len(graph.nodes):
            placed = [self.item(n) for n in self.nodes() if n.node_id not in only]
            right = max(i.sceneBoundingRect().right() for i in placed)
            top = min(i.sceneBoundingRect().top() for i in placed)
            dag = dag.subgraph(only).copy()
            origin = (right + 120.0, top + 200.0)
        positions = layered_positions(dag, self.node_sizes(), origin=origin)
        for node in self.nodes():
            if node.node_id in positions:
                self.item(node).setPos(QPointF(*positions[node.node_id]))
        self.fit_scene_rect()

    def spread_overlaps(self, margin: float = 30.0, limit: float = 4.0) -> bool:
        """Scale the positions apart, keeping their arrangement, until no two nodes overlap.

        Positions written for smaller nodes (by hand, or by another tool) would
        pile the nodes on each other; a graph whose nodes still overlap at
        `limit` times the spacing is laid out afresh. True when anything moved.
        """
        items = [(n, self.item(n)) for n in self.nodes()]
        boxes = [(it.pos().x(), it.pos().y(), it.boundingRect().width(), it.boundingRect().height()) for _, it in items]
        need = 1.0
        for i in range(len(boxes)):
            xi, yi, wi, hi = boxes[i]
            for j in range(i + 1, len(boxes)):
                xj, yj, wj, hj = boxes[j]
                dx, dy = abs(xi - xj), abs(yi - yj)
                room_x, room_y = (wi + wj) / 2 + margin, (hi + hj) / 2 + margin
                if dx >= room_x or dy >= room_y:
                    continue
                sx = room_x / dx if dx > 0 else float("inf")
                sy = room_y / dy if dy > 0 else float("inf")
                need = max(need, min(sx, sy))
        if need <= 1.0:
            return False
        if need > limit:
            self.layout()
            return True
        cx = sum(b[0] for b in boxes) / len(boxes)
        cy = sum(b[1] for b in boxes) / len(boxes)
        for (_, it), (x, y, _, _) in zip(items, boxes):
            it.setPos(QPointF(cx + (x - cx) * need, cy + (y - cy) * need))
        self.fit_scene_rect()
        return True

    def fit_scene_rect(self) -> None:
        """Grow the scene to hold every node with room around it (files may hold any coordinates)."""
        scene = self.view.scene()
        rect = scene.sceneRect()
        items = [self.item(n) for n in self.nodes()]
        for it in items:
            rect = rect.united(it.sceneBoundingRect().adjusted(-2000, -2000, 2000, 2000))
        if rect != scene.sceneRect():
            scene.setSceneRect(rect)

    # ------------------------------------------------------------ saving

    def _ui_entry(self, node: EngineNode) -> dict:
        pos = self.item(node).pos()
        ui = node.loaded_ui
        if ui and isinstance(ui.get("x"), (int, float)) and isinstance(ui.get("y"), (int, float)) \
                and abs(ui["x"] - pos.x()) < 0.5 and abs(ui["y"] - pos.y()) < 0.5:
            return dict(ui)  # unmoved: written back exactly as read
        entry = dict(ui or {})
        entry.update(x=round(pos.x()), y=round(pos.y()))
        return entry

    def output_name(self, port) -> str:
        node = port.node
        return node.output_names[node.outputs.index(port)]

    def input_name(self, port) -> str:
        node = port.node
        return node.input_names[node.inputs.index(port)]

    def to_graph(self) -> Graph:
        g = Graph(registry=self.registry, base_dir=self.base_dir())
        g.path = self.path
        g.extra = copy.deepcopy(self.extra)
        for node in self.nodes():
            inputs = dict(node.dangling_inputs)
            for inp in node.inputs:
                out = self.flow.connected_output(inp)
                if out is not None:
                    inputs[self.input_name(inp)] = f"{out.node.node_id}.{self.output_name(out)}"
            g.nodes[node.node_id] = NodeSpec(node.type_id, copy.deepcopy(node.params), inputs,
                                             copy.deepcopy(node.extra))
            g.ui[node.node_id] = self._ui_entry(node)
        return g

    def dumps(self) -> str:
        return self.to_graph().dumps()

    def mark_saved(self) -> None:
        self.saved_text = self.dumps()

    def is_modified(self) -> bool:
        return self.saved_text is None or self.dumps() != self.saved_text

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        old_base = self.base_dir()
        graph = self.to_graph()
        new_base = path.resolve().parent
        if new_base != old_base:
            rebase_paths(graph, old_base, new_base)
            for node in self.nodes():
                node.params = copy.deepcopy(graph.nodes[node.node_id].params)
        graph.path = None
        graph.save(path)
        self.path = path
        for node in self.nodes():
            node.loaded_ui = graph.ui.get(node.node_id)
        self.mark_saved()
        return path

    # ------------------------------------------------------------ edits

    def edit_param(self, node: EngineNode, name: str, value) -> None:
        """A param widget changed: apply it as one undoable step."""
        had, old = name in node.params, node.params.get(name)

        def redo():
            node.apply_param(name, value)
            self._after_param_change(node)

        def undo():
            node.restore_param(name, had, old)
            self._after_param_change(node)

        self.view.push_undo(Delegate_Command(self.view, f"set {node.node_id}.{name}", undo, redo))

    def edit_params(self, node: EngineNode, values: dict, text: str) -> None:
        """Several params of one node changed together (a prompt drawn on the viewer): one undoable step."""
        before = {name: (name in node.params, node.params.get(name)) for name in values}

        def redo():
            for name, value in values.items():
                node.apply_param(name, copy.deepcopy(value))
            self._after_param_change(node)

        def undo():
            for name, (had, old) in before.items():
                node.restore_param(name, had, copy.deepcopy(old))
            self._after_param_change(node)

        self.view.push_undo(Delegate_Command(self.view, text, undo, redo))

    def _after_param_change(self, node: EngineNode) -> None:
        item = self.item(node)
        if item is not None and item.main_widget is not None:
            item.main_widget.refresh()
        self.params_edited.emit(node)

    def rename(self, node: EngineNode, new_id: str) -> str | None:
        """Give a node a new id; returns a problem or None. Connections follow by themselves."""
        if new_id == node.node_id:
            return None
        if not is_node_id(new_id):
            return f"'{new_id}' is not a node id: start with a letter, then letters, digits, '_' or '-'"
        if self.node(new_id) is not None:
            return f"there is already a node '{new_id}'"
        old = node.node_id

        def apply(value):
            node.node_id = value
            self._show_title(node)
            self.structure_changed.emit(None)

        self.view.push_undo(Delegate_Command(self.view, f"rename {old} to {new_id}",
                                             lambda: apply(old), lambda: apply(new_id)))
        return None

    def rename_interactive(self, node: EngineNode) -> None:
        text, ok = QInputDialog.getText(self.view, "Rename node", f"New id for '{node.node_id}':",
                                        text=node.node_id)
        if ok:
            problem = self.rename(node, text.strip())
            if problem:
                self.notice.emit(problem)

    def request_view(self, node: EngineNode) -> None:
        self.view_requested.emit(node)

    # ------------------------------------------------------------ connections

    def _types_match(self, out, inp) -> bool:
        t_out = out.node.output_types.get(self.output_name(out))
        t_in = inp.node.input_types.get(self.input_name(inp))
        return t_out is None or t_in is None or t_out == t_in

    def _connection_problem(self, out, inp) -> str | None:
        if out.io_pos != PortObjPos.OUTPUT or inp.io_pos != PortObjPos.INPUT:
            return "connect an output to an input"
        if out.node is inp.node:
            return "a node cannot feed itself"
        if not self._types_match(out, inp):
            t_out = out.node.output_types.get(self.output_name(out))
            t_in = inp.node.input_types.get(self.input_name(inp))
            return (f"{out.node.node_id}.{self.output_name(out)} gives {t_out} but "
                    f"{inp.node.node_id}.{self.input_name(inp)} takes {t_in}")
        dag = nx.DiGraph()
        dag.add_edges_from((a, b) for a, succ in self.flow.node_successors.items() for b in succ)
        if out.node in dag and inp.node in dag and nx.has_path(dag, inp.node, out.node):
            return "that connection would make a cycle"
        return None

    def _connection_valid(self, c) -> bool:
        out, inp = c
        problem = self._connection_problem(out, inp)
        if problem:
            self.notice.emit(f"cannot connect: {problem}")
        self.flow.connection_request_valid.emit(problem is None)
        return problem is None

    def _connection_request(self, c, *_):
        self._connection_valid(c)

    def _on_connection_changed(self, c) -> None:
        out, inp = c
        node = inp.node
        if isinstance(node, EngineNode):
            node.dangling_inputs.pop(self.input_name(inp), None)
            if not self._loading:
                self.structure_changed.emit(node)

    # ------------------------------------------------------------ clipboard

    def selection_json(self) -> str | None:
        chosen = [n for n in self.view.selected_nodes() if isinstance(n, EngineNode)]
        if not chosen:
            return None
        ids = {n.node_id for n in chosen}
        full = self.to_graph()
        part = Graph(registry=self.registry, base_dir=self.base_dir())
        for nid in [n.node_id for n in chosen]:
            spec = copy.deepcopy(full.nodes[nid])
            spec.inputs = {p: r for p, r in spec.inputs.items() if r.split(".", 1)[0] in ids}
            part.nodes[nid] = spec
            part.ui[nid] = full.ui[nid]
        return part.dumps()

    def copy_selection(self) -> None:
        text = self.selection_json()
        if text:
            QGuiApplication.clipboard().setText(text)

    def cut_selection(self) -> None:
        self.copy_selection()
        self.view.remove_selected_components__cmd()

    def paste(self, text: str | None = None) -> list[EngineNode]:
        """Add the nodes of graph JSON (from the clipboard) beside the originals, with fresh ids where taken."""
        text = QGuiApplication.clipboard().text() if text is None else text
        try:
            part = Graph.from_json(json.loads(text), registry=self.registry, base_dir=self.base_dir())
        except (ValueError, GraphError):
            self.notice.emit("the clipboard holds no inpainterz graph")
            return []
        taken = {n.node_id for n in self.nodes()}
        rename = {}
        for nid, spec in part.nodes.items():
            new = nid if nid not in taken else self.new_id(spec.type, taken)
            taken.add(new)
            rename[nid] = new
        moved = Graph(registry=self.registry, base_dir=self.base_dir())
        for nid, spec in part.nodes.items():
            spec = copy.deepcopy(spec)
            spec.inputs = {p: f"{rename[r.split('.', 1)[0]]}.{r.split('.', 1)[1]}" for p, r in spec.inputs.items()
                           if isinstance(r, str) and r.split(".", 1)[0] in rename}
            moved.nodes[rename[nid]] = spec
            ui = part.ui.get(nid)
            if isinstance(ui, dict) and isinstance(ui.get("x"), (int, float)):
                moved.ui[rename[nid]] = {"x": ui["x"] + 40, "y": ui.get("y", 0) + 40}
        before = set(self.flow.nodes)
        self._merge(moved)
        new_nodes = [n for n in self.nodes() if n not in before]
        self.view.clear_selection()
        for n in new_nodes:
            self.item(n).setSelected(True)
        return new_nodes

    def _merge(self, part: Graph) -> None:
        existing = {n.node_id: n for n in self.nodes()}
        self._loading = True
        created = {}
        try:
            for nid, spec in part.nodes.items():
                node = self._create(self._class_for(spec.type, list(spec.inputs), []))
                node.node_id, node.params, node.extra = nid, dict(spec.params), copy.deepcopy(spec.extra)
                created[nid] = node
                self._show_title(node)
                self.item(node).main_widget.refresh()
                ui = part.ui.get(nid)
                if ui:
                    self.item(node).setPos(QPointF(float(ui["x"]), float(ui["y"])))
            everything = {**existing, **created}
            for nid, spec in part.nodes.items():
                for port, ref in spec.inputs.items():
                    self._connect_ref(created[nid], port, ref, everything)
        finally:
            self._loading = False
        for node in created.values():
            self.structure_changed.emit(node)


def rebase_paths(graph: Graph, old_base: Path, new_base: Path) -> None:
    """Keep relative path params pointing at the same files when the graph file moves to another folder."""
    for spec in graph.nodes.values():
        nt = graph.registry.get(spec.type)
        if nt is None:
            continue
        for p in nt.params:
            value = spec.params.get(p.name)
            if p.type != "path" or not isinstance(value, str) or not value or Path(os.path.expanduser(value)).is_absolute():
                continue
            target = (old_base / value).resolve()
            try:
                spec.params[p.name] = Path(os.path.relpath(target, new_base)).as_posix()
            except ValueError:  # another drive
                spec.params[p.name] = str(target)
