"""Progress of a batch: one bar across shots and one status line per running shot.

On a terminal the block is redrawn in place; elsewhere (a log file, a farm's
job output) each change is one plain line. Events come from the threads of
several shots at once, so every entry point takes the one lock.
"""
from __future__ import annotations

import shutil
import sys
import threading
import time

from .progress import bar, erase_lines


class BatchProgress:
    def __init__(self, total: int, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.total, self.finished, self.failed = total, 0, 0
        self.running: dict[str, str] = {}  # shot -> its status line
        self.started: dict[str, float] = {}
        self._lock = threading.Lock()
        self._drawn = 0
        self._last_draw = 0.0

    # -- what the runners call

    def shot_started(self, shot: str, where: str = "") -> None:
        with self._lock:
            self.started[shot] = time.monotonic()
            self.running[shot] = f"started{' on ' + where if where else ''}"
            self._line(f"[{shot}] started{' on ' + where if where else ''}")

    def task_started(self, shot: str, label: str, where: str = "") -> None:
        """A piece of a chunked shot (its prelude, a frame range, its join) started: it gets its own line."""
        key = f"{shot} {label}"
        with self._lock:
            self.running.pop(shot, None)
            self.started.setdefault(key, time.monotonic())
            self.running[key] = f"started{' on ' + where if where else ''}"
            self._line(f"[{key}] started{' on ' + where if where else ''}")

    def task_finished(self, shot: str, label: str, result) -> None:
        key = f"{shot} {label}"
        with self._lock:
            self.running.pop(key, None)
            self.started.pop(key, None)
            host = f" on {result.host}" if result.host else ""
            why = f": {result.error}" if result.error else ""
            self._line(f"[{key}] {result.status} in {result.seconds:.2f}s{host}{why}")

    def node_events(self, shot: str, label: str | None = None):
        """An engine event callback for one shot (or one task of a chunked shot)."""
        shot = f"{shot} {label}" if label else shot

        def on_event(ev) -> None:
            if ev.kind == "queued":
                return
            with self._lock:
                if shot not in self.running:
                    return
                if ev.kind == "running":
                    pct = f" {ev.fraction * 100:3.0f}%" if ev.fraction is not None else ""
                    self.running[shot] = f"{ev.node} ({ev.type}){pct}"
                    if self.live and time.monotonic() - self._last_draw > 0.1:
                        self._draw()
                    return
                if ev.kind == "done":
                    self.running[shot] = f"{ev.node} done in {ev.seconds:.2f}s"
                    self._line(f"[{shot}] {ev.node} done in {ev.seconds:.2f}s")
                elif ev.kind in ("failed", "skipped", "note"):
                    self._line(f"[{shot}] {ev.node} {ev.kind}: {ev.message}")
        return on_event

    def shot_finished(self, result) -> None:
        with self._lock:
            for key in [k for k in self.running if k == result.name or k.startswith(result.name + " ")]:
                self.running.pop(key)
            self.finished += 1
            self.failed += not result.ok and result.status != "cancelled"
            host = f" on {result.host}" if result.host else ""
            why = f": {result.error}" if result.error else ""
            self._line(f"[{result.name}] {result.status} in {result.seconds:.2f}s{host}{why} "
                       f"({self.finished}/{self.total} shots)")

    def close(self) -> None:
        with self._lock:
            self._clear()
            self.stream.flush()

    # -- drawing

    def _line(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=not self.live)
        if self.live:
            self._draw()

    def _clear(self) -> None:
        erase_lines(self.stream, self._drawn)
        self._drawn = 0

    def _draw(self) -> None:
        self._clear()
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 40))
        failed = f", {self.failed} failed" if self.failed else ""
        lines = [f"  shots {bar(self.finished / max(1, self.total), width)} {self.finished}/{self.total}{failed}"]
        now = time.monotonic()
        for shot, status in self.running.items():
            lines.append(f"  {shot[:18]:<18} {now - self.started.get(shot, now):6.1f}s  {status[:60]}")
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self._drawn = len(lines)
        self._last_draw = now
