"""Graphs: the JSON file format, validation and the Python API.

A graph file is data only: node ids, type ids, params and connections.
Loading it never imports or runs anything named in it. Saving writes sorted
keys with a 2-space indent, so a load and a save give back the same bytes.
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import networkx as nx

from . import paths
from .atomic import write_text_atomic
from .errors import GraphError, Problem
from .registry import Registry, default_registry

FORMAT = "inpainterz-graph"
VERSION = 1

# Migration hooks: MIGRATIONS[v] turns a version-v document into version v+1.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

# The id rules, used by every front end: a node id starts with a letter or '_', then letters,
# digits, '_' or '-'; an input refers to "node.output". Matched with fullmatch: `$` would
# also accept a trailing newline.
_REF = re.compile(r"([A-Za-z_][\w\-]*)\.([A-Za-z_]\w*)")
_NODE_ID = re.compile(r"[A-Za-z_][\w\-]*")

# Limits on graph text, so a hostile or broken file gives a GraphError, not a
# RecursionError deep in the parser or a slow giant integer.
MAX_DEPTH = 64
MAX_INT_DIGITS = 32
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')


def parse_graph_text(text: str, source: str | None = None) -> Any:
    """The JSON document of a graph file; GraphError for anything a graph file cannot be."""
    depth = deepest = 0
    for ch in _STRINGS.sub("", text):
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    raise GraphError([Problem(f"the JSON is nested more than {MAX_DEPTH} levels deep; "
                                              f"a graph file needs far fewer")], source)
        elif ch in "]}":
            depth -= 1

    def pairs(items: list) -> dict:
        seen = {}
        for key, value in items:
            if key in seen:
                raise GraphError([Problem(f"the key {key!r} appears twice in one object; keep one "
                                          f"(the JSON gives no way to tell which was meant)")], source)
            seen[key] = value
        return seen

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise GraphError([Problem(f"an integer with {len(digits.lstrip('-'))} digits is too large "
                                      f"(at most {MAX_INT_DIGITS})")], source)
        return int(digits)

    def constant(name: str):
        raise GraphError([Problem(f"{name} is not a JSON number; write a finite number")], source)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise GraphError([Problem(f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")],
                         source) from None
    except RecursionError:
        raise GraphError([Problem("the JSON is nested too deeply")], source) from None


def is_node_id(text) -> bool:
    return isinstance(text, str) and bool(_NODE_ID.fullmatch(text))


def parse_ref(ref) -> tuple[str, str] | None:
    """(node, output) of an input reference "node.output", or None if it is not one."""
    m = _REF.fullmatch(ref) if isinstance(ref, str) else None
    return (m.group(1), m.group(2)) if m else None


def new_node_id(type_id: str, taken) -> str:
    """A readable id for a new node of `type_id` that is not in `taken`: dilate_mask1, dilate_mask2, ..."""
    stem = re.sub(r"(?<!^)(?=[A-Z])", "_", type_id).lower()
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def migrate(doc: dict, source: str | None = None) -> dict:
    """Bring a graph document up to the current format version, one step at a time."""
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise GraphError([Problem(f"'version' must be a positive integer, got {version!r}")], source)
    if version > VERSION:
        raise GraphError([Problem(f"graph format version {version} is newer than this inpainterz reads "
                                  f"(up to {VERSION}); upgrade inpainterz")], source)
    while doc["version"] < VERSION:
        step = MIGRATIONS.get(doc["version"])
        if step is None:
            raise GraphError([Problem(f"no migration from graph format version {doc['version']}")], source)
        doc = step(copy.deepcopy(doc))
    return doc


@dataclass
class NodeSpec:
    type: str
    params: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)  # port -> "node.output"
    extra: dict = field(default_factory=dict)  # unknown keys, kept for round trips

    def to_json(self) -> dict:
        d = dict(self.extra)
        d["type"] = self.type
        if self.params:
            d["params"] = dict(self.params)
        if self.inputs:
            d["inputs"] = dict(self.inputs)
        return d


@dataclass(frozen=True)
class OutputRef:
    """One output of one node, e.g. `read.frames` in the Python API."""

    node: str
    output: str

    def __str__(self) -> str:
        return f"{self.node}.{self.output}"


class NodeRef:
    """A handle on a node of a graph built in Python; outputs are attributes."""

    def __init__(self, graph: "Graph", node_id: str):
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "id", node_id)

    def __getattr__(self, name: str) -> OutputRef:
        if name.startswith("_"):
            raise AttributeError(name)
        spec = self._graph.nodes[self.id]
        nt = self._graph.registry.get(spec.type)
        if nt is not None and nt.output(name) is None:
            outs = ", ".join(o.name for o in nt.outputs) or "none"
            raise AttributeError(f"node '{self.id}' ({spec.type}) has no output '{name}' (outputs: {outs})")
        return OutputRef(self.id, name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._graph.set(self.id, **{name: value})

    def set(self, **values) -> "NodeRef":
        self._graph.set(self.id, **values)
        return self

    @property
    def params(self) -> dict:
        return self._graph.nodes[self.id].params

    def __repr__(self) -> str:
        return f"<node '{self.id}' ({self._graph.nodes[self.id].type})>"


class Graph:
    """A node graph. Build it in Python, or load it from a graph file."""

    def __init__(self, registry: Registry | None = None, base_dir: str | Path | None = None):
        self.nodes: dict[str, NodeSpec] = {}
        self.ui: dict = {}
        self.extra: dict = {}
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.path: Path | None = None
        self._registry = registry

    @property
    def registry(self) -> Registry:
        return self._registry or default_registry()

    # ------------------------------------------------------------ building

    def add(self, type_id: str, id: str | None = None, **values) -> NodeRef:
        """Add a node. OutputRef values become inputs; the rest are params."""
        node_id = id or self._new_id(type_id)
        if node_id in self.nodes:
            raise ValueError(f"node id '{node_id}' is already in the graph")
        if not isinstance(node_id, str) or not _NODE_ID.fullmatch(node_id):
            raise ValueError(f"node id {node_id!r} must start with a letter and hold only letters, digits, '_' and '-'")
        self.nodes[node_id] = NodeSpec(type_id)
        self.set(node_id, **values)
        return NodeRef(self, node_id)

    def set(self, node_id: str, **values) -> None:
        spec = self.nodes[node_id]
        nt = self.registry.get(spec.type)
        for name, value in values.items():
            if isinstance(value, NodeRef):
                raise ValueError(f"{name}={value!r}: pass one of its outputs, like {value.id}.<output>")
            is_input = isinstance(value, OutputRef) or (nt is not None and nt.input(name) is not None)
            if is_input:
                if value is None:
                    spec.inputs.pop(name, None)
                else:
                    spec.inputs[name] = str(value)
            elif value is None:
                spec.params.pop(name, None)
            else:
                spec.params[name] = value

    def connect(self, src: OutputRef | str, node_id: str, port: str) -> None:
        self.nodes[node_id].inputs[port] = str(src)

    def remove(self, node_id: str) -> None:
        del self.nodes[node_id]
        self.ui.pop(node_id, None)

    def node(self, node_id: str) -> NodeRef:
        return NodeRef(self, node_id)

    def _new_id(self, type_id: str) -> str:
        return new_node_id(type_id, self.nodes)

    # ------------------------------------------------------------ structure

    def edges(self) -> list[tuple[str, str, str, str]]:
        """(source node, output, target node, input port) for each connection."""
        out = []
        for nid, spec in self.nodes.items():
            for port, ref in spec.inputs.items():
                m = _REF.fullmatch(ref) if isinstance(ref, str) else None
                if m:
                    out.append((m.group(1), m.group(2), nid, port))
        return out

    def dag(self) -> nx.DiGraph:
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for src, _, dst, _ in self.edges():
            if src in self.nodes:
                g.add_edge(src, dst)
        return g

    def resolve_path(self, value: str) -> Path:
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else (self.base_dir / p)

    # ------------------------------------------------------------ files

    @classmethod
    def from_json(cls, doc: Any, base_dir: str | Path | None = None, source: str | None = None,
                  registry: Registry | None = None) -> "Graph":
        problems = []
        if not isinstance(doc, dict):
            raise GraphError([Problem("a graph file holds a JSON object")], source)
        if doc.get("format") != FORMAT:
            problems.append(Problem(f"'format' must be \"{FORMAT}\", got {doc.get('format')!r}"))
        if problems:
            raise GraphError(problems, source)
        doc = migrate(doc, source)
        g = cls(registry=registry, base_dir=base_dir)
        nodes = doc.get("nodes", {})
        if not isinstance(nodes, dict):
            raise GraphError([Problem("'nodes' must be an object of node id -> node")], source)
        for nid, nd in nodes.items():
            if not _NODE_ID.fullmatch(nid):
                problems.append(Problem(f"node id {nid!r}: a node id starts with a letter and holds only letters, "
                                        f"digits, '_' and '-'"))
                continue
            if not isinstance(nd, dict) or not isinstance(nd.get("type"), str):
                problems.append(Problem("each node needs a \"type\" string", nid))
                continue
            params, inputs = nd.get("params", {}), nd.get("inputs", {})
            if not isinstance(params, dict):
                problems.append(Problem("'params' must be an object", nid, nd["type"]))
                params = {}
            if not isinstance(inputs, dict):
                problems.append(Problem("'inputs' must be an object of port -> \"node.output\"", nid, nd["type"]))
                inputs = {}
            extra = {k: v for k, v in nd.items() if k not in ("type", "params", "inputs")}
            g.nodes[nid] = NodeSpec(nd["type"], dict(params), dict(inputs), extra)
        if problems:
            raise GraphError(problems, source)
        ui = doc.get("ui", {})
        g.ui = ui if isinstance(ui, dict) else {}
        g.extra = {k: v for k, v in doc.items() if k not in ("format", "version", "nodes", "ui")}
        return g

    @classmethod
    def load(cls, path: str | Path, registry: Registry | None = None) -> "Graph":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GraphError([Problem("no such graph file; check the path")], str(path)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise GraphError([Problem(f"cannot read the graph file: {exc}")], str(path)) from None
        doc = parse_graph_text(text, str(path))
        g = cls.from_json(doc, base_dir=path.resolve().parent, source=str(path), registry=registry)
        g.path = path
        return g

    def to_json(self) -> dict:
        doc = dict(self.extra)
        doc.update(format=FORMAT, version=VERSION, nodes={nid: s.to_json() for nid, s in self.nodes.items()})
        ui = {k: v for k, v in self.ui.items() if k in self.nodes}
        if ui:
            doc["ui"] = ui
        return doc

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write the graph file atomically (temp file, then rename)."""
        path = write_text_atomic(path, self.dumps())
        if self.path is None:
            self.base_dir = path.resolve().parent
        self.path = path
        return path

    # ------------------------------------------------------------ params

    def apply_sets(self, assignments: list[str], cwd: Path | None = None) -> None:
        """Apply `NODE.PARAM=VALUE` strings, parsed by each param's type.

        Path values from the command line resolve against the working
        directory, so they are stored absolute.
        """
        problems = []
        cwd = cwd or Path.cwd()
        for text in assignments:
            target, sep, raw = text.partition("=")
            m = _REF.fullmatch(target.strip())
            if not sep or not m:
                problems.append(Problem(f"--set {text!r}: expected NODE.PARAM=VALUE"))
                continue
            nid, pname = m.groups()
            spec = self.nodes.get(nid)
            if spec is None:
                problems.append(Problem(f"--set {text!r}: no node '{nid}' in the graph{_suggest(nid, self.nodes)}"))
                continue
            nt = self.registry.get(spec.type)
            if nt is None:
                problems.append(Problem(f"unknown node type '{spec.type}'", nid))
                continue
            param = nt.param(pname)
            if param is None:
                names = [p.name for p in nt.params]
                problems.append(Problem(f"no such param{_suggest(pname, names)} (params: {', '.join(names) or 'none'})",
                                        nid, spec.type, f"--set param '{pname}'"))
                continue
            value, err = param.parse(raw)
            if err:
                problems.append(Problem(err, nid, spec.type, f"--set param '{pname}'"))
                continue
            if param.type == "path" and value:
                p = Path(os.path.expanduser(value))
                value = str(p if p.is_absolute() else (cwd / p))
            spec.params[pname] = value
        if problems:
            raise GraphError(problems)

    def params_of(self, node_id: str) -> dict:
        """The node's params with defaults filled in and paths resolved (for rendering)."""
        spec = self.nodes[node_id]
        nt = self.registry.get(spec.type)
        out = nt.defaults()
        out.update(spec.params)
        for p in nt.params:
            if out.get(p.name) is not None:
                # The value as validate converts it (4.0 for an int param is 4), so run sees what validate saw.
                converted, err = p.validate(out[p.name])
                if not err:
                    out[p.name] = converted
            if p.type == "path" and out.get(p.name):
                out[p.name] = self.resolve_path(out[p.name])
        return out

    # ------------------------------------------------------------ validation

    def validate(self, check_files: bool = True, config=None) -> list[Problem]:
        """Every problem in the graph, one per line: types, params, ports, cycles, files.

        `config` (a RunConfig) is what the nodes' preflight hooks check against:
        the checkpoint folders of the run.
        """
        problems: list[Problem] = []
        reg = self.registry
        for nid, spec in self.nodes.items():
            nt = reg.get(spec.type)
            if nt is None:
                known = [t.id for t in reg]
                problems.append(Problem(f"unknown node type '{spec.type}'{_suggest(spec.type, known)}; "
                                        f"`inpainterz nodes` lists the types", nid))
                continue
            if spec.type in reg.clashes:
                problems.append(Problem(f"node type '{spec.type}' is defined twice: "
                                        f"{' and '.join(reg.clashes[spec.type])}; rename one", nid, spec.type))
            for pname, value in spec.params.items():
                param = nt.param(pname)
                if param is None:
                    names = [p.name for p in nt.params]
                    problems.append(Problem(f"unknown param{_suggest(pname, names)} (params: {', '.join(names) or 'none'})",
                                            nid, spec.type, f"param '{pname}'"))
                    continue
                _, err = param.validate(value)
                if err:
                    problems.append(Problem(err, nid, spec.type, f"param '{pname}'"))
            for port, ref in spec.inputs.items():
                inp = nt.input(port)
                if inp is None:
                    names = [p.name for p in nt.inputs]
                    problems.append(Problem(f"unknown input{_suggest(port, names)} (inputs: {', '.join(names) or 'none'})",
                                            nid, spec.type, f"input '{port}'"))
                    continue
                m = _REF.fullmatch(ref) if isinstance(ref, str) else None
                if not m:
                    problems.append(Problem(f"expected \"node.output\", got {ref!r}", nid, spec.type, f"input '{port}'"))
                    continue
                src, out = m.groups()
                if src not in self.nodes:
                    problems.append(Problem(f"refers to '{ref}' but there is no node '{src}'{_suggest(src, self.nodes)}",
                                            nid, spec.type, f"input '{port}'"))
                    continue
                snt = reg.get(self.nodes[src].type)
                if snt is None:
                    continue  # reported on the source node itself
                sout = snt.output(out)
                if sout is None:
                    names = [o.name for o in snt.outputs]
                    problems.append(Problem(f"refers to '{ref}' but {self.nodes[src].type} has no output '{out}' "
                                            f"(outputs: {', '.join(names) or 'none'})", nid, spec.type, f"input '{port}'"))
                elif sout.type != inp.type:
                    problems.append(Problem(f"'{ref}' gives {sout.type} but this input takes {inp.type}",
                                            nid, spec.type, f"input '{port}'"))
            for inp in nt.inputs:
                if not inp.optional and inp.name not in spec.inputs:
                    problems.append(Problem(f"required input is not connected (it takes {inp.type})",
                                            nid, spec.type, f"input '{inp.name}'"))
            if check_files:
                problems += self._file_problems(nid, spec, nt)
                problems += self._preflight_problems(nid, spec, nt, config)
        if check_files:
            problems += self._overwrite_problems(list(self.nodes))
        for cycle in _cycles(self.dag()):
            problems.append(Problem("the graph has a cycle: " + " -> ".join(cycle + [cycle[0]])))
        return problems

    def _preflight_problems(self, nid: str, spec: NodeSpec, nt, config) -> list[Problem]:
        """What the node's own preflight hook finds (a missing checkpoint), before anything runs."""
        if nt.preflight is None:
            return []
        if config is None:
            from .config import RunConfig

            config = RunConfig()
        try:
            found = nt.preflight(self.params_of(nid), config) or ()
        except Exception as exc:  # a hook must not hide the other problems
            found = [f"could not check this node before running: {type(exc).__name__}: {exc}"]
        return [Problem(str(msg), nid, spec.type) for msg in found]

    def _path_params(self, nid: str, spec: NodeSpec, nt) -> Iterator[tuple[Any, Path]]:
        for p in nt.params:
            value = spec.params.get(p.name, p.default)
            if p.type == "path" and value and isinstance(value, str):
                yield p, self.resolve_path(value)

    def _file_problems(self, nid: str, spec: NodeSpec, nt) -> list[Problem]:
        out = []
        for p, path in self._path_params(nid, spec, nt):
            where = f"param '{p.name}'"
            bad_name = paths.name_problem(path)
            if bad_name:
                out.append(Problem(bad_name, nid, spec.type, where))
                continue
            try:
                out += self._path_problems(p, path, nid, spec, where)
            except OSError as exc:
                out.append(Problem(f"cannot use {path}: {exc.strerror or exc}", nid, spec.type, where))
        return out

    def _path_problems(self, p, path: Path, nid: str, spec: NodeSpec, where: str) -> list[Problem]:
        if p.io == "read":
            if p.kind == "pattern" or "%" in path.name or "*" in path.name:
                if paths.has_frame_placeholder(path.name) and not path.parent.is_dir():
                    return [Problem(f"folder {path.parent} does not exist", nid, spec.type, where)]
                if not paths.has_frame_placeholder(path.name) and not path.exists():
                    return [Problem(f"{path} does not exist", nid, spec.type, where)]
            elif not path.exists():
                return [Problem(f"file {path} does not exist", nid, spec.type, where)]
            elif p.kind == "file":
                what = paths.not_regular(path)
                if what:
                    return [Problem(f"{path} is {what}, not a file to read; give a regular file",
                                    nid, spec.type, where)]
            return []
        probe = path.parent if p.kind != "dir" else path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return [Problem(f"cannot write {path}: {probe} is a file, not a folder", nid, spec.type, where)]
        if not os.access(probe, os.W_OK):
            return [Problem(f"cannot write {path}: folder {probe} is not writable", nid, spec.type, where)]
        if p.kind == "file" and path.exists():
            what = paths.not_regular(path)
            if what and what != "a folder":  # a folder is the writer's own, clearer message
                return [Problem(f"cannot write {path}: it is {what}", nid, spec.type, where)]
        return []

    def _overwrite_problems(self, nodes: list[str]) -> list[Problem]:
        """An output that would replace a file the graph reads: refused, or a run would destroy its input."""
        reg = self.registry
        reads, writes = [], []
        for nid in nodes:
            spec = self.nodes[nid]
            nt = reg.get(spec.type)
            if nt is None:
                continue
            for p, path in self._path_params(nid, spec, nt):
                if paths.name_problem(path):
                    continue
                (reads if p.io == "read" else writes).append((nid, spec.type, p, path))
        problems = []
        for wid, wtype, wp, wpath in writes:
            for rid, rtype, rp, rpath in reads:
                hit = next((f for f in paths.files_read(rpath, rp.kind) if paths.writes_over(wpath, wp.kind, f)), None)
                if hit is not None:
                    problems.append(Problem(
                        f"would write over {hit}, which node '{rid}' ({rtype}) param '{rp.name}' reads; "
                        f"choose another output path", wid, wtype, f"param '{wp.name}'"))
        return problems

    def check(self, check_files: bool = True, config=None) -> None:
        problems = self.validate(check_files=check_files, config=config)
        if problems:
            raise GraphError(problems, str(self.path) if self.path else None)

    # ------------------------------------------------------------ running

    def run(self, *targets, **options):
        """Run the graph (or what `targets` need) and return the run result.

        Targets are node refs or output refs; options are those of
        `inpainterz.engine.executor.run_graph` (cache_dir, device, jobs, ...).
        """
        from .executor import run_graph

        return run_graph(self, targets=[_target_id(t) for t in targets] or None, **options)

    def output(self, ref: OutputRef, **options):
        """Run what one output needs and return its value."""
        result = self.run(ref, **options)
        return result.value(ref.node, ref.output)


def _target_id(t) -> str:
    if isinstance(t, NodeRef):
        return t.id
    if isinstance(t, OutputRef):
        return t.node
    return str(t)


def _suggest(name: str, options) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _cycles(dag: nx.DiGraph, limit: int = 10) -> list[list[str]]:
    out = []
    for comp in nx.strongly_connected_components(dag):
        if len(comp) > 1 or any(dag.has_edge(n, n) for n in comp):
            sub = dag.subgraph(comp)
            cycle = nx.find_cycle(sub)
            out.append([u for u, _ in cycle])
            if len(out) >= limit:
                break
    return sorted(out)
