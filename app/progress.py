"""Showing progress on the command line: bars on a terminal, plain lines elsewhere."""
from __future__ import annotations

import shutil
import sys
import time

from ..engine.executor import Event


class PlainProgress:
    """One line per state change, and a running line at most every few seconds per node."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream or sys.stderr
        self.every = every
        self._last: dict[str, float] = {}

    def __call__(self, ev: Event) -> None:
        if ev.kind == "queued":
            return
        if ev.kind == "running":
            now = time.monotonic()
            if ev.fraction not in (0.0, None) and now - self._last.get(ev.node, 0) < self.every and not ev.message:
                return
            self._last[ev.node] = now
            pct = f" {ev.fraction * 100:5.1f}%" if ev.fraction is not None else ""
            note = f"  {ev.message}" if ev.message else ""
            self._write(f"[{ev.node}] running{pct}{note}")
        elif ev.kind == "done":
            self._write(f"[{ev.node}] done in {ev.seconds:.2f}s")
        elif ev.kind == "note":
            self._write(f"[{ev.node}] note: {ev.message}")
        elif ev.kind in ("failed", "skipped"):
            self._write(f"[{ev.node}] {ev.kind}: {ev.message}")
        else:
            self._write(f"[{ev.node}] {ev.kind}")

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """A live block of progress bars, one per running node, redrawn in place."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bars: dict[str, tuple[str, float, str]] = {}
        self.started: dict[str, float] = {}
        self._drawn = 0
        self._last_draw = 0.0

    def __call__(self, ev: Event) -> None:
        if ev.kind == "queued":
            return
        if ev.kind == "running":
            self.started.setdefault(ev.node, time.monotonic())
            self.bars[ev.node] = (ev.type, ev.fraction or 0.0, ev.message or self.bars.get(ev.node, ("", 0, ""))[2])
            if time.monotonic() - self._last_draw > 0.1:
                self._draw()
            return
        self.bars.pop(ev.node, None)
        if ev.kind == "done":
            line = f"  done    {ev.node} ({ev.type}) {ev.seconds:.2f}s"
        elif ev.kind == "cached":
            line = f"  cached  {ev.node} ({ev.type})"
        elif ev.kind == "note":
            line = f"  note    {ev.node}: {ev.message}"
        else:
            line = f"  {ev.kind:<7} {ev.node} ({ev.type}): {ev.message}"
        self._clear()
        print(line, file=self.stream)
        self._draw()

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        self._clear()
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 50))
        for node, (type_id, frac, note) in self.bars.items():
            filled = int(frac * width)
            elapsed = time.monotonic() - self.started.get(node, time.monotonic())
            self.stream.write(f"  {node[:18]:<18} [{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}% "
                              f"{elapsed:6.1f}s {note[:20]}\n")
            self._drawn += 1
        self.stream.flush()
        self._last_draw = time.monotonic()

    def close(self) -> None:
        self._clear()
        self.stream.flush()


def progress_printer(stream=None):
    stream = stream or sys.stderr
    return BarProgress(stream) if stream.isatty() else PlainProgress(stream)
