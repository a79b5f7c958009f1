"""The editor window: the flow, the node list, the viewer, the run log, and Run/Cancel."""
from __future__ import annotations

import html
import time
from pathlib import Path

import networkx as nx
from qtpy.QtCore import QRectF, Qt, QTimer
from qtpy.QtGui import QAction, QCursor, QKeySequence
from qtpy.QtWidgets import (QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QPlainTextEdit, QShortcut,
                            QToolBar)
import ryvencore_qt as rc

from ..engine.cache import Cache
from ..engine.config import RunConfig
from ..engine.errors import GraphError
from ..engine.graph import Graph
from .document import GraphDocument
from .nodes_from_registry import node_classes
from .node_body import NodeState
from .prompting import PromptController
from .results import ValueSource
from .runner import RunController
from .viewer import ViewerPanel

FLOW_THEME = "pure dark"
CONTROLS = """Add a node: drag it from the node list, press Tab (or Shift+P) in the graph, or right-click an empty spot.
Connect: drag from an output pin to an input pin of the same type. Drag onto a connected input to replace its source.
Select: click; drag a rubber band for several. Delete removes them. Ctrl+Z / Ctrl+Y undo and redo.
Move the view: drag with the right mouse button; Ctrl+wheel zooms. Home fits the graph in view; Ctrl+L lays it out.
Params: edit them on the node; hover a param for its doc, range and default.
Run: F5 runs the graph in the background; only nodes whose inputs or params changed run again. Shift+F5 cancels.
Viewer: select a node to see its output; pick the frame on the timeline (Left/Right step, Up/Down keyframes,
Space plays). Masks are drawn over their frames. Wheel zooms to the cursor; middle-drag or Space+drag pans.
Prompt on the viewer: C click the object (Shift-click or right-click: negative), B drag a box, D delete the
nearest prompt, X clear the frame, 1-9 or N pick the object. Prompts go to the selected PointPrompt/BoxPrompt,
else to the one feeding the viewed chain's SegmentSAM (added if there is none); SAM's mask shows at once.
Copy / paste (Ctrl+C / Ctrl+V) carry nodes as graph JSON. F2 renames the selected node.
Save (Ctrl+S) writes the graph file that `inpainterz run` runs unchanged."""
LOG_COLOURS = {"error": "#e0524a", "warning": "#f0b429", "note": "#3fb8c9", "info": "#c8d0d8", "ok": "#43c46b"}


