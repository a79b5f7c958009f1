"""Loading Qt for the editor: always PySide6, and only when the editor runs.

Ryven reaches Qt through qtpy, which must be told the binding before its
first import. Ryven 3.5 works with PySide6 below 6.7; PySide2 does not exist
for Python 3.11.
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys

_NUMPY_ABI_NOTICE = "compiled using NumPy 1.x"


def prepare_environment() -> None:
    os.environ["QT_API"] = "pyside6"
    os.environ.setdefault("RYVEN_MODE", "gui")


def missing_requirement() -> str | None:
    """None when PySide6 and Ryven can be imported, else what to install."""
    prepare_environment()
    try:
        import_qt()
        import ryvencore_qt  # noqa: F401
    except ImportError as exc:
        return (f"the editor needs PySide6 (<6.7) and ryven 3.5: {exc}. "
                "Install them with: pip install 'inpainterz[editor]'")
    return None


# What Qt 6's xcb platform plugin (libqxcb.so, through libQt6XcbQpa) loads, and the Debian/Ubuntu
# package of each. Without one of them Qt prints "could not load the Qt platform plugin" and aborts.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def uses_xcb(environ=None, platform: str | None = None) -> bool:
    """Whether Qt would open its window through X11 (xcb): on Linux, with a DISPLAY and no other platform asked for."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    asked = env.get("QT_QPA_PLATFORM", "")
    if asked:
        return asked.split(":")[0].split(";")[0] == "xcb"
    return platform.startswith("linux") and bool(env.get("DISPLAY"))


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_packages(loads=None) -> list[str]:
    """Debian packages of the xcb libraries that cannot be loaded, in a stable order."""
    loads = loads or _loads
    return sorted({pkg for soname, pkg in XCB_LIBRARIES.items() if not loads(soname)})


def xcb_problem(environ=None, platform: str | None = None, loads=None) -> str | None:
    """What to install when Qt would abort for want of its xcb libraries, else None."""
    if not uses_xcb(environ, platform):
        return None
    missing = missing_xcb_packages(loads)
    if not missing:
        return None
    return ("the editor cannot open a window: Qt's X11 (xcb) platform plugin needs system libraries "
            "that are not installed. Install them with:\n"
            f"  sudo apt-get install {' '.join(missing)}\n"
            "(or, without a window: inpainterz edit GRAPH --screenshot shot.png)")


def import_qt():
    """Import PySide6 through qtpy and return the QtWidgets module.

    shiboken6 6.6 was built against NumPy 1.x and prints a long notice under
    NumPy 2 when it probes for NumPy support; the editor never hands NumPy
    arrays to Qt, so that notice is dropped and anything else is passed on.
    """
    prepare_environment()
    if "qtpy" not in sys.modules:
        captured = io.StringIO()
        with contextlib.redirect_stderr(captured):
            import PySide6.QtCore  # noqa: F401
        text = captured.getvalue()
        if text and _NUMPY_ABI_NOTICE not in text:
            sys.stderr.write(text)
    from qtpy import QtWidgets

    return QtWidgets


# Qt messages that say nothing to a user: the offscreen platform (screenshots, tests) cannot resize
# native windows, and Ryven uses a few APIs Qt 6 has deprecated.
_QUIET = ("does not support propagateSizeHints",)


def _install_message_filter() -> None:
    from qtpy.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if not any(q in message for q in _QUIET):
            sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


def application(argv: list[str] | None = None):
    """The process's QApplication, created on first use."""
    QtWidgets = import_qt()
    app = QtWidgets.QApplication.instance()
    if app is None:
        _install_message_filter()
        app = QtWidgets.QApplication(argv or [sys.argv[0]])
        app.setApplicationName("inpainterz")
    return app
