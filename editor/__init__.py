"""The visual editor: Ryven on PySide6, with a nodes package generated from the engine's registry.

Importing this package tells qtpy to use PySide6 (Ryven 3.5 needs it) but
loads no Qt; `inpainterz.editor.app.main` starts the editor.
"""
from .qt import prepare_environment

prepare_environment()