class EditorWindow(QMainWindow):
    def __init__(self, registry, cache: Cache | None = None, ask_before_closing: bool = True,
                 ckpt_dir: str | Path | None = None):
        super().__init__()
        self.registry = registry
        # The run configuration of every run, validation and cache look-up the window makes.
        self.config = RunConfig(cache=cache or Cache(), ckpt_dirs=(ckpt_dir,) if ckpt_dir else ())
        self.cache = self.config.cache
        self.ask_before_closing = ask_before_closing
        self.session_gui = rc.SessionGUI(self)
        self.session_gui.design.set_flow_theme(name=FLOW_THEME)
        self.node_classes = node_classes(registry)
        self.session_gui.core_session.register_node_types(list(self.node_classes.values()))
        self.doc: GraphDocument | None = None
        self.states: dict[str, NodeState] = {}
        self.result = None
        self._edits = 0  # bumped by every edit, to tell whether the last run still matches the graph
        self._result_edits = -1
        self._run_started = 0.0
        self._run_doc: GraphDocument | None = None  # the document the current run belongs to
        self._unplaced: set | None = None  # nodes a file gave no position, placed once they are painted
        self.runner = RunController(self)
        self.runner.event.connect(self._on_event, Qt.QueuedConnection)
        self.runner.finished.connect(self._on_finished, Qt.QueuedConnection)
        self.runner.rejected.connect(self._on_rejected, Qt.QueuedConnection)
        self.runner.crashed.connect(self._on_crashed, Qt.QueuedConnection)

        self._build_docks()
        self._build_actions()
        self.prompting = PromptController(self)
        self.statusBar().showMessage("ready")
        self._tick = QTimer(self)
        self._tick.setInterval(250)
        self._tick.timeout.connect(self._tick_running)
        self.resize(1600, 900)
        self.new_graph()
        for problem in registry.problems:
            self.log(f"warning: {problem}", "warning")

    # ------------------------------------------------------------ building

    def _build_docks(self) -> None:
        self.node_list = rc.NodeListWidget(self.session_gui, True)
        dock = QDockWidget("Nodes", self)
        dock.setObjectName("nodes")
        dock.setWidget(self.node_list)
        self.addDockWidget(Qt.LeftDockWidgetArea, dock)
        self.nodes_dock = dock

        self.viewer = ViewerPanel()
        dock = QDockWidget("Viewer", self)
        dock.setObjectName("viewer")
        dock.setWidget(self.viewer)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.viewer_dock = dock

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_lines: list[str] = []
        dock = QDockWidget("Run log and problems", self)
        dock.setObjectName("log")
        dock.setWidget(self.log_view)
        self.addDockWidget(Qt.BottomDockWidgetArea, dock)
        self.log_dock = dock
        self.arrange_docks()

    def arrange_docks(self) -> None:
        """Give the flow most of the window: a narrow node list, a viewer, a short log."""
        self.resizeDocks([self.nodes_dock, self.viewer_dock], [200, 600], Qt.Horizontal)
        self.resizeDocks([self.log_dock], [120], Qt.Vertical)

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        act.setStatusTip(tip or text)
        act.setToolTip(f"{text} ({act.shortcut().toString()})" if shortcut else text)
        act.triggered.connect(slot)
        menu.addAction(act)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        self.act_new = self._action(m, "New", self.new_graph, QKeySequence.New)
        self.act_open = self._action(m, "Open…", self.open_dialog, QKeySequence.Open)
        self.act_save = self._action(m, "Save", self.save, QKeySequence.Save)
        self.act_save_as = self._action(m, "Save As…", self.save_as_dialog, QKeySequence.SaveAs)
        m.addSeparator()
        self._action(m, "Checkpoint folder…", self.ckpt_dir_dialog, None,
                     "the folder searched first for model checkpoints (like --ckpt-dir)")
        m.addSeparator()
        self._action(m, "Quit", self.close, QKeySequence.Quit)

        m = bar.addMenu("&Graph")
        self.act_run = self._action(m, "Run", self.run, ["F5", "Ctrl+R"], "run the graph; only what changed re-runs")
        self.act_cancel = self._action(m, "Cancel", self.cancel, ["Shift+F5", "Ctrl+."], "stop the run at the next chunk")
        self.act_cancel.setEnabled(False)
        self.act_validate = self._action(m, "Validate", self.validate, "F7", "check the graph without running it")
        m.addSeparator()
        self._action(m, "Add node…", self.show_node_search, "Shift+P", "search the node types and place one (Tab in the graph)")
        self._action(m, "Rename node…", self.rename_selected, "F2")
        self._action(m, "Copy nodes", lambda: self.doc.copy_selection(), None, "copy the selected nodes as graph JSON")
        self._action(m, "Paste nodes", lambda: self.doc.paste(), None)
        m.addSeparator()
        self._action(m, "Lay out", self.relayout, "Ctrl+L", "arrange the nodes left to right by depth")
        self._action(m, "Fit in view", self.fit_view, "Home")

        m = bar.addMenu("&View")
        for dock in (self.nodes_dock, self.viewer_dock, self.log_dock):
            m.addAction(dock.toggleViewAction())

        m = bar.addMenu("&Help")
        self._action(m, "Controls", self.show_controls, "F1")

        tb = QToolBar("Run")
        tb.setObjectName("run toolbar")
        tb.setMovable(False)
        for act in (self.act_open, self.act_save, None, self.act_run, self.act_cancel, self.act_validate):
            if act is None:
                tb.addSeparator()
            else:
                tb.addAction(act)
        self.run_label = QLabel("")
        self.run_label.setContentsMargins(12, 0, 0, 0)
        tb.addWidget(self.run_label)
        self.addToolBar(Qt.TopToolBarArea, tb)

    # ------------------------------------------------------------ documents

    def _set_document(self, doc: GraphDocument) -> None:
        if self.runner.is_running():  # its events name the old graph's nodes
            self.runner.cancel()
            self.runner.wait(10)
            self._run_ended()
        old = self.doc
        self.doc = doc
        self.setCentralWidget(doc.view)
        tab = QShortcut(QKeySequence("Tab"), doc.view, context=Qt.WidgetShortcut)
        tab.activated.connect(self._tab_in_view)
        doc.params_edited.connect(self._on_params_edited)
        doc.structure_changed.connect(self._on_structure_changed)
        doc.view_requested.connect(self._on_view_requested)
        doc.notice.connect(lambda text: self.statusBar().showMessage(text, 6000))
        doc.view.nodes_selection_changed.connect(self._on_selection)
        doc.view._undo_stack.indexChanged.connect(lambda _: self._update_title())
        if old is not None:
            self.session_gui.core_session.delete_flow(old.flow)
            for sc in old.view.findChildren(QShortcut):  # window-wide keys of a closed graph would clash
                sc.setEnabled(False)
        self.node_list.update_list(self.session_gui.core_session.nodes)
        self.node_list.make_pack_hier()
        self.node_list.pack_tree.expandAll()
        self.node_list.current_pack_label.setText("drag into the graph (or Tab there)")
        self.states = {}
        self.result = None
        self._edits += 1
        self.prompting.document_changed()
        self.viewer.show_node(None, [], None)
        self._update_title()

    def new_graph(self) -> None:
        if not self._may_discard():
            return
        doc = GraphDocument(self.session_gui, self.registry, self.node_classes)
        self._set_document(doc)
        doc.mark_saved()
        self._update_title()

    def open_graph(self, path: str | Path) -> GraphDocument:
        """Open a graph file; a path that does not exist yet starts a new graph saved there."""
        path = Path(path)
        if path.exists():
            graph = Graph.load(path, registry=self.registry)
        else:
            graph = Graph(registry=self.registry, base_dir=path.resolve().parent)
            graph.path = path
        doc = GraphDocument(self.session_gui, self.registry, self.node_classes, title=path.stem or "graph")
        self._set_document(doc)
        unplaced = doc.load(graph)
        self._unplaced = set(unplaced)
        if path.exists():
            doc.mark_saved()
        self.log(f"opened {path}" + ("" if path.exists() else " (new file)"), "info")
        self._show_validation(graph.validate(), quiet=True)
        self._update_title()
        self.prompting.graph_opened()
        QTimer.singleShot(0, self._settle_layout)
        return doc

    def _settle_layout(self) -> None:
        """Node sizes are known once the nodes are painted: lay out a graph without positions then,
        and spread one whose positions make the nodes overlap."""
        if self._unplaced is not None:
            was_saved = self.doc.saved_text is not None and not self.doc.is_modified()
            if len(self._unplaced) == len(self.doc.nodes()):
                self.doc.layout()
            else:
                if self._unplaced:
                    self.doc.layout(only=self._unplaced)
                self.doc.spread_overlaps()
            self._unplaced = None
            if was_saved:
                self.doc.mark_saved()  # placing the nodes of a file is not an edit
            self._update_title()
        self.fit_view()

    def open_dialog(self) -> None:
        if not self._may_discard():
            return
        start = str(self.doc.base_dir()) if self.doc else str(Path.cwd())
        name = QFileDialog.getOpenFileName(self, "Open graph", start, "Graphs (*.json);;All files (*)")[0]
        if name:
            try:
                self.open_graph(name)
            except GraphError as exc:
                self._show_lines(exc.lines(), "error")
                QMessageBox.warning(self, "Cannot open graph", "\n".join(exc.lines()))

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as_dialog()
        return self._save_to(self.doc.path)

    def save_as_dialog(self) -> bool:
        start = str(self.doc.path or (Path.cwd() / "graph.json"))
        name = QFileDialog.getSaveFileName(self, "Save graph", start, "Graphs (*.json)")[0]
        if not name:
            return False
        if not name.endswith(".json"):
            name += ".json"
        return self._save_to(Path(name))

    def _save_to(self, path: Path) -> bool:
        try:
            self.doc.save(path)
        except OSError as exc:
            self.log(f"error: cannot save {path}: {exc}", "error")
            QMessageBox.warning(self, "Cannot save", f"cannot save {path}: {exc}")
            return False
        self.log(f"saved {path}", "ok")
        self.statusBar().showMessage(f"saved {path}", 4000)
        self._update_title()
        return True

    def _may_discard(self) -> bool:
        if self.doc is None or not self.ask_before_closing or not self.doc.is_modified():
            return True
        answer = QMessageBox.question(self, "Unsaved changes", "Save the changes to this graph first?",
                                      QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def _update_title(self) -> None:
        if self.doc is None:
            return
        name = self.doc.path.name if self.doc.path else "untitled"
        self.setWindowTitle(f"{name}{' *' if self.doc.is_modified() else ''} — inpainterz")

    def closeEvent(self, event):
        if not self._may_discard():
            event.ignore()
            return
        if self.runner.is_running():
            self.runner.cancel()
            self.runner.wait(10)
        self.prompting.close()
        event.accept()

    # ------------------------------------------------------------ view helpers

    def fit_view(self) -> None:
        view = self.doc.view
        items = [self.doc.item(n) for n in self.doc.nodes()]
        if not items:
            return
        rect = QRectF(items[0].sceneBoundingRect())
        for it in items[1:]:
            rect = rect.united(it.sceneBoundingRect())
        rect = rect.adjusted(-40, -40, 40, 40)
        vw, vh = view.viewport().width(), view.viewport().height()
        scale = min(1.0, vw / max(rect.width(), 1), vh / max(rect.height(), 1))
        view.resetTransform()
        view.scale(scale, scale)
        view._current_scale = scale  # Ryven's zoom keeps its own record of the scale
        view._total_scale_div = 1 / scale
        view.centerOn(rect.center())

    def relayout(self) -> None:
        self.doc.layout()
        self.fit_view()
        self._update_title()

    def show_node_search(self) -> None:
        view = self.doc.view
        pos = view.mapFromGlobal(QCursor.pos())
        if not view.viewport().rect().contains(pos):
            pos = view.viewport().rect().center()
        view.show_place_node_widget(pos)

    def show_controls(self) -> None:
        QMessageBox.information(self, "Controls", CONTROLS)

    def _tab_in_view(self) -> None:
        if self.doc.view.scene().focusItem() is None:  # not while a param is being typed
            self.show_node_search()

    def rename_selected(self) -> None:
        nodes = self.doc.view.selected_nodes()
        if len(nodes) == 1:
            self.doc.rename_interactive(nodes[0])

    # ------------------------------------------------------------ log

    def log(self, text: str, kind: str = "info") -> None:
        """One line in the log, coloured by kind (error, warning, note, info, ok)."""
        self.log_lines.append(text)
        colour = LOG_COLOURS.get(kind, LOG_COLOURS["info"])
        self.log_view.appendHtml(f"<span style='color:{colour}'>{html.escape(text)}</span>")
        self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())

    def _show_lines(self, lines: list[str], kind: str) -> None:
        for line in lines:
            self.log(line, kind)
        self.log_dock.show()
        self.log_dock.raise_()

    def _show_validation(self, problems, quiet: bool = False) -> bool:
        """Mark params with problems and list every problem, one line each. True when there are none."""
        for node in self.doc.nodes():
            body = self.doc.item(node).main_widget
            if body is not None:
                body.refresh()
        for p in problems:
            node = self.doc.node(p.node) if p.node else None
            if node is not None and p.where and p.where.startswith("param '"):
                self.doc.item(node).main_widget.show_problem(p.where[7:-1], p.message)
        if problems:
            self._show_lines([str(p) for p in problems], "warning" if quiet else "error")
            self.statusBar().showMessage(f"{len(problems)} problem(s) in the graph: see the log", 8000)
        return not problems

    def set_ckpt_dir(self, folder: str | Path | None) -> None:
        """Search `folder` first for checkpoints in the runs and checks this window makes."""
        self.config = self.config.with_(ckpt_dirs=(folder,) if folder else ())
        where = ", ".join(str(d) for d in self.config.checkpoint_dirs())
        self.log(f"checkpoint folders searched: {where}", "info")

    def ckpt_dir_dialog(self) -> None:
        start = str(self.config.ckpt_dirs[0]) if self.config.ckpt_dirs else str(Path.cwd())
        folder = QFileDialog.getExistingDirectory(self, "Checkpoint folder", start)
        if folder:
            self.set_ckpt_dir(folder)

    def validate(self) -> bool:
        problems = self.doc.to_graph().validate(config=self.config)
        ok = self._show_validation(problems)
        if ok:
            self.log("the graph is valid", "ok")
            self.statusBar().showMessage("the graph is valid", 4000)
        return ok

    # ------------------------------------------------------------ run states

    def set_state(self, node_id: str, state: NodeState) -> None:
        self.states[node_id] = state
        node = self.doc.node(node_id)
        if node is not None and self.doc.item(node) is not None:
            self.doc.item(node).main_widget.show_state(state)

    def state(self, node_id: str) -> str:
        return self.states.get(node_id, NodeState()).kind

    def _mark_changed(self, node) -> None:
        """An edited node and everything downstream of it will run again: say so on each."""
        self._edits += 1
        self._update_title()
        if node is None:
            return
        dag = self.doc.to_graph().dag()
        if node.node_id not in dag:
            return
        for nid in {node.node_id} | nx.descendants(dag, node.node_id):
            if self.state(nid) in ("done", "cached", "failed", "skipped"):
                self.set_state(nid, NodeState("changed"))
        self._refresh_viewer()

    def _on_params_edited(self, node) -> None:
        self._mark_changed(node)

    def _on_structure_changed(self, node) -> None:
        self._mark_changed(node)

    # ------------------------------------------------------------ running

    def run(self, targets: list | None = None, frames: tuple | None = None) -> bool:
        """Validate and start a run (of what `targets` need) in the background. False when it did not start."""
        if self.runner.is_running():
            return False
        graph = self.doc.to_graph()
        if not graph.nodes:
            self.statusBar().showMessage("nothing to run: add nodes first", 4000)
            return False
        if not self._show_validation(graph.validate(config=self.config)):
            return False
        for node in self.doc.nodes():
            self.set_state(node.node_id, NodeState())
        self.result = None  # until this run ends, the viewer reads what the cache holds
        self._result_edits = self._edits
        self._run_doc = self.doc
        self._run_started = time.monotonic()
        self.log(f"run started ({len(graph.nodes)} nodes)" if not targets else f"run started for {', '.join(targets)}",
                 "info")
        self.runner.start(graph, self.config, targets=targets, frames=frames)
        self.act_run.setEnabled(False)
        self.act_cancel.setEnabled(True)
        self.run_label.setText("running…")
        self._tick.start()
        return True

    def cancel(self) -> None:
        if self.runner.is_running():
            self.runner.cancel()
            self.run_label.setText("cancelling…")
            self.log("cancelling: the running nodes stop at their next chunk", "warning")

    def _stale(self) -> bool:
        """True for signals of a run whose graph has since been closed."""
        return self._run_doc is not self.doc

    def _on_event(self, ev) -> None:
        if self._stale():
            return
        self.prompting.on_event(ev)
        old = self.states.get(ev.node, NodeState())
        if ev.kind == "queued":
            self.set_state(ev.node, NodeState("queued"))
        elif ev.kind == "running":
            started = old.started if old.kind == "running" else time.monotonic()
            self.set_state(ev.node, NodeState("running", ev.fraction or 0.0, None, ev.message or old.message,
                                              started, old.notes))
        elif ev.kind == "done":
            self.set_state(ev.node, NodeState("done", 1.0, ev.seconds, "", None, old.notes))
            if ev.node == self.viewer.node_id:
                self._refresh_viewer()
        elif ev.kind == "cached":
            self.set_state(ev.node, NodeState("cached", 1.0, None, "", None, old.notes))
            if ev.node == self.viewer.node_id:
                self._refresh_viewer()
        elif ev.kind == "failed":
            self.set_state(ev.node, NodeState("failed", 0.0, None, ev.message or "", None, old.notes))
            self.log(f"error: {ev.message}", "error")
        elif ev.kind == "skipped":
            self.set_state(ev.node, NodeState("skipped", 0.0, None, ev.message or "", None, old.notes))
        elif ev.kind == "note":
            self.set_state(ev.node, NodeState(old.kind, old.fraction, old.seconds, old.message, old.started,
                                              old.notes + (ev.message,)))
            self.log(f"[{ev.node}] note: {ev.message}", "note")

    def _tick_running(self) -> None:
        for nid, st in list(self.states.items()):
            if st.kind == "running":
                self.set_state(nid, st)
        self.run_label.setText(f"running…  {time.monotonic() - self._run_started:.1f} s")

    def _run_ended(self) -> None:
        self._tick.stop()
        self.act_run.setEnabled(True)
        self.act_cancel.setEnabled(False)

    def _on_finished(self, result) -> None:
        self._run_ended()
        if self._stale():
            return
        self.result = result
        for nid, rep in result.nodes.items():  # the report is the final word on every node
            kind = {"ran": "done", "cached": "cached", "failed": "failed", "skipped": "skipped"}.get(rep.status)
            if kind and self.state(nid) not in (kind, "changed"):  # "changed": edited while it ran
                self.set_state(nid, NodeState(kind, 1.0, rep.seconds if kind == "done" else None,
                                              rep.error or "", None, tuple(rep.notes)))
        counts: dict[str, int] = {}
        for rep in result.nodes.values():
            counts[rep.status] = counts.get(rep.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        line = f"{len(result.nodes)} nodes: {summary} in {result.seconds:.2f} s"
        if result.cancelled:
            line = "cancelled: finished nodes are cached; run again to continue. " + line
        kind = "ok" if result.ok else ("warning" if result.cancelled else "error")
        self.log(line, kind)
        self.run_label.setText(line)
        self.statusBar().showMessage(line, 10000)
        self.prompting.run_finished()
        self._refresh_viewer()

    def _on_rejected(self, lines: list) -> None:
        self._run_ended()
        if self._stale():
            return
        self.run_label.setText("not run: fix the problems in the log")
        self._show_lines(lines, "error")
        for node in self.doc.nodes():
            if self.state(node.node_id) == "queued":
                self.set_state(node.node_id, NodeState())

    def _on_crashed(self, text: str) -> None:
        self._run_ended()
        self.run_label.setText("the run stopped on an internal error: see the log")
        self._show_lines(text.rstrip().splitlines(), "error")

    def wait_for_run(self, timeout: float = 60.0) -> bool:
        """Process events until the current run has ended and its signals are handled (for scripts and tests)."""
        from qtpy.QtWidgets import QApplication

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            QApplication.processEvents()
            if not self.runner.is_running() and self.act_run.isEnabled():
                QApplication.processEvents()
                return True
            time.sleep(0.01)
        return False

    # ------------------------------------------------------------ viewer

    def _on_selection(self, nodes) -> None:
        if len(nodes) == 1:
            self._view_node(nodes[0])

    def _on_view_requested(self, node) -> None:
        self.viewer_dock.show()
        self.viewer_dock.raise_()
        self._view_node(node)

    def value_source(self) -> ValueSource:
        current = self.result if self._result_edits == self._edits else None
        return ValueSource(self.doc.to_graph(), self.cache, current, config=self.config)

    def _view_node(self, node) -> None:
        outputs = [(name, node.output_types.get(name, "?")) for name in node.output_names]
        self.viewer.show_node(node.node_id, outputs, self.value_source())

    def _refresh_viewer(self) -> None:
        if self.viewer.node_id is None:
            return
        node = self.doc.node(self.viewer.node_id)
        if node is None:
            self.viewer.show_node(None, [], None)
        else:
            self._view_node(node)
