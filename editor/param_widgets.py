"""One input widget per param type, built from the param's descriptor.

Each editor shows a value without emitting anything, and emits `edited`
only when the user changes it, with a value of the param's own type (an int
param gives an int, a float param a float), so an untouched param is never
rewritten and its cache key never moves.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Callable

from qtpy.QtCore import QEvent, QObject, Qt, Signal
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLineEdit, QSpinBox,
                            QToolButton, QWidget)

from ..engine.descriptor import Param

INT_LIMIT = 2 ** 31 - 1
FLOAT_LIMIT = 1e12
ERROR_STYLE = "border: 1px solid #e0524a;"


class _WheelGuard(QObject):
    """Scrolling over the graph moves the view; it must not turn the number under the cursor."""

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Wheel and not obj.hasFocus():
            event.ignore()
            return True
        return False


_wheel_guard = None


def _guard(widget: QWidget) -> None:
    global _wheel_guard
    if _wheel_guard is None:
        _wheel_guard = _WheelGuard()
    widget.setFocusPolicy(Qt.StrongFocus)
    widget.installEventFilter(_wheel_guard)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def float_decimals(*values) -> int:
    """Enough decimals to show each value exactly (2..6), so showing a value never rounds it."""
    best = 2
    for v in values:
        if isinstance(v, (int, float)) and math.isfinite(v):
            text = repr(float(v))
            if "e" not in text and "." in text:
                best = max(best, len(text.split(".")[1].rstrip("0")))
    return min(best, 6)


class ParamEditor(QWidget):
    """Base: `show_value(v)` displays silently; `edited(value)` fires on user edits."""

    edited = Signal(object)

    def __init__(self, param: Param):
        super().__init__()
        self.param = param
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.setToolTip(self._tooltip())

    def _tooltip(self) -> str:
        p = self.param
        bits = [f"<b>{p.name}</b> ({p.type})"]
        if p.doc:
            bits.append(p.doc)
        if p.min is not None or p.max is not None:
            lo = "" if p.min is None else f"{p.min:g}"
            hi = "" if p.max is None else f"{p.max:g}"
            bits.append(f"range {lo} .. {hi}")
        bits.append(f"default: {_json(p.default)}")
        return "<br>".join(bits)

    def show_value(self, value) -> None:
        raise NotImplementedError

    def show_problem(self, message: str | None) -> None:
        self.setStyleSheet(ERROR_STYLE if message else "")
        self.setToolTip(self._tooltip() + (f"<br><span style='color:#e0524a'>{message}</span>" if message else ""))


class IntEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.box = QSpinBox()
        self.box.setRange(int(param.min) if param.min is not None else -INT_LIMIT,
                          int(param.max) if param.max is not None else INT_LIMIT)
        self.box.setKeyboardTracking(False)
        self.box.setMinimumWidth(70)
        _guard(self.box)
        self.layout().addWidget(self.box)
        self.box.valueChanged.connect(lambda v: self.edited.emit(int(v)))

    def show_value(self, value) -> None:
        self.box.blockSignals(True)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.box.setValue(int(value))
        self.box.blockSignals(False)


class FloatEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.box = QDoubleSpinBox()
        self.box.setRange(float(param.min) if param.min is not None else -FLOAT_LIMIT,
                          float(param.max) if param.max is not None else FLOAT_LIMIT)
        self.box.setDecimals(float_decimals(param.default, param.min, param.max))
        if param.min is not None and param.max is not None and param.max > param.min:
            step = (param.max - param.min) / 100
            self.box.setSingleStep(float(f"{step:.1g}"))
        else:
            self.box.setSingleStep(0.1)
        self.box.setKeyboardTracking(False)
        self.box.setMinimumWidth(70)
        _guard(self.box)
        self.layout().addWidget(self.box)
        self.box.valueChanged.connect(lambda v: self.edited.emit(float(v)))

    def show_value(self, value) -> None:
        self.box.blockSignals(True)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.box.setDecimals(max(self.box.decimals(), float_decimals(value)))
            self.box.setValue(float(value))
        self.box.blockSignals(False)


class BoolEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.box = QCheckBox()
        self.layout().addWidget(self.box)
        self.box.toggled.connect(lambda v: self.edited.emit(bool(v)))

    def show_value(self, value) -> None:
        self.box.blockSignals(True)
        self.box.setChecked(bool(value))
        self.box.blockSignals(False)


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param):
        super().__init__(param)
        self.box = QComboBox()
        for c in param.choices:
            self.box.addItem(str(c))
        _guard(self.box)
        self.layout().addWidget(self.box)
        self.box.activated.connect(lambda i: self.edited.emit(self.param.choices[i]))

    def show_value(self, value) -> None:
        self.box.blockSignals(True)
        while self.box.count() > len(self.param.choices):
            self.box.removeItem(self.box.count() - 1)
        if value in self.param.choices:
            self.box.setCurrentIndex(self.param.choices.index(value))
        else:  # a value the file holds that is not a choice: show it, validation reports it
            self.box.addItem(str(value))
            self.box.setCurrentIndex(self.box.count() - 1)
        self.box.blockSignals(False)


class TextEditor(ParamEditor):
    """str params as typed; list params as JSON text."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.line = QLineEdit()
        self.line.setMinimumWidth(110)
        self.line.setMaximumWidth(180)
        if param.type == "list":
            self.line.setPlaceholderText("JSON list, e.g. [1, 2]")
        self.layout().addWidget(self.line)
        self.line.editingFinished.connect(self._finished)
        self._shown = None

    def _text_of(self, value) -> str:
        if self.param.type == "list" or not isinstance(value, str):
            return _json(value)
        return value

    def show_value(self, value) -> None:
        self._shown = self._text_of(value)
        self.line.blockSignals(True)
        self.line.setText(self._shown)
        self.line.setCursorPosition(0)
        self.line.blockSignals(False)

    def _finished(self) -> None:
        text = self.line.text()
        if text == self._shown:
            return
        if self.param.type == "list":
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                self.show_problem(f"not valid JSON: {exc.msg}")
                return
        else:
            value = text
        self._shown = text
        self.edited.emit(value)


