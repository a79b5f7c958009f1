"""What a node shows inside the flow: its type, one widget per param, and its run state."""
from __future__ import annotations

import html
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget
from ryvencore_qt import NodeGUI, NodeMainWidget

from ..engine.descriptor import Param
from .param_widgets import RawEditor, make_editor

STATE_COLOURS = {
    "queued": "#8a96a3",
    "running": "#f0b429",
    "done": "#43c46b",
    "cached": "#3fb8c9",
    "failed": "#e0524a",
    "skipped": "#8a96a3",
    "changed": "#c0a060",
}


@dataclass
class NodeState:
    """The last run's word on one node."""

    kind: str = "idle"  # idle | queued | running | done | cached | failed | skipped | changed
    fraction: float = 0.0
    seconds: float | None = None
    message: str = ""
    started: float | None = None  # time.monotonic() when it started running
    notes: tuple = ()

    def text(self) -> str:
        if self.kind == "running":
            elapsed = time.monotonic() - self.started if self.started else 0.0
            return f"running {self.fraction * 100:.0f}%  {elapsed:.1f} s"
        if self.kind == "done":
            return f"done in {self.seconds:.2f} s" if self.seconds is not None else "done"
        if self.kind == "cached":
            return "cached"
        if self.kind == "failed":
            # The node's own id and type are on the node already; show the reason.
            first = self.message.splitlines()[0] if self.message else ""
            return "failed: " + re.sub(r"^node '[^']*' \([^)]*\) failed: ", "", first)
        if self.kind == "skipped":
            return "skipped" + (f": {self.message}" if self.message else "")
        if self.kind == "changed":
            return "changed: runs next time"
        if self.kind == "queued":
            return "queued"
        return ""


class EngineNodeGUI(NodeGUI):
    main_widget_class = None  # set below, once NodeBody exists
    main_widget_pos = "below ports"
    style = "normal"

    def _init_default_actions(self):
        return {
            "rename…": {"method": self.rename},
            "show output": {"method": self.show_output},
            "hide unconnected ports": {"method": self.hide_unconnected_ports},
        }

    def rename(self):
        if self.node.document is not None:
            self.node.document.rename_interactive(self.node)

    def show_output(self):
        if self.node.document is not None:
            self.node.document.request_view(self.node)


class NodeBody(NodeMainWidget, QWidget):
    """The node's body: a small form of param widgets above a state line."""

    def __init__(self, params):
        NodeMainWidget.__init__(self, params)
        QWidget.__init__(self)
        self.setAttribute(Qt.WA_TranslucentBackground)
        self.setObjectName("inpainterzNodeBody")
        self.setStyleSheet("QWidget#inpainterzNodeBody { background: transparent; }"
                           "QLabel { background: transparent; }")
        node = self.node
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 0, 4, 2)
        lay.setSpacing(3)

        self.type_label = QLabel()
        self.type_label.setStyleSheet("color: #8a96a3; font-size: 8pt;")
        lay.addWidget(self.type_label)

        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setHorizontalSpacing(6)
        self.form.setVerticalSpacing(2)
        self.form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
        lay.addLayout(self.form)
        self.editors: dict = {}
        if node.descriptor is not None:
            for p in node.descriptor.params:
                self._add_row(p, make_editor(p, self._base_dir))

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.state_label = QLabel()
        self.state_label.setMaximumWidth(280)
        self.state_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(70, 8)
        self.bar.hide()
        row.addWidget(self.state_label, 1)
        row.addWidget(self.bar)
        lay.addLayout(row)
        self.state = NodeState()
        self._shown_kind = None
        self.refresh()
        self.show_state(self.state)

    def _add_row(self, p: Param, editor) -> None:
        label = QLabel(p.name)
        label.setToolTip(editor.toolTip())
        self.form.addRow(label, editor)
        self.editors[p.name] = editor
        editor.edited.connect(lambda value, name=p.name: self._edited(name, value))

    def _base_dir(self) -> Path:
        doc = self.node.document
        return doc.base_dir() if doc is not None else Path.cwd()

    def _edited(self, name: str, value) -> None:
        if self.node.document is not None:
            self.node.document.edit_param(self.node, name, value)
        else:
            self.node.apply_param(name, value)

    def refresh(self) -> None:
        """Show the node's current params (after loading, undo or redo)."""
        node = self.node
        self.type_label.setText(f"{node.type_id}  ·  {node.category}" if node.descriptor else
                                f"{node.type_id}  ·  unknown type")
        if node.descriptor is None:  # rows for whatever the file wrote
            for name in node.params:
                if name not in self.editors:
                    self._add_row(Param(name, "str", None), RawEditor(Param(name, "str", None)))
        for name, editor in self.editors.items():
            editor.show_value(node.param_value(name))
            editor.show_problem(None)

    def show_problem(self, name: str, message: str | None) -> None:
        if name in self.editors:
            self.editors[name].show_problem(message)

    def show_state(self, state: NodeState) -> None:
        self.state = state
        colour = STATE_COLOURS.get(state.kind, "#8a96a3")
        text = state.text()
        # Wrapped by hand: a word-wrapping label inside the flow does not grow its node.
        lines = textwrap.wrap(text, 44, max_lines=4, placeholder=" …") if text else []
        shown = "<br>".join(html.escape(line) for line in lines)
        self.state_label.setText(f"<span style='color:{colour}'>{shown}</span>" if text else "")
        tip = state.message or ""
        if state.notes:
            tip += ("\n" if tip else "") + "\n".join(f"note: {n}" for n in state.notes)
        self.state_label.setToolTip(tip)
        running = state.kind == "running"
        self.bar.setVisible(running)
        if running:
            self.bar.setValue(int(state.fraction * 1000))
        item = self.node_item
        item.color = QColor(STATE_COLOURS[state.kind]) if state.kind in STATE_COLOURS and state.kind != "changed" \
            else QColor(self.node_gui.color)
        shape = (state.kind, text if state.kind in ("failed", "skipped") else "")
        if shape != self._shown_kind and getattr(item, "widget", None) is not None:
            self._shown_kind = shape  # the label's size may change: the node is re-laid out
            self.adjustSize()  # Ryven sizes the node to the widget's current size, not its hint
            self.update_node_shape()
        item.update()


EngineNodeGUI.main_widget_class = NodeBody
