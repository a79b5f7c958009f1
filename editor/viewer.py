"""The viewer: the selected node's output at a chosen frame, and the place to prompt.

Frames show as images; masks and keymasks are tinted over the nearest
upstream frames (or shown alone) in object colours; boxes and points are
drawn. On top, the prompts of the chain being viewed and SAM's instant mask
for them. The canvas zooms to the cursor (wheel) and pans (middle button,
or Space + drag); whatever the view, a click is read in clip pixels at full
resolution (`prompt_tools.view_to_clip`).

Tools (keys while the viewer has focus): C click (Shift-click or right-click
for a negative point), B box (drag), D delete the prompt nearest the cursor,
X clear this frame's prompts, N new object, 1-9 pick an object, F fit,
Left/Right step, Up/Down previous/next keyframe, Space play/pause.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qtpy.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from qtpy.QtGui import QColor, QIcon, QImage, QKeySequence, QPainter, QPen, QPixmap
from qtpy.QtWidgets import (QActionGroup, QApplication, QCheckBox, QComboBox, QGraphicsView, QHBoxLayout,
                            QLabel, QLineEdit, QShortcut, QSizePolicy, QSlider, QToolBar, QVBoxLayout, QWidget)

from ..engine.palette import colour_of
from . import overlay
from .prompt_tools import view_to_clip
from .results import picture
from .timeline import Timeline

TOOLS = {"click": ("Click", "C", "click the object (Shift-click or right-click: a negative point)"),
         "box": ("Box", "B", "drag a box around the object"),
         "delete": ("Delete", "D", "remove the prompt nearest the cursor")}
NEW_OBJECT = 0  # the object picker's "new object" entry


def qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format_RGB888).copy()


@dataclass
class PromptLayer:
    """What the prompt tools draw over a frame: the chain's prompts and SAM's instant mask."""

    points: list = field(default_factory=list)  # [x, y, positive, object id]
    boxes: list = field(default_factory=list)  # [x0, y0, x1, y1, object id]
    labels: np.ndarray | None = None  # the instant mask, a label map of the frame
    backdrop: np.ndarray | None = None  # the frame itself, when the viewed node has nothing to show
    count: int = 0  # frames in the chain's clip
    keyframes: set = field(default_factory=set)
    objects: set = field(default_factory=set)  # object ids the chain's prompts name


class FrameCanvas(QWidget):
    """An image with zoom to cursor, pan, and the prompt tools' mouse gestures."""

    point = Signal(float, float, bool)  # clip x, clip y, positive
    box = Signal(float, float, float, float)  # clip x0, y0, x1, y1
    delete_at = Signal(float, float)

    def __init__(self):
        super().__init__()
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.image: QImage | None = None
        self.clip_size: tuple[int, int] = (0, 0)  # (width, height) of the clip in full-resolution pixels
        self.text = ""
        self.scale = 1.0
        self.offset = QPointF(0, 0)
        self.fitted = True
        self.tool = "click"
        self.space_down = False
        self._pan_from: tuple[QPointF, QPointF] | None = None
        self._box_from: QPointF | None = None
        self._box_to: QPointF | None = None
        # Prompts are drawn on the widget, not into the image: they stay crisp and the same size at any zoom.
        self.points: list = []  # [x, y, positive, object id] in clip pixels
        self.boxes: list = []  # [x0, y0, x1, y1, object id] in clip pixels

    # ---------------------------------------------------------------- view

    def set_image(self, image: QImage | None, text: str = "", clip_size: tuple[int, int] | None = None) -> None:
        old = (self.image.width(), self.image.height()) if self.image is not None else None
        self.image, self.text = image, text
        if image is not None:
            self.clip_size = clip_size or (image.width(), image.height())
            if self.fitted or old != (image.width(), image.height()):
                self.fit()
        self.update()

    def fit(self) -> None:
        self.fitted = True
        if self.image is None or self.image.width() == 0:
            return
        w, h = self.width(), self.height()
        self.scale = min(w / self.image.width(), h / self.image.height())
        self.offset = QPointF((w - self.image.width() * self.scale) / 2, (h - self.image.height() * self.scale) / 2)
        self.update()

    def zoom_at(self, pos: QPointF, factor: float) -> None:
        """Zoom by `factor` keeping the image point under `pos` where it is."""
        new = min(64.0, max(0.05, self.scale * factor))
        factor = new / self.scale
        self.offset = QPointF(pos.x() - (pos.x() - self.offset.x()) * factor,
                              pos.y() - (pos.y() - self.offset.y()) * factor)
        self.scale = new
        self.fitted = False
        self.update()

    def to_clip(self, pos: QPointF) -> tuple[float, float]:
        shown = (self.image.width(), self.image.height()) if self.image is not None else (1, 1)
        return view_to_clip(pos.x(), pos.y(), (self.offset.x(), self.offset.y()), self.scale, shown,
                            self.clip_size)

    def from_clip(self, x: float, y: float) -> QPointF:
        """Where a clip position lies in the widget (the inverse of to_clip)."""
        shown = (self.image.width(), self.image.height()) if self.image is not None else (1, 1)
        sx, sy = shown[0] / max(self.clip_size[0], 1), shown[1] / max(self.clip_size[1], 1)
        return QPointF(self.offset.x() + x * sx * self.scale, self.offset.y() + y * sy * self.scale)

    def _inside(self, x: float, y: float) -> bool:
        return 0 <= x < self.clip_size[0] and 0 <= y < self.clip_size[1]

    # ---------------------------------------------------------------- events

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.fitted:
            self.fit()

    def enterEvent(self, event):
        # The tools' keys follow the mouse: pointing at the frame is enough to press B, X or an arrow.
        # Not while something is being typed: a field holding text, or a param on a node in the graph.
        # (An empty search field has the focus when the editor opens; that is no reason to keep it.)
        focused = QApplication.focusWidget()
        typing = (isinstance(focused, QLineEdit) and bool(focused.text())) or (
            isinstance(focused, QGraphicsView) and focused.scene() is not None
            and focused.scene().focusItem() is not None)
        if not typing:
            self.setFocus(Qt.MouseFocusReason)
        super().enterEvent(event)

    def wheelEvent(self, event):
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_at(event.position(), 1.25 ** steps)

    def _panning(self, event) -> bool:
        return event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self.space_down)

    def mousePressEvent(self, event):
        self.setFocus()
        pos = event.position()
        if self._panning(event):
            self._pan_from = (pos, QPointF(self.offset))
            self.setCursor(Qt.ClosedHandCursor)
            return
        if self.image is None:
            return
        x, y = self.to_clip(pos)
        if self.tool == "box" and event.button() == Qt.LeftButton:
            self._box_from = self._box_to = pos
        elif not self._inside(x, y):
            return
        elif self.tool == "click" and event.button() in (Qt.LeftButton, Qt.RightButton):
            negative = event.button() == Qt.RightButton or bool(event.modifiers() & Qt.ShiftModifier)
            self.point.emit(x, y, not negative)
        elif self.tool == "delete" and event.button() == Qt.LeftButton:
            self.delete_at.emit(x, y)

    def mouseMoveEvent(self, event):
        pos = event.position()
        if self._pan_from is not None:
            start, offset = self._pan_from
            self.offset = QPointF(offset.x() + pos.x() - start.x(), offset.y() + pos.y() - start.y())
            self.fitted = False
            self.update()
        elif self._box_from is not None:
            self._box_to = pos
            self.update()

    def mouseReleaseEvent(self, event):
        if self._pan_from is not None:
            self._pan_from = None
            self.unsetCursor()
            return
        if self._box_from is not None:
            a, b = self.to_clip(self._box_from), self.to_clip(event.position())
            self._box_from = self._box_to = None
            self.update()
            w, h = self.clip_size
            x0, x1 = sorted((min(max(a[0], 0), w), min(max(b[0], 0), w)))
            y0, y1 = sorted((min(max(a[1], 0), h), min(max(b[1], 0), h)))
            if x1 - x0 >= 2 and y1 - y0 >= 2:  # a slip of the hand is not a box
                self.box.emit(x0, y0, x1, y1)

    def keyPressEvent(self, event):
        if event.key() == Qt.Key_Space and not event.isAutoRepeat() and self._box_from is None:
            self.space_down = True
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self.space_down = False
        super().keyReleaseEvent(event)

    def paintEvent(self, event):
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#101418"))
        if self.image is None:
            p.setPen(QColor("#8a96a3"))
            p.drawText(self.rect(), Qt.AlignCenter | Qt.TextWordWrap, self.text)
            return
        # Enlarged pixels stay sharp so a mask's edge can be judged; shrinking is smoothed.
        p.setRenderHint(QPainter.SmoothPixmapTransform, self.scale < 1.0)
        target = QRectF(self.offset.x(), self.offset.y(), self.image.width() * self.scale,
                        self.image.height() * self.scale)
        p.drawImage(target, self.image)
        self._paint_prompts(p)
        if self._box_from is not None and self._box_to is not None:
            p.setPen(QPen(QColor("#ffffff"), 1, Qt.DashLine))
            p.drawRect(QRectF(self._box_from, self._box_to).normalized())


    def _paint_prompts(self, p: QPainter) -> None:
        p.setRenderHint(QPainter.Antialiasing, True)
        for x0, y0, x1, y1, oid in self.boxes:
            colour = QColor(*colour_of(oid))
            p.setPen(QPen(QColor(0, 0, 0), 4))
            p.setBrush(Qt.NoBrush)
            rect = QRectF(self.from_clip(x0, y0), self.from_clip(x1, y1))
            p.drawRect(rect)
            p.setPen(QPen(colour, 2))
            p.drawRect(rect)
            p.drawText(rect.topLeft() + QPointF(4, -4), f"#{oid}")
        r = 7.0
        for x, y, positive, oid in self.points:
            # A disc in the object's colour, ringed black and white to stand out on any frame or mask;
            # "+" marks the object, "−" what is not.
            c = self.from_clip(x + 0.5, y + 0.5)  # the clicked pixel's centre
            p.setPen(QPen(QColor(0, 0, 0), 4))
            p.setBrush(QColor(*colour_of(oid)))
            p.drawEllipse(c, r, r)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawEllipse(c, r, r)
            p.drawLine(c + QPointF(-r * 0.55, 0), c + QPointF(r * 0.55, 0))
            if positive:
                p.drawLine(c + QPointF(0, -r * 0.55), c + QPointF(0, r * 0.55))
        p.setBrush(Qt.NoBrush)


