"""The viewer's timeline: a frame slider with play/pause, stepping, and marks.

Above the groove, a tick for each keyframe (a frame that holds prompts or
detections); below it, a bar over the frames whose result is already
rendered (in the cache, or finished so far by a running node).
"""
from __future__ import annotations

from qtpy.QtCore import QRect, Qt, QTimer, Signal
from qtpy.QtGui import QColor, QPainter
from qtpy.QtWidgets import QHBoxLayout, QSlider, QSpinBox, QStyle, QStyleOptionSlider, QToolButton, QWidget

KEY_COLOUR = QColor("#f0b429")
RENDERED_COLOUR = QColor("#43c46b")


def runs(frames) -> list[tuple[int, int]]:
    """Sorted frame indices as inclusive runs [(first, last), ...], so long clips paint few rectangles."""
    out: list[list[int]] = []
    for f in sorted(frames):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return [(a, b) for a, b in out]


class MarkedSlider(QSlider):
    """A horizontal slider that paints keyframe ticks and rendered-frame bars."""

    def __init__(self):
        super().__init__(Qt.Horizontal)
        self.keyframes: set[int] = set()
        self.rendered: set[int] = set()
        self.setMinimumHeight(26)
        self.setFocusPolicy(Qt.NoFocus)  # arrow keys belong to the viewer, which steps frames

    def frame_x(self, frame: int) -> float:
        """Where a frame's handle centre lies, in widget pixels."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.CC_Slider, opt, QStyle.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        lo, hi = self.minimum(), self.maximum()
        pos = QStyle.sliderPositionFromValue(lo, hi, frame, span) if hi > lo else 0
        return groove.x() + pos + handle.width() / 2

    def paintEvent(self, event):
        super().paintEvent(event)
        if self.maximum() <= self.minimum() and not (self.keyframes or self.rendered):
            return
        p = QPainter(self)
        h = self.height()
        step = max(2.0, self.frame_x(1) - self.frame_x(0)) if self.maximum() > 0 else 2.0
        for a, b in runs(self.rendered):
            x0 = self.frame_x(a) - step / 2
            x1 = self.frame_x(b) + step / 2
            p.fillRect(QRect(int(x0), h - 4, max(1, int(x1 - x0)), 3), RENDERED_COLOUR)
        p.setPen(KEY_COLOUR)
        for f in sorted(self.keyframes):
            x = int(round(self.frame_x(f)))
            p.fillRect(QRect(x - 1, 0, 3, 7), KEY_COLOUR)
        p.end()


class Timeline(QWidget):
    frame_changed = Signal(int)

    def __init__(self):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.play_button = QToolButton()
        self.play_button.setIcon(self.style().standardIcon(QStyle.SP_MediaPlay))
        self.play_button.setToolTip("play / pause (Space)")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self._play_toggled)
        self.prev_key = QToolButton()
        self.prev_key.setIcon(self.style().standardIcon(QStyle.SP_MediaSkipBackward))
        self.prev_key.setToolTip("previous keyframe (Up)")
        self.prev_key.clicked.connect(lambda: self.jump_key(-1))
        self.next_key = QToolButton()
        self.next_key.setIcon(self.style().standardIcon(QStyle.SP_MediaSkipForward))
        self.next_key.setToolTip("next keyframe (Down)")
        self.next_key.clicked.connect(lambda: self.jump_key(+1))
        self.slider = MarkedSlider()
        self.slider.setRange(0, 0)
        self.slider.setToolTip("frame (Left/Right step; ticks: keyframes; green: rendered frames)")
        self.spin = QSpinBox()
        self.spin.setRange(0, 0)
        self.spin.setKeyboardTracking(False)
        self.slider.valueChanged.connect(self._slider_moved)
        self.spin.valueChanged.connect(self.slider.setValue)
        for w in (self.play_button, self.prev_key):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.next_key)
        lay.addWidget(self.spin)
        self.fps = 25.0
        self._play = QTimer(self)
        self._play.timeout.connect(self._advance)

    @property
    def frame(self) -> int:
        return self.slider.value()

    @property
    def count(self) -> int:
        return self.slider.maximum() + 1

    def set_count(self, n: int) -> None:
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setRange(0, max(n - 1, 0))
            w.blockSignals(False)
        self.spin.blockSignals(True)
        self.spin.setValue(self.slider.value())
        self.spin.blockSignals(False)

    def set_marks(self, keyframes=None, rendered=None) -> None:
        if keyframes is not None:
            self.slider.keyframes = set(keyframes)
        if rendered is not None:
            self.slider.rendered = set(rendered)
        has_keys = bool(self.slider.keyframes)
        self.prev_key.setEnabled(has_keys)
        self.next_key.setEnabled(has_keys)
        self.slider.update()

    def set_frame(self, i: int) -> None:
        self.slider.setValue(max(0, min(i, self.slider.maximum())))

    def step(self, delta: int) -> None:
        self.set_frame(self.frame + delta)

    def jump_key(self, direction: int) -> None:
        now = self.frame
        keys = [k for k in self.slider.keyframes if (k > now if direction > 0 else k < now)]
        if keys:
            self.set_frame(min(keys) if direction > 0 else max(keys))

    def toggle_play(self) -> None:
        self.play_button.toggle()

    def playing(self) -> bool:
        return self._play.isActive()

    def _play_toggled(self, on: bool) -> None:
        self.play_button.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if on else QStyle.SP_MediaPlay))
        if on:
            if self.frame >= self.slider.maximum():
                self.set_frame(0)
            self._play.start(max(10, int(1000 / max(self.fps, 1.0))))
        else:
            self._play.stop()

    def _advance(self) -> None:
        if self.frame >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.step(1)

    def _slider_moved(self, value: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        self.frame_changed.emit(value)