class PathEditor(TextEditor):
    """A path: a line edit plus a button that opens a file or folder picker."""

    def __init__(self, param: Param, base_dir: Callable[[], Path]):
        super().__init__(param)
        self.base_dir = base_dir
        self.button = QToolButton()
        self.button.setText("…")
        self.button.setToolTip("choose a folder" if param.kind == "dir" else "choose a file")
        self.layout().addWidget(self.button)
        self.button.clicked.connect(self._pick)

    def _pick(self) -> None:
        base = self.base_dir()
        current = self.line.text()
        start = str((base / current).parent if current else base)
        if self.param.kind == "dir":
            chosen = QFileDialog.getExistingDirectory(None, f"{self.param.name}: choose a folder", start)
        elif self.param.io == "write":
            chosen = QFileDialog.getSaveFileName(None, f"{self.param.name}: choose where to write", start)[0]
        else:
            chosen = QFileDialog.getOpenFileName(None, f"{self.param.name}: choose a file", start)[0]
        if chosen:
            value = relative_if_inside(Path(chosen), base)
            self.show_value(value)
            self.edited.emit(value)


def relative_if_inside(path: Path, base: Path) -> str:
    """Paths under the graph's folder are stored relative to it, so the folder can move as a whole."""
    path, base = path.resolve(), base.resolve()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


class RawEditor(ParamEditor):
    """A value whose param is unknown (an unknown node type): shown as JSON, read only."""

    def __init__(self, param: Param):
        super().__init__(param)
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        self.layout().addWidget(self.line)

    def show_value(self, value) -> None:
        self.line.setText(_json(value))
        self.line.setCursorPosition(0)


def make_editor(param: Param, base_dir: Callable[[], Path]) -> ParamEditor:
    if param.type == "int":
        return IntEditor(param)
    if param.type == "float":
        return FloatEditor(param)
    if param.type == "bool":
        return BoolEditor(param)
    if param.type == "choice":
        return ChoiceEditor(param)
    if param.type == "path":
        return PathEditor(param, base_dir)
    return TextEditor(param)
