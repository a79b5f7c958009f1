"""Loading Qt for the editor: always PySide6, and only when the editor runs.

Ryven reaches Qt through qtpy, which must be told the binding before its
first import. Ryven 3.5 works with PySide6 below 6.7; PySide2 does not exist
for Python 3.11.
"""
from __future__ import annotations

import contextlib
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
