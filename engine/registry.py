"""The registry of node types: built-ins, entry-point plugins, plugin folders.

The built-in families are handed over by the `inpainterz` package
(`builtin_node_modules`); the engine never names them itself. Plugins are found in exactly two configured places: the entry-point group
`inpainterz.nodes` of installed packages, and the `*.py` files in the folders
named by `INPAINTERZ_PLUGIN_PATH`. A plugin that fails to import is reported
and skipped; two node types with one id are reported with both origins.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Iterable

from .descriptor import NodeType

ENTRY_POINT_GROUP = "inpainterz.nodes"
PLUGIN_PATH_ENV = "INPAINTERZ_PLUGIN_PATH"


@dataclass
class Registry:
    types: dict[str, NodeType] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # import failures and id clashes
    clashes: dict[str, list[str]] = field(default_factory=dict)  # id -> origins

    def add(self, nt: NodeType, origin: str) -> None:
        nt.origin = origin
        have = self.types.get(nt.id)
        if have is not None and have.render is not nt.render:
            origins = self.clashes.setdefault(nt.id, [have.origin])
            origins.append(origin)
            self.problems.append(
                f"node type '{nt.id}' is defined twice: in {have.origin} and in {origin}; "
                f"the one from {have.origin} is kept. Rename one of them.")
            return
        self.types[nt.id] = nt

    def get(self, type_id: str) -> NodeType | None:
        return self.types.get(type_id)

    def __contains__(self, type_id: str) -> bool:
        return type_id in self.types

    def __iter__(self):
        return iter(sorted(self.types.values(), key=lambda t: (t.category, t.id)))

    def add_module(self, module: ModuleType, origin: str) -> int:
        found = node_types_in(vars(module).values())
        for nt in found:
            self.add(nt, origin)
        return len(found)


def node_types_in(values: Iterable) -> list[NodeType]:
    """The NodeType objects among `values`, in order, each once."""
    seen, out = set(), []
    for v in values:
        if isinstance(v, NodeType) and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _load_builtins(reg: Registry) -> None:
    from .. import builtin_node_modules

    for modname in builtin_node_modules():
        try:
            module = importlib.import_module(modname)
        except Exception as exc:  # a broken module must not take the others down
            reg.problems.append(f"built-in node module {modname} failed to import: {type(exc).__name__}: {exc}")
            continue
        reg.add_module(module, modname)


def _load_entry_points(reg: Registry) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point '{ep.name}' ({ep.value})"
        try:
            obj = ep.load()
            if isinstance(obj, ModuleType):
                reg.add_module(obj, origin)
                continue
            if callable(obj) and not isinstance(obj, NodeType):
                obj = obj()
            items = [obj] if isinstance(obj, NodeType) else list(obj)
            for nt in node_types_in(items):
                reg.add(nt, origin)
        except Exception as exc:
            reg.problems.append(f"plugin {origin} failed to load and is skipped: {type(exc).__name__}: {exc}")


def plugin_files(env: str | None = None) -> list[Path]:
    value = os.environ.get(PLUGIN_PATH_ENV, "") if env is None else env
    files: list[Path] = []
    for folder in filter(None, value.split(os.pathsep)):
        p = Path(folder).expanduser()
        if p.is_dir():
            files += sorted(f for f in p.glob("*.py") if not f.name.startswith("_"))
    return files


def _load_plugin_files(reg: Registry) -> None:
    for path in plugin_files():
        tag = hashlib.blake2b(str(path.resolve()).encode(), digest_size=4).hexdigest()
        modname = f"inpainterz_plugin_{path.stem}_{tag}"
        try:
            spec = importlib.util.spec_from_file_location(modname, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[modname] = module
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(modname, None)
            last = traceback.extract_tb(exc.__traceback__)[-1]
            reg.problems.append(f"plugin file {path} failed to import and is skipped "
                                f"(line {last.lineno}): {type(exc).__name__}: {exc}")
            continue
        reg.add_module(module, str(path))


def load_registry() -> Registry:
    reg = Registry()
    _load_builtins(reg)
    _load_entry_points(reg)
    _load_plugin_files(reg)
    return reg


_default: Registry | None = None


def default_registry(reload: bool = False) -> Registry:
    """The process-wide registry, built on first use."""
    global _default
    if _default is None or reload:
        _default = load_registry()
    return _default