class ViewerPanel(QWidget):
    """The viewer dock: tools, canvas, objects, timeline."""

    prompt_point = Signal(int, float, float, bool)  # frame, clip x, clip y, positive
    prompt_box = Signal(int, float, float, float, float)
    prompt_delete = Signal(int, float, float)
    prompt_clear = Signal(int)
    frame_changed = Signal(int)
    preview_requested = Signal(int)  # frame: render the removal there

    def __init__(self):
        super().__init__()
        self.node_id: str | None = None
        self.outputs: list[tuple[str, str]] = []
        self.source = None
        self.keyframes: list[int] = []
        self.last_picture = None
        self.layer_source = None  # callable(frame) -> PromptLayer | None, set by the prompt controller
        self.rendered_source = None  # callable(node id, count) -> set of rendered frames
        self.live_source = None  # callable(node id) -> the frames a running node has finished, or None
        self.hidden: set[int] = set()
        self._object_names: dict[int, str] = {}
        self._picked: set[int] = set()
        self._seen: set[int] = set()  # object ids met on any frame of the viewed node

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.title = QLabel("select a node to see its output")
        self.title.setStyleSheet("font-weight: bold;")
        self.output_box = QComboBox()
        self.output_box.activated.connect(lambda _: self.refresh())
        self.on_frames = QCheckBox("over frames")
        self.on_frames.setChecked(True)
        self.on_frames.setToolTip("draw masks, boxes and points over the nearest upstream frames")
        self.on_frames.toggled.connect(lambda _: self.refresh())
        top.addWidget(self.title, 1)
        top.addWidget(self.output_box)
        top.addWidget(self.on_frames)
        lay.addLayout(top)

        self.tools = QToolBar("viewer tools")
        self.tool_group = QActionGroup(self)
        self.tool_actions = {}
        for name, (text, key, tip) in TOOLS.items():
            act = self.tools.addAction(text)
            act.setCheckable(True)
            act.setToolTip(f"{tip} ({key})")
            act.triggered.connect(lambda _=False, n=name: self.set_tool(n))
            self.tool_group.addAction(act)
            self.tool_actions[name] = act
        self.tool_actions["click"].setChecked(True)
        self.act_clear = self.tools.addAction("Clear frame")
        self.act_clear.setToolTip("remove this frame's prompts (X)")
        self.act_clear.triggered.connect(lambda: self.prompt_clear.emit(self.frame))
        self.tools.addSeparator()
        self.act_preview = self.tools.addAction("Preview removal")
        self.act_preview.setToolTip("render the removal for the frame on screen and show it (P)")
        self.act_preview.triggered.connect(lambda: self.preview_requested.emit(self.frame))
        self.act_before = self.tools.addAction("Before")
        self.act_before.setCheckable(True)
        self.act_before.setToolTip("show a clip's input frames instead of its result: before / after (V)")
        self.act_before.toggled.connect(lambda _: self.refresh())
        lay.addWidget(self.tools)

        objects_row = QHBoxLayout()
        objects_row.addWidget(QLabel("object"))
        self.object_box = QComboBox()
        self.object_box.setToolTip("the object new prompts belong to (1-9 pick, N new object)")
        self.object_box.setMinimumContentsLength(10)
        objects_row.addWidget(self.object_box)
        self.objects = QWidget()  # one tick box per object: untick to hide its mask and prompts
        self.objects_layout = QHBoxLayout(self.objects)
        self.objects_layout.setContentsMargins(6, 0, 6, 0)
        self.object_checks: dict[int, QCheckBox] = {}
        self.objects_layout.addStretch(1)
        objects_row.addWidget(self.objects, 1)
        objects_row.addWidget(QLabel("opacity"))
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setMaximumWidth(90)
        self.opacity.setToolTip("overlay opacity of masks")
        self.opacity.valueChanged.connect(lambda _: self.refresh())
        objects_row.addWidget(self.opacity)
        lay.addLayout(objects_row)

        self.canvas = FrameCanvas()
        self.canvas.point.connect(lambda x, y, pos: self.prompt_point.emit(self.frame, x, y, pos))
        self.canvas.box.connect(lambda x0, y0, x1, y1: self.prompt_box.emit(self.frame, x0, y0, x1, y1))
        self.canvas.delete_at.connect(lambda x, y: self.prompt_delete.emit(self.frame, x, y))
        lay.addWidget(self.canvas, 1)

        self.timeline = Timeline()
        self.timeline.frame_changed.connect(self._frame_moved)
        lay.addWidget(self.timeline)
        # kept for scripts: the slider the timeline holds
        self.slider, self.spin = self.timeline.slider, self.timeline.spin

        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #8a96a3;")
        lay.addWidget(self.caption)
        self.status = QLabel("")
        self.status.setWordWrap(True)  # a long message must not widen the dock
        self.status.setStyleSheet("color: #3fb8c9;")
        lay.addWidget(self.status)

        self._keys()
        # Reading a frame may decode video: coalesce slider drags into one read.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(25)
        self._timer.timeout.connect(self.refresh)
        self.set_objects({})

    def _keys(self) -> None:
        def key(seq, slot):
            sc = QShortcut(QKeySequence(seq), self, context=Qt.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            return sc

        for name, (_, k, _) in TOOLS.items():
            key(k, lambda n=name: self.set_tool(n))
        key("X", lambda: self.prompt_clear.emit(self.frame))
        key("P", lambda: self.preview_requested.emit(self.frame))
        key("V", self.act_before.toggle)
        key("N", lambda: self.pick_object(NEW_OBJECT))
        for n in range(1, 10):
            key(str(n), lambda n=n: self.pick_object(n))
        key("F", self.canvas.fit)
        key("Left", lambda: self.timeline.step(-1))
        key("Right", lambda: self.timeline.step(+1))
        key("Up", lambda: self.timeline.jump_key(-1))
        key("Down", lambda: self.timeline.jump_key(+1))
        key("Space", self.timeline.toggle_play)

    # ---------------------------------------------------------------- tools and objects

    def set_tool(self, name: str) -> None:
        self.canvas.tool = name
        self.tool_actions[name].setChecked(True)

    def set_objects(self, names: dict[int, str]) -> None:
        """Offer these objects {id: name} in the picker and the visibility list, plus "new object"."""
        keep = self.object_id()
        names = {**{oid: "" for oid in self._picked}, **names}  # ids picked by number stay on offer
        if names == self._object_names and self.object_box.count():
            return
        self._object_names = dict(names)
        self.object_box.blockSignals(True)
        self.object_box.clear()
        for oid in sorted(names):
            self.object_box.addItem(_swatch(oid), f"{oid}  {names[oid]}".rstrip(), oid)
        self.object_box.addItem("new object", NEW_OBJECT)
        index = self.object_box.findData(keep)
        self.object_box.setCurrentIndex(index if index >= 0 else 0)
        self.object_box.blockSignals(False)
        for box in self.object_checks.values():
            self.objects_layout.removeWidget(box)
            box.deleteLater()
        self.object_checks = {}
        for oid in sorted(names):
            box = QCheckBox(f"{oid} {names[oid]}".rstrip())
            box.setIcon(_swatch(oid))
            box.setToolTip(f"show object {oid}")
            box.setChecked(oid not in self.hidden)
            box.toggled.connect(lambda on, oid=oid: self.set_visible(oid, on))
            self.objects_layout.insertWidget(self.objects_layout.count() - 1, box)
            self.object_checks[oid] = box

    def object_id(self) -> int:
        """The picked object's id; "new object" is one more than any id known."""
        data = self.object_box.currentData()
        if data in (None, NEW_OBJECT):
            return max(self._object_names, default=0) + 1
        return int(data)

    def pick_object(self, oid: int) -> None:
        index = self.object_box.findData(oid)
        if index < 0 and oid != NEW_OBJECT:
            self._picked.add(oid)  # a new id picked by number
            self.set_objects(dict(self._object_names))
            index = self.object_box.findData(oid)
        self.object_box.setCurrentIndex(index if index >= 0 else self.object_box.count() - 1)

    def set_visible(self, oid: int, on: bool) -> None:
        if on:
            self.hidden.discard(oid)
        else:
            self.hidden.add(oid)
        self.refresh()

    # ---------------------------------------------------------------- frames

    @property
    def frame(self) -> int:
        return self.timeline.frame

    def set_frame(self, i: int) -> None:
        self.timeline.set_frame(i)
        self.refresh()

    def _frame_moved(self, value: int) -> None:
        self.frame_changed.emit(value)
        self._timer.start()

    def show_node(self, node_id: str | None, outputs: list[tuple[str, str]], source) -> None:
        """Point the viewer at a node's outputs [(name, type)] read from `source` (a ValueSource)."""
        changed = node_id != self.node_id
        self.node_id, self.outputs, self.source = node_id, outputs, source
        if changed:
            self._seen = set()
        keep = self.output_box.currentText()
        self.output_box.blockSignals(True)
        self.output_box.clear()
        for name, type_name in outputs:
            self.output_box.addItem(f"{name} ({type_name})", name)
        index = next((i for i, (n, _) in enumerate(outputs) if n == keep.split(" ")[0]), 0) if not changed else 0
        self.output_box.setCurrentIndex(index)
        self.output_box.blockSignals(False)
        self.output_box.setVisible(len(outputs) > 1)
        self.refresh()

    def refresh_soon(self) -> None:
        """Refresh once events settle (frames finished by a running node arrive many a second)."""
        if not self._timer.isActive():
            self._timer.start()

    def _layer(self) -> PromptLayer | None:
        return self.layer_source(self.frame) if self.layer_source is not None else None

    def refresh(self) -> None:
        self.last_picture = None
        layer = self._layer()
        if self.node_id is None:
            self.title.setText("select a node to see its output")
            self._show(None, layer, "")
            return
        if not self.outputs:
            self.title.setText(f"{self.node_id}")
            self._show(None, layer, "this node writes files and has no output to show")
            return
        name, type_name = self.outputs[max(0, self.output_box.currentIndex())]
        self.title.setText(f"{self.node_id}.{name}")
        value = self.source.value(self.node_id, name) if self.source is not None else None
        if value is None and self.live_source is not None and type_name == "Masks":
            value = self.live_source(self.node_id)
        overlaid = type_name in ("Masks", "KeyMasks", "Boxes", "Points")
        self.on_frames.setVisible(overlaid)
        self.act_before.setEnabled(type_name == "Frames")
        if value is not None and type_name == "Frames" and self.act_before.isChecked():
            before = self.source.backdrop(self.node_id, (value.height, value.width))
            if before is not None:
                value, name = before, f"{name}: before"
                self.title.setText(f"{self.node_id}.{name}")
        if value is None:
            self._show(None, layer, "not computed yet: press Run (F5)")
            return
        size = (value.height, value.width) if getattr(value, "height", 0) else None
        backdrop = self.source.backdrop(self.node_id, size) if overlaid and self.on_frames.isChecked() else None
        try:
            pic = picture(value, type_name, self.frame, backdrop, on_frames=self.on_frames.isChecked(),
                          opacity=self.opacity.value() / 100, hidden=self.hidden)
        except Exception as exc:  # a clip whose files went away: say so, do not crash the editor
            self._show(None, layer, f"cannot read this output: {type(exc).__name__}: {exc}")
            return
        self.last_picture = pic
        self._show(pic, layer, pic.caption)

    def _show(self, pic, layer: PromptLayer | None, text: str) -> None:
        """Put the picture, or the bare frame of the chain, on the canvas with the prompt layer over it."""
        count = pic.count if pic is not None else 0
        keys = set(pic.keyframes) if pic is not None else set()
        image = pic.image if pic is not None else None
        if layer is not None:
            count = max(count, layer.count)
            keys |= layer.keyframes
            if image is None and layer.backdrop is not None:
                image = layer.backdrop
                text = f"{text}  ·  frame {self.frame} of {layer.count}" if text else f"frame {self.frame}"
            if image is not None:
                image = self._draw_layer(image, layer)
        self.keyframes = sorted(keys)
        self._seen |= set(pic.objects if pic is not None else ()) | (layer.objects if layer is not None else set())
        self.set_objects({oid: self._object_names.get(oid, "") for oid in self._seen})
        self.timeline.set_count(count)
        rendered = self.rendered_source(self.node_id, pic.count if pic is not None else 0) \
            if self.rendered_source is not None and self.node_id else set()
        self.timeline.set_marks(keyframes=keys, rendered=rendered)
        self.canvas.points = [q for q in layer.points if q[3] not in self.hidden] if layer is not None else []
        self.canvas.boxes = [b for b in layer.boxes if b[4] not in self.hidden] if layer is not None else []
        if image is None:
            self.canvas.set_image(None, text)
            self.caption.setText("")
            return
        clip = (layer.backdrop.shape[1], layer.backdrop.shape[0]) if layer is not None and layer.backdrop is not None \
            else None
        self.canvas.set_image(qimage(image), "", clip)
        self.caption.setText(text)

    def _draw_layer(self, image: np.ndarray, layer: PromptLayer) -> np.ndarray:
        if layer.labels is not None:
            labels = layer.labels
            if self.hidden:
                labels = np.where(np.isin(labels, sorted(self.hidden)), 0, labels).astype(np.uint8)
            image = overlay.overlay_labels(image, labels, self.opacity.value() / 100)
        return image


def _swatch(oid: int) -> QIcon:
    pix = QPixmap(12, 12)
    r, g, b = colour_of(oid)
    pix.fill(QColor(int(r), int(g), int(b)))
    return QIcon(pix)
