"""Node descriptors: what a node type declares, kept as plain data.

A node type is a `NodeType`: an id, a version, typed ports, typed params and
one render function. The `node` decorator builds one from a function. Every
front end (CLI, editor, docs) reads these descriptors; none has node-specific
code.
"""
from __future__ import annotations

import inspect
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .data import TYPES
from .frames import WHOLE, Temporal

# The types that travel on edges (DESIGN.md, "Data on the edges"), named once, by the data module.
DATA_TYPES = tuple(TYPES)
CLIP_TYPES = ("Frames", "Masks")

PARAM_TYPES = ("int", "float", "bool", "str", "choice", "path", "list")
PATH_IO = ("read", "write")
PATH_KINDS = ("file", "dir", "pattern", "any")


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    optional: bool = False
    doc: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "optional": self.optional, "doc": self.doc}


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    doc: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "doc": self.doc}


@dataclass(frozen=True)
class Param:
    """A typed, checked node parameter.

    `io` only matters for paths: "read" paths are fingerprinted for the cache
    (a changed file re-runs the node), "write" paths are checked to still exist
    before a cached result is trusted.
    """

    name: str
    type: str
    default: Any = None
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    io: str | None = None
    kind: str = "any"
    check: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.type not in PARAM_TYPES:
            raise ValueError(f"param '{self.name}': unknown param type '{self.type}' (one of {', '.join(PARAM_TYPES)})")
        if self.type == "choice":
            if not self.choices:
                raise ValueError(f"param '{self.name}': a choice param needs choices")
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.type == "path":
            if self.io not in PATH_IO:
                raise ValueError(f"param '{self.name}': a path param needs io='read' or io='write'")
            if self.kind not in PATH_KINDS:
                raise ValueError(f"param '{self.name}': path kind must be one of {PATH_KINDS}")
        if self.default is not None:
            err = self.validate(self.default)[1]
            if err:
                raise ValueError(f"param '{self.name}': default {self.default!r}: {err}")

    def validate(self, value: Any) -> tuple[Any, str | None]:
        """Return (normalised value, None) or (value, error message)."""
        t = self.type
        if t == "int":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()
            ):
                return value, f"expected an integer, got {value!r}"
            value = int(value)
        elif t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                return value, f"expected a number, got {value!r}"
            value = float(value)
        elif t == "bool":
            if not isinstance(value, bool):
                return value, f"expected true or false, got {value!r}"
        elif t in ("str", "path"):
            if not isinstance(value, str):
                return value, f"expected a string, got {value!r}"
        elif t == "choice":
            if value not in self.choices:
                return value, f"{value!r} is not one of {', '.join(map(str, self.choices))}"
        elif t == "list":
            if not isinstance(value, list):
                return value, f"expected a list, got {value!r}"
        if self.min is not None and t in ("int", "float") and value < self.min:
            return value, f"{value} is below the minimum {self.min:g}"
        if self.max is not None and t in ("int", "float") and value > self.max:
            return value, f"{value} is above the maximum {self.max:g}"
        if self.check is not None:
            err = self.check(value)
            if err:
                return value, err
        return value, None

    def parse(self, text: str) -> tuple[Any, str | None]:
        """Parse a command-line string (`-s node.param=TEXT`) by this param's type."""
        t = self.type
        try:
            if t == "int":
                try:
                    value: Any = int(text, 0)
                except ValueError:
                    value = float(text)  # "4.0" is read as a graph file's 4.0 is: validate makes it 4
            elif t == "float":
                value = float(text)
            elif t == "bool":
                low = text.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    value = True
                elif low in ("0", "false", "no", "off"):
                    value = False
                else:
                    return text, f"expected true or false, got {text!r}"
            elif t == "list":
                value = json.loads(text)
            else:
                value = text
        except (ValueError, json.JSONDecodeError):
            kind = {"int": "an integer", "float": "a number", "list": "a JSON list"}[t]
            return text, f"expected {kind}, got {text!r}"
        return self.validate(value)

    def io_text(self) -> str:
        """'reads a file', 'writes a folder', ... for people."""
        if not self.io:
            return ""
        what = {"file": "a file", "dir": "a folder", "pattern": "a file pattern", "any": "a file or folder"}[self.kind]
        return f"{self.io}s {what}"

    def to_json(self) -> dict:
        d = {"name": self.name, "type": self.type, "default": self.default, "doc": self.doc}
        for key in ("min", "max", "choices", "io"):
            val = getattr(self, key)
            if val is not None:
                d[key] = list(val) if key == "choices" else val
        if self.type == "path":
            d["kind"] = self.kind
        return d


