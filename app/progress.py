"""Showing progress on the command line, for node runs and downloads: bars on a terminal, plain lines elsewhere."""
from __future__ import annotations

import shutil
import sys
import time

from ..engine.executor import Event


def bar(fraction: float, width: int) -> str:
    """A text progress bar: [#####.....]."""
    filled = int(width * max(0.0, min(fraction, 1.0)))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def erase_lines(stream, count: int) -> None:
    """Erase the last `count` lines a live block drew on a terminal, leaving the cursor where they began."""
    if count:
        stream.write(f"\x1b[{count}F\x1b[J")


class PlainProgress:
    """One line per state change, and a running line at most every few seconds per node."""

    def __init__(self, stream=None, every: float = 5.0):
        self.stream = stream or sys.stderr
        self.every = every
        self._last: dict[str, float] = {}

    def __call__(self, ev: Event) -> None:
        if ev.kind in ("queued", "frame"):  # a finished frame is for viewers, not for the log
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
        if ev.kind in ("queued", "frame"):  # a finished frame is for viewers, not for the log
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
        erase_lines(self.stream, self._drawn)
        self._drawn = 0

    def _draw(self) -> None:
        self._clear()
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 50))
        for node, (type_id, frac, note) in self.bars.items():
            elapsed = time.monotonic() - self.started.get(node, time.monotonic())
            self.stream.write(f"  {node[:18]:<18} {bar(frac, width)} {frac * 100:5.1f}% "
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


class TransferProgress:
    """Download progress: a bar on a terminal, plain lines otherwise (what `checkpoints.fetch` reports to)."""

    def __init__(self, stream=None, tty: bool | None = None, every: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._t0 = 0.0
        self._last = 0.0

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        self._label, self._total, self._done = label, total, done
        self._t0 = self._last = time.monotonic()
        self._start_done = done
        if not self.tty:
            resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
            size = f"{total / 1e6:.1f} MB" if total else "size unknown"
            print(f"{label}: downloading ({size}{resumed})", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.1:
                self._last = now
                self._draw(now)
        elif now - self._last >= self.every:
            self._last = now
            print(f"{self._label}: {self._text(now)}", file=self.stream, flush=True)

    def finish(self, note: str = "done") -> None:
        now = time.monotonic()
        if self.tty:
            self._draw(now)
            self.stream.write("\n")
        print(f"{self._label}: {note}", file=self.stream, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _text(self, now: float) -> str:
        rate = (self._done - self._start_done) / max(now - self._t0, 1e-6)
        if self._total:
            pct = 100.0 * self._done / self._total
            return f"{pct:5.1f}% {self._done / 1e6:8.1f}/{self._total / 1e6:.1f} MB {rate / 1e6:6.1f} MB/s"
        return f"{self._done / 1e6:8.1f} MB {rate / 1e6:6.1f} MB/s"

    def _draw(self, now: float) -> None:
        drawn = bar(self._done / self._total, 30) + " " if self._total else ""
        self.stream.write(f"\r{self._label} {drawn}{self._text(now)}")
        self.stream.flush()
