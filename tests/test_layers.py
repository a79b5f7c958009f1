"""The layers: the engine is the floor and imports nothing above it.

Every `.py` under engine/ is parsed; imports (absolute and relative) and the
strings given to `importlib.import_module` / `__import__` /
`importlib.util.find_spec` must not name `inpainterz.nodes`, `.editor` or
`.app`. The same reading keeps nodes/ off the editor and app, and the editor
off the app.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = "inpainterz"
UPPER = ("nodes", "editor", "app")
DYNAMIC = {"import_module", "__import__", "find_spec"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def absolute(name: str | None, level: int, here: str, is_package: bool) -> str:
    """The absolute module a (possibly relative) import names, as Python resolves it."""
    if not level:
        return name or ""
    base = here.split(".") if is_package else here.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def upward(target: str, upper=UPPER) -> bool:
    parts = target.split(".")
    return len(parts) >= 2 and parts[0] == PACKAGE and parts[1] in upper


def references(source: str, here: str, is_package: bool = False, upper=UPPER) -> list[tuple[int, str]]:
    """(line, module) for every reference in `source` to a subpackage in `upper` (above the engine by default)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node.module, node.level, here, is_package)
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{a.name}") for a in node.names]  # `from .. import nodes`
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in DYNAMIC and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    # A relative name is anchored at `package=` (a package), as import_module does.
                    anchor = next((k.value.value for k in node.keywords if k.arg == "package"
                                   and isinstance(k.value, ast.Constant)), None)
                    text = arg.value
                    if text.startswith("."):
                        level = len(text) - len(text.lstrip("."))
                        text = absolute(text.lstrip(".") or None, level, anchor or here,
                                        anchor is not None or is_package)
                    found.append((node.lineno, text))
                elif isinstance(arg, ast.JoinedStr):  # f"inpainterz.nodes.{name}"
                    head = "".join(v.value for v in arg.values if isinstance(v, ast.Constant))
                    found.append((node.lineno, head))
    return [(line, t) for line, t in found if upward(t, upper)]


@pytest.mark.parametrize("layer, upper", [("engine", ("nodes", "editor", "app")), ("nodes", ("editor", "app")),
                                          ("editor", ("app",))])
def test_no_layer_imports_a_layer_above_it(layer, upper):
    root = REPO
    files = sorted((root / layer).rglob("*.py"))
    assert len(files) > 10
    bad = []
    for f in files:
        here = module_name(f, root)
        for line, target in references(f.read_text(), here, f.name == "__init__.py", upper):
            bad.append(f"{f.relative_to(root)}:{line} refers to {target}")
    assert not bad, f"{layer}/ must not depend on the layers above it:\n" + "\n".join(bad)


@pytest.mark.parametrize("source", [
    "import inpainterz.nodes.video",
    "from inpainterz.editor import app",
    "from inpainterz import app",
    "from .. import nodes",
    "from ..nodes.scoring import psnr",
    "from ..app.cli import main",
    "import importlib\nimportlib.import_module('inpainterz.nodes.io')",
    "from importlib import import_module\nimport_module('..editor', package='inpainterz.engine')",
    "__import__('inpainterz.app.demo')",
    "import importlib\nimportlib.import_module(f'inpainterz.nodes.{name}')",
])
def test_the_rule_catches_every_way_of_naming_an_upper_layer(source):
    assert references(source, "inpainterz.engine.example")


@pytest.mark.parametrize("source", [
    "from . import data",
    "from .. import builtin_node_modules",
    "import importlib\nimportlib.import_module('inpainterz.engine.cache')",
    "ENTRY_POINT_GROUP = 'inpainterz.nodes'",  # a metadata group name, not an import
    "import numpy",
])
def test_the_rule_lets_the_engine_use_itself_and_the_package_root(source):
    assert not references(source, "inpainterz.engine.example")


def test_every_package_folder_is_packaged():
    """pyproject lists packages one by one; a subpackage left out would be missing from an install."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(f, REPO) for f in REPO.rglob("__init__.py")
             if not {"tests", ".venv", "build"} & set(f.relative_to(REPO).parts)}
    assert found <= listed, f"add to pyproject's packages: {sorted(found - listed)}"


def test_every_module_the_scripts_import_exists():
    """bench/ scripts import the package inside functions, where running the
    suite would not notice a module that moved; find every such name."""
    import importlib.util

    missing = []
    for path in sorted((REPO / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").startswith(PACKAGE):
                if importlib.util.find_spec(node.module) is None:
                    missing.append(f"{path.name}:{node.lineno}: {node.module}")
                    continue
                module = importlib.import_module(node.module)
                missing += [f"{path.name}:{node.lineno}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert not missing, missing
