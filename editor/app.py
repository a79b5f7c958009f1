"""`inpainterz edit [GRAPH] [--screenshot PNG]`: open the editor, or render it to a PNG and exit."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import qt
from ..engine.atomic import atomic_write


def _style(app) -> None:
    """Ryven's dark window theme, when Ryven's resources are at hand."""
    try:
        from ryven.gui.styling.window_theme import apply_stylesheet

        apply_stylesheet("dark")
    except Exception:  # the plain Qt style still works
        app.setStyle("Fusion")


def build_window(graph_path=None, ask_before_closing: bool = True, ckpt_dir=None):
    """Create the application (if needed) and an editor window with `graph_path` open."""
    app = qt.application()
    _style(app)
    from ..engine.registry import default_registry
    from .window import EditorWindow

    window = EditorWindow(default_registry(), ask_before_closing=ask_before_closing, ckpt_dir=ckpt_dir)
    if graph_path:
        window.open_graph(graph_path)
    return app, window


def settle(app, rounds: int = 4) -> None:
    """Let Qt lay out and paint: node sizes are only known after the first paint."""
    for _ in range(rounds):
        app.processEvents()


def save_screenshot(window, path: str | Path) -> Path:
    """Render the window and write it as a PNG, atomically."""
    path = Path(path)
    image = window.grab()
    with atomic_write(path) as tmp:
        if not image.save(str(tmp), "PNG"):
            raise OSError(f"Qt could not write {path}")
    return path


def _no_display() -> bool:
    return (sys.platform.startswith("linux") and not os.environ.get("QT_QPA_PLATFORM")
            and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"))


def main(graph_path=None, screenshot=None, ckpt_dir=None) -> int:
    if screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # render without showing a window
    elif _no_display():
        print("error: no display to open the editor on (DISPLAY is not set); run it on a desktop, "
              "or render it with --screenshot PNG", file=sys.stderr)
        return 1
    problem = qt.xcb_problem()
    if problem:  # checked before Qt starts: Qt itself would abort the process with its own message
        print(f"error: {problem}", file=sys.stderr)
        return 2
    problem = qt.missing_requirement()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from ..engine.errors import GraphError

    try:
        app, window = build_window(graph_path, ask_before_closing=screenshot is None, ckpt_dir=ckpt_dir)
    except GraphError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 2
    if screenshot:
        window.resize(1920, 1080)
    window.show()
    window.arrange_docks()
    if screenshot:
        settle(app)
        window._settle_layout()
        settle(app)
        window.prompting.settle(app)  # the frames and SAM's mask of the prompted frame, as a person sees them
        try:
            out = save_screenshot(window, screenshot)
        except OSError as exc:
            print(f"error: cannot write the screenshot {screenshot}: {exc}", file=sys.stderr)
            return 1
        print(f"screenshot written to {out}", file=sys.stderr)
        window.close()
        return 0
    return app.exec()
