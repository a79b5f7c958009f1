"""The viewer: the selected node's output at a chosen frame.

Frames show as images; masks and keymasks are tinted over the nearest
upstream frames (or shown alone) in object colours; boxes and points are
drawn. A mask can be checked here before the inpaint runs.
"""
from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QToolButton,
                            QVBoxLayout, QWidget)

from .results import picture


def qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    return QImage(rgb.tobytes(), w, h, 3 * w, QImage.Format_RGB888).copy()


class ImageLabel(QLabel):
    """Shows an image scaled to fit, keeping its aspect."""

    def __init__(self):
        super().__init__()
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setStyleSheet("background: #101418; color: #8a96a3;")
        self._pixmap: QPixmap | None = None

    def set_image(self, image: QImage | None, text: str = "") -> None:
        self._pixmap = QPixmap.fromImage(image) if image is not None else None
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(text)
        else:
            self.setText("")
            self._rescale()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is not None:
            # Enlarged pixels stay sharp so a mask's edge can be judged; shrinking is smoothed.
            up = self.width() > self._pixmap.width() and self.height() > self._pixmap.height()
            mode = Qt.FastTransformation if up else Qt.SmoothTransformation
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.KeepAspectRatio, mode))


class ViewerPanel(QWidget):
    def __init__(self):
        super().__init__()
        self.node_id: str | None = None
        self.outputs: list[tuple[str, str]] = []
        self.source = None
        self.keyframes: list[int] = []
        self.last_picture = None

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

        self.image = ImageLabel()
        lay.addWidget(self.image, 1)

        nav = QHBoxLayout()
        self.prev_key = QToolButton()
        self.prev_key.setText("◀")
        self.prev_key.setToolTip("previous keyframe")
        self.prev_key.clicked.connect(lambda: self._jump(-1))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 0)
        self.spin = QSpinBox()
        self.spin.setRange(0, 0)
        self.spin.setKeyboardTracking(False)
        self.next_key = QToolButton()
        self.next_key.setText("▶")
        self.next_key.setToolTip("next keyframe")
        self.next_key.clicked.connect(lambda: self._jump(+1))
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self.slider.setValue)
        nav.addWidget(QLabel("frame"))
        nav.addWidget(self.prev_key)
        nav.addWidget(self.slider, 1)
        nav.addWidget(self.next_key)
        nav.addWidget(self.spin)
        lay.addLayout(nav)

        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("color: #8a96a3;")
        lay.addWidget(self.caption)

        # Reading a frame may decode video: coalesce slider drags into one read.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(25)
        self._timer.timeout.connect(self.refresh)

    @property
    def frame(self) -> int:
        return self.slider.value()

    def set_frame(self, i: int) -> None:
        self.slider.setValue(i)
        self.refresh()

    def _slider_moved(self, value: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        self._timer.start()

    def _jump(self, direction: int) -> None:
        now = self.frame
        keys = [k for k in self.keyframes if (k > now if direction > 0 else k < now)]
        if keys:
            self.set_frame(min(keys) if direction > 0 else max(keys))

    def show_node(self, node_id: str | None, outputs: list[tuple[str, str]], source) -> None:
        """Point the viewer at a node's outputs [(name, type)] read from `source` (a ValueSource)."""
        changed = node_id != self.node_id
        self.node_id, self.outputs, self.source = node_id, outputs, source
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

    def refresh(self) -> None:
        self.last_picture = None
        if self.node_id is None:
            self.title.setText("select a node to see its output")
            self._empty("")
            return
        if not self.outputs:
            self.title.setText(f"{self.node_id}")
            self._empty("this node writes files and has no output to show")
            return
        name, type_name = self.outputs[max(0, self.output_box.currentIndex())]
        self.title.setText(f"{self.node_id}.{name}")
        value = self.source.value(self.node_id, name) if self.source is not None else None
        if value is None:
            self._empty("not computed yet: press Run (F5)")
            return
        overlaid = type_name in ("Masks", "KeyMasks", "Boxes", "Points")
        self.on_frames.setVisible(overlaid)
        size = (value.height, value.width) if getattr(value, "height", 0) else None
        backdrop = self.source.backdrop(self.node_id, size) if overlaid and self.on_frames.isChecked() else None
        try:
            pic = picture(value, type_name, self.frame, backdrop, on_frames=self.on_frames.isChecked())
        except Exception as exc:  # a clip whose files went away: say so, do not crash the editor
            self._empty(f"cannot read this output: {type(exc).__name__}: {exc}")
            return
        self.last_picture = pic
        self.keyframes = pic.keyframes
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setRange(0, max(pic.count - 1, 0))
            w.blockSignals(False)
        self.prev_key.setVisible(bool(pic.keyframes))
        self.next_key.setVisible(bool(pic.keyframes))
        self.image.set_image(qimage(pic.image))
        self.caption.setText(pic.caption)

    def _empty(self, text: str) -> None:
        self.image.set_image(None, text)
        self.caption.setText("")
        self.keyframes = []
