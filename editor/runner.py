"""Running a graph from the editor: the engine in a background thread, events to the GUI thread.

The engine's events arrive on worker threads; they cross to the GUI thread
as queued Qt signals, so the window never blocks and widgets are only
touched by the thread that owns them.
"""
from __future__ import annotations

import threading
import traceback

from qtpy.QtCore import QObject, Signal

from ..engine.errors import GraphError


class RunController(QObject):
    event = Signal(object)  # engine Event
    finished = Signal(object)  # RunResult
    rejected = Signal(list)  # problem lines: the graph did not validate, nothing ran
    crashed = Signal(str)  # an unexpected error inside the engine, with its traceback

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, graph, config, targets: list | None = None, frames: tuple | None = None) -> bool:
        """Run `graph` with the RunConfig `config` (its cancel token is this controller's own); only
        what `targets` need, and only frames a..b of them where the engine renders ranges."""
        if self.is_running():
            return False
        self._cancel = threading.Event()
        config = config.with_(cancel=self._cancel)
        options = {"targets": targets}
        if frames is not None:
            options["frames"] = frames
        self._thread = threading.Thread(target=self._work, args=(graph, config, options),
                                        name="inpainterz-editor-run", daemon=True)
        self._thread.start()
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.is_running()

    def _work(self, graph, config, options) -> None:
        from ..engine.executor import run_graph

        try:
            result = run_graph(graph, config=config, on_event=self.event.emit, **options)
        except GraphError as exc:
            self.rejected.emit(exc.lines())
        except Exception:
            self.crashed.emit(traceback.format_exc())
        else:
            self.finished.emit(result)