@dataclass
class NodeType:
    """A node type: descriptor data plus the one function that renders it."""

    id: str
    render: Callable
    category: str = "other"
    doc: str = ""
    version: int = 1
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    params: tuple[Param, ...] = ()
    gpu: bool = False
    origin: str = "builtin"  # where the registry found it: a module, entry point or file
    # Optional hooks, both given the params with defaults filled in and paths resolved, and
    # the run's RunConfig (its checkpoint folders): `preflight(params, config) -> [message, ...]`
    # finds problems before anything runs (a missing checkpoint), and
    # `fingerprint(params, config) -> JSON-able` adds what the node reads beyond its inputs
    # and path params (the checkpoint file it resolved) to its cache key.
    preflight: Callable[[dict, Any], list] | None = None
    fingerprint: Callable[[dict, Any], Any] | None = None
    # How output frame t depends on input frames (engine/frames.py): a Temporal, or
    # a function of the params giving one. Whole, the default, keeps the plain render.
    temporal: Temporal | Callable[[dict], Temporal] = WHOLE

    def __post_init__(self):
        self.inputs, self.outputs, self.params = tuple(self.inputs), tuple(self.outputs), tuple(self.params)
        if not self.id or not self.id.isidentifier():
            raise ValueError(f"node type id {self.id!r} must be an identifier like 'DilateMask'")
        for port in (*self.inputs, *self.outputs):
            if port.type not in DATA_TYPES:
                raise ValueError(f"{self.id}: port '{port.name}' has unknown type '{port.type}' (one of {', '.join(DATA_TYPES)})")
        names = [p.name for p in (*self.inputs, *self.params)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{self.id}: inputs and params share one namespace; duplicated: {', '.join(dupes)}")
        if len({o.name for o in self.outputs}) != len(self.outputs):
            raise ValueError(f"{self.id}: duplicated output names")
        if isinstance(self.temporal, Temporal):
            self._check_temporal(self.temporal)

    def _check_temporal(self, decl: Temporal) -> Temporal:
        # A frame-aware node's outputs span the frames of its first clip input:
        # a clip of that length, or frame-keyed data on those frames.
        if decl.kind != "whole" and not any(p.type in CLIP_TYPES for p in self.inputs):
            raise ValueError(f"{self.id}: a {decl.kind} declaration needs a clip input (Frames or Masks)")
        return decl

    def temporal_text(self) -> str:
        """The declaration for people; a function of the params is described by its docstring."""
        if not self.inputs:
            return "a source: reads no frames of other nodes"
        if isinstance(self.temporal, Temporal):
            return self.temporal.describe()
        return (inspect.getdoc(self.temporal) or "depends on the params").splitlines()[0]

    def temporal_for(self, params: dict) -> Temporal:
        """The declaration that holds for these params."""
        if isinstance(self.temporal, Temporal):
            return self.temporal
        return self._check_temporal(self.temporal(params))

    def input(self, name: str) -> Input | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((p for p in self.outputs if p.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "version": self.version,
            "category": self.category,
            "doc": self.doc,
            "gpu": self.gpu,
            "origin": self.origin,
            "inputs": [p.to_json() for p in self.inputs],
            "outputs": [p.to_json() for p in self.outputs],
            "params": [p.to_json() for p in self.params],
            "temporal": self.temporal.to_json() if isinstance(self.temporal, Temporal) else {"kind": "depends on params"},
        }

    def describe(self) -> str:
        """The descriptor as text for a person to read (`inpainterz describe`)."""
        lines = [f"{self.id}  (v{self.version}, {self.category}{', wants GPU' if self.gpu else ''})", f"  {self.doc}", ""]
        lines.append("inputs:" if self.inputs else "inputs: none")
        for p in self.inputs:
            lines.append(f"  {p.name:<16} {p.type}{' (optional)' if p.optional else ''}  {p.doc}".rstrip())
        lines.append("outputs:" if self.outputs else "outputs: none (writes files)")
        for p in self.outputs:
            lines.append(f"  {p.name:<16} {p.type}  {p.doc}".rstrip())
        lines.append("params:" if self.params else "params: none")
        for p in self.params:
            extra = []
            if p.choices:
                extra.append("one of " + "|".join(map(str, p.choices)))
            if p.min is not None or p.max is not None:
                lo = "" if p.min is None else f"{p.min:g}"
                hi = "" if p.max is None else f"{p.max:g}"
                extra.append(f"range {lo}..{hi}")
            if p.io:
                extra.append(p.io_text())
            tail = f" [{'; '.join(extra)}]" if extra else ""
            lines.append(f"  {p.name:<16} {p.type} = {json.dumps(p.default)}{tail}")
            if p.doc:
                lines.append(f"  {'':<16} {p.doc}")
        lines.append(f"frames: {self.temporal_text()}")
        lines.append(f"origin: {self.origin}")
        return "\n".join(lines)


def node(id: str, *, category: str = "other", doc: str = "", version: int = 1,
         inputs=(), outputs=(), params=(), gpu: bool = False,
         preflight: Callable | None = None, fingerprint: Callable | None = None,
         temporal: Temporal | Callable[[dict], Temporal] = WHOLE) -> Callable[[Callable], NodeType]:
    """Decorator: turn a render function into a `NodeType`.

    The render function is called as `render(ctx, **inputs, **params)` and
    returns {output name: value}, or the bare value when there is one output.
    A node declaring a `temporal` other than whole renders the output frames
    `ctx.frames_wanted` lists, in order, and may read any input frame.
    """

    def wrap(fn: Callable) -> NodeType:
        nt = NodeType(id=id, render=fn, category=category, doc=doc or (inspect.getdoc(fn) or "").split("\n")[0],
                      version=version, inputs=inputs, outputs=outputs, params=params, gpu=gpu,
                      origin=f"{fn.__module__}", preflight=preflight, fingerprint=fingerprint,
                      temporal=temporal)
        sig = inspect.signature(fn)
        takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        if not takes_kwargs:
            missing = [n for n in (*(p.name for p in nt.inputs), *(p.name for p in nt.params)) if n not in sig.parameters]
            if missing:
                raise ValueError(f"{id}: render function {fn.__name__} has no argument for {', '.join(missing)}")
        return nt

    return wrap
