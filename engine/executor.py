"""The caching executor: runs the nodes a request needs, each at most once.

The scheduler is a plain loop in the spirit of `dask/local.py`: the main
thread keeps the state (waiting, ready, running, finished), decides cache
hits, and hands renders to a thread pool. A node's cache key is a hash of its
type id and version, its params, the fingerprints of the files it reads, and
the data-versions of its inputs. Its outputs' data-versions are content
hashes, so a re-run that gives the same content stops invalidation there.
"""
from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import networkx as nx

from . import data
from .cache import Cache
from .config import RunConfig
from .data import digest
from .devices import device_lock, resolve_device
from .errors import BadInput, Cancelled, GraphError, NodeFailed, Problem, is_disk_full
from .fingerprint import fingerprint_path

ENGINE_KEY_VERSION = 1


@dataclass
class Event:
    """A progress event: queued, running (with fraction), done, cached, failed, skipped, note, frame.

    A "frame" event says a node has finished output frame `frame`, with that
    frame's data in `value` (a viewer shows it before the node is done).
    """

    kind: str
    node: str
    type: str
    fraction: float | None = None
    message: str | None = None
    seconds: float | None = None
    frame: int | None = None
    value: Any = None


@dataclass
class NodeReport:
    id: str
    type: str
    status: str = "pending"  # ran | cached | failed | skipped
    seconds: float = 0.0
    key: str | None = None
    error: str | None = None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)
    traceback: str | None = None

    def to_json(self) -> dict:
        d = {"type": self.type, "status": self.status, "seconds": round(self.seconds, 4), "key": self.key}
        if self.error:
            d["error"] = self.error
        if self.notes:
            d["notes"] = self.notes
        return d


class RunResult:
    def __init__(self, nodes: dict[str, NodeReport], seconds: float, cancelled: bool, values: dict, cache: Cache):
        self.nodes, self.seconds, self.cancelled = nodes, seconds, cancelled
        self._values, self.cache = values, cache

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(r.status in ("ran", "cached") for r in self.nodes.values())

    @property
    def failed(self) -> list[NodeReport]:
        return [r for r in self.nodes.values() if r.status == "failed"]

    def status(self, node: str) -> str:
        return self.nodes[node].status

    def ran(self) -> set[str]:
        return {n for n, r in self.nodes.items() if r.status == "ran"}

    def value(self, node: str, output: str):
        """An output's value: a lazy clip backed by the cache, or small data."""
        loader = self._values.get((node, output))
        if loader is None:
            raise KeyError(f"no value for {node}.{output} (the node did not run or was not requested)")
        return loader()

    def exit_code(self) -> int:
        if self.cancelled:
            return 130
        codes = [r.exit_code for r in self.failed]
        return max(codes) if codes else 0

    def report(self) -> dict:
        return {"nodes": {n: r.to_json() for n, r in self.nodes.items()}, "seconds": round(self.seconds, 4)}


class Context:
    """What a render function gets besides its inputs and params; `config` is the run's configuration."""

    def __init__(self, node_id: str, type_id: str, device: str, workdir: Path,
                 emit: Callable[[Event], None], config: RunConfig, report: NodeReport):
        self.node_id, self.type_id, self.device = node_id, type_id, device
        self.config = config
        self.workdir = workdir / "scratch"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._data_dir = workdir / "data"
        self._emit, self._cancel, self._report = emit, config.cancel, report
        self._last_emit = 0.0
        self._last_fraction = -1.0
        self._n_writers = 0

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def progress(self, fraction: float, note: str | None = None) -> None:
        """Report progress in [0, 1]; raises Cancelled when the user stopped the run."""
        self.check_cancelled()
        now = time.monotonic()
        # Rate-limit events: a bar redrawn a thousand times a second helps nobody.
        if note or now - self._last_emit > 0.1 or fraction >= 1.0 and self._last_fraction < 1.0:
            self._last_emit, self._last_fraction = now, fraction
            self._emit(Event("running", self.node_id, self.type_id, max(0.0, min(1.0, float(fraction))), note))

    def frame_done(self, index: int, value=None) -> None:
        """Publish a finished output frame (its index, and its data for a viewer); costs nothing unwatched."""
        self._emit(Event("frame", self.node_id, self.type_id, frame=int(index), value=value))

    def note(self, message: str) -> None:
        self._report.notes.append(message)
        self._emit(Event("note", self.node_id, self.type_id, message=message))

    def _writer_dir(self) -> Path:
        self._n_writers += 1
        return self._data_dir / f"w{self._n_writers}"

    def new_frames(self, height: int, width: int, fps: Fraction, source: data.SourceInfo | None = None) -> data.ClipWriter:
        return data.frames_writer(self._writer_dir(), height, width, fps, source)

    def new_masks(self, height: int, width: int) -> data.ClipWriter:
        return data.masks_writer(self._writer_dir(), height, width)

    @property
    def models(self):
        return self.config.model_manager()


def _normalise_outputs(nt, result) -> dict:
    """Render's return value as {output name: value}."""
    if result is None:
        result = {}
    elif type(result) is not dict:  # a bare value (Boxes and KeyMasks are dict subclasses, not output maps)
        if len(nt.outputs) != 1:
            raise TypeError(f"render returned one value but the node has {len(nt.outputs)} outputs; return a dict")
        result = {nt.outputs[0].name: result}
    missing = [o.name for o in nt.outputs if o.name not in result]
    if missing:
        raise TypeError(f"render returned no value for output(s) {', '.join(missing)}")
    return result


def _canonical(value):
    if isinstance(value, Path):
        return str(value)
    return value


def node_key(nt, params: dict, input_versions: dict, extra: Any) -> str:
    files = {p.name: fingerprint_path(params[p.name]) for p in nt.params
             if p.type == "path" and p.io == "read" and params.get(p.name)}
    return digest("node", ENGINE_KEY_VERSION, nt.id, nt.version,
                  {k: _canonical(v) for k, v in sorted(params.items())},
                  dict(sorted(input_versions.items())), files, extra)


def key_for(nt, params: dict, upstream: list[tuple[str, str, str]], versions: dict, config: RunConfig) -> str:
    """A node's cache key, once the data-versions of its inputs are known."""
    ins = {port: versions[(src, out)] for port, src, out in upstream}
    extra = nt.fingerprint(params, config) if nt.fingerprint else None
    return node_key(nt, params, ins, extra)


def upstream_of(graph, nodes) -> dict[str, list[tuple[str, str, str]]]:
    """{node: [(input port, source node, source output)]} for the given nodes."""
    ups: dict[str, list[tuple[str, str, str]]] = {n: [] for n in nodes}
    for src, out, dst, port in graph.edges():
        if dst in ups:
            ups[dst].append((port, src, out))
    return ups


def cached_entries(graph, node_id: str, cache: Cache, config: RunConfig | None = None) -> dict | None:
    """{node: cache Entry} for `node_id` and its ancestors when all are cached, else None.

    Renders nothing: this is how a viewer finds results of an earlier run or
    another process. `config` gives the checkpoint folders the keys depend on.
    """
    config = config or RunConfig(cache=cache)
    if node_id not in graph.nodes:
        return None
    dag = graph.dag()
    try:
        needed = nx.ancestors(dag, node_id) | {node_id}
        order = [n for n in nx.topological_sort(dag) if n in needed]
    except nx.NetworkXUnfeasible:
        return None
    upstream = upstream_of(graph, order)
    versions: dict[tuple[str, str], str] = {}
    entries = {}
    for n in order:
        nt = graph.registry.get(graph.nodes[n].type)
        if nt is None:
            return None
        try:
            key = key_for(nt, graph.params_of(n), upstream[n], versions, config)
        except Exception:  # a half-edited graph: nothing to find yet
            return None
        entry = cache.lookup(key)
        if entry is None or not _usable(entry.meta):
            return None
        for name, meta in entry.meta.get("outputs", {}).items():
            versions[(n, name)] = meta["version"]
        entries[n] = entry
    return entries


def _writes_fingerprint(nt, params: dict) -> dict:
    out = {}
    for p in nt.params:
        if p.type == "path" and p.io == "write" and params.get(p.name):
            out[str(params[p.name])] = fingerprint_path(params[p.name], recursive=True)
    return out


def _usable(meta: dict) -> bool:
    """Whether a cache entry may stand for a render: its files intact, its clips readable here."""
    return _writes_intact(meta) and data.readers_known(meta)


def _writes_intact(meta: dict) -> bool:
    """A sink's cached result counts only while the files it wrote are still there, unchanged."""
    for path, recorded in meta.get("writes", {}).items():
        if not recorded or fingerprint_path(path, recursive=True) != recorded:
            return False
    return True


def run_graph(graph, targets: list[str] | None = None, *, config: RunConfig | None = None,
              cache_dir: str | Path | None = None, cache_size: int | str | None = None, cache: Cache | None = None,
              device: str = "auto", jobs: int = 1, no_cache: bool = False,
              on_event: Callable[[Event], None] | None = None, cancel: threading.Event | None = None,
              check_files: bool = True) -> RunResult:
    """Run `graph` (or the nodes `targets` need). Raises GraphError before anything runs.

    The run's settings come as one `config`, or, without one, as the keywords
    cache_dir, cache_size, cache, device, jobs, no_cache and cancel.
    """
    t_start = time.perf_counter()
    if config is None:
        config = RunConfig(cache=cache, device=device, jobs=jobs, no_cache=no_cache,
                           cancel=cancel or threading.Event())
    problems = graph.validate(check_files=check_files, config=config)
    if targets:
        unknown = [t for t in targets if t not in graph.nodes]
        problems += [Problem(f"no node '{t}' to run") for t in unknown]
    if problems:
        raise GraphError(problems, str(graph.path) if graph.path else None)
    if config.cache is None:
        config = config.with_(cache=Cache(cache_dir, cache_size))
    cache, device, jobs, no_cache, cancel = config.cache, config.device, config.jobs, config.no_cache, config.cancel

    reg = graph.registry
    dag = graph.dag()
    needed: set[str] = set(graph.nodes) if not targets else set()
    for t in targets or ():
        needed |= {t} | nx.ancestors(dag, t)
    order = [n for n in nx.topological_sort(dag) if n in needed]
    types = {n: reg.get(graph.nodes[n].type) for n in order}
    params = {n: graph.params_of(n) for n in order}

    emit_lock = threading.Lock()

    def emit(ev: Event) -> None:
        if on_event is not None:
            with emit_lock:
                on_event(ev)

    reports = {n: NodeReport(n, types[n].id) for n in order}
    upstream = upstream_of(graph, order)
    downstream: dict[str, set[str]] = {n: set() for n in order}
    for n in order:
        for _, src, _ in upstream[n]:
            downstream[src].add(n)

    versions: dict[tuple[str, str], str] = {}  # (node, output) -> data-version
    entries: dict[str, Any] = {}  # node -> committed cache Entry
    values: dict[tuple[str, str], Callable[[], Any]] = {}
    pinned: set[str] = set()
    loaded: dict[tuple[str, str], Any] = {}
    load_lock = threading.Lock()

    def load(node: str, output: str):
        with load_lock:
            if (node, output) not in loaded:
                entry = entries[node]
                loaded[(node, output)] = data.load_value(entry.meta["outputs"][output], entry.path)
            return loaded[(node, output)]

    def finish(node: str, entry) -> None:
        entries[node] = entry
        pinned.add(entry.key)
        for name, meta in entry.meta["outputs"].items():
            versions[(node, name)] = meta["version"]
            values[(node, name)] = lambda node=node, name=name: load(node, name)

    gpu_device: str | None = None

    def device_for(nt) -> str:
        nonlocal gpu_device
        if not nt.gpu:
            return "cpu"
        if gpu_device is None:
            gpu_device = resolve_device(device)
        return gpu_device

    def render(node: str, key: str, dev: str) -> Any:
        nt, rep = types[node], reports[node]
        pending = cache.begin(key)
        lock = device_lock(dev) if nt.gpu else None
        try:
            if lock is not None:
                while not lock.acquire(timeout=0.1):
                    if cancel.is_set():
                        raise Cancelled()
            try:
                emit(Event("running", node, nt.id, 0.0))
                t0 = time.perf_counter()
                ctx = Context(node, nt.id, dev, pending.path, emit, config, rep)
                kwargs = dict(params[node])
                for inp in nt.inputs:
                    kwargs[inp.name] = None
                for port, src, out in upstream[node]:
                    kwargs[port] = load(src, out)
                result = _normalise_outputs(nt, nt.render(ctx, **kwargs))
                ctx.check_cancelled()
                out_meta = {o.name: data.save_value(o.type, result[o.name], pending.path, o.name) for o in nt.outputs}
                rep.seconds = time.perf_counter() - t0
            finally:
                if lock is not None:
                    lock.release()
            meta = {"node": node, "type": nt.id, "outputs": out_meta, "seconds": rep.seconds,
                    "writes": _writes_fingerprint(nt, params[node]), "notes": rep.notes}
            return cache.commit(pending, meta)
        except BaseException:
            cache.abort(pending)
            raise

    remaining_inputs = {n: len({src for _, src, _ in upstream[n]}) for n in order}
    ready = [n for n in order if remaining_inputs[n] == 0]
    for n in order:
        emit(Event("queued", n, types[n].id))
    running: dict[Future, str] = {}
    inflight: set[str] = set()  # keys being rendered now
    produced: dict[str, Any] = {}  # key -> entry committed by this run
    looked_up: set[str] = set()  # nodes whose key the cache has already been asked for
    busy_devices: set[str] = set()
    cancelled = False
    slots = max(1, jobs)

    def mark_skipped(node: str, reason: str) -> None:
        for d in [node] + sorted(nx.descendants(dag, node) & needed):
            r = reports[d]
            if r.status == "pending":
                r.status, r.error = "skipped", reason
                emit(Event("skipped", d, r.type, message=reason))

    def release(node: str) -> None:
        for d in sorted(downstream[node], key=order.index):
            remaining_inputs[d] -= 1
            if remaining_inputs[d] == 0 and reports[d].status == "pending":
                ready.append(d)

    def fail(node: str, exc: BaseException) -> None:
        rep = reports[node]
        rep.status = "failed"
        rep.exit_code = 2 if isinstance(exc, BadInput) else 1
        if is_disk_full(exc):
            # Outputs report their own full disk; what reaches here was written to the cache.
            where = f" while writing {exc.filename or cache.root}"
            exc = BadInput(f"the disk is full{where}; free some space or point --cache-dir at a larger disk "
                           f"(nothing half-written is kept)")
            rep.exit_code = 2
        rep.error = str(NodeFailed(node, rep.type, exc))
        rep.traceback = "".join(traceback.format_exception(exc))
        emit(Event("failed", node, rep.type, message=rep.error))
        mark_skipped(node, f"upstream node '{node}' failed")

    def dispatch() -> None:
        """Settle cache hits and start renders until nothing more can start now."""
        progress = True
        while progress and not cancelled:
            progress = False
            for node in list(ready):
                nt, rep = types[node], reports[node]
                if rep.key is None:
                    rep.key = key_for(nt, params[node], upstream[node], versions, config)
                if rep.key in inflight:
                    continue  # an identical node is rendering: wait and reuse its result
                entry = produced.get(rep.key)
                if entry is None and not no_cache and node not in looked_up:
                    # Once per node: a node waiting for a free slot must not re-read the cache every tick.
                    looked_up.add(node)
                    entry = cache.lookup(rep.key)
                if entry is not None and _usable(entry.meta):
                    ready.remove(node)
                    rep.status, rep.notes = "cached", list(entry.meta.get("notes", []))
                    finish(node, entry)
                    emit(Event("cached", node, nt.id, 1.0))
                    release(node)
                    progress = True
                    continue
                if len(running) >= slots:
                    continue
                try:
                    dev = device_for(nt)
                except ValueError as exc:
                    ready.remove(node)
                    fail(node, BadInput(str(exc)))
                    continue
                if nt.gpu and dev in busy_devices:
                    continue
                if nt.gpu:
                    busy_devices.add(dev)
                ready.remove(node)
                inflight.add(rep.key)
                running[pool.submit(render, node, rep.key, dev)] = node

    pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="inpainterz-node")
    try:
        while True:
            cancelled = cancelled or cancel.is_set()
            dispatch()
            if not running:
                break
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                node = running.pop(fut)
                nt, rep = types[node], reports[node]
                inflight.discard(rep.key)
                if nt.gpu:
                    busy_devices.discard(device_for(nt))
                try:
                    entry = fut.result()
                except Cancelled:
                    rep.status, rep.error = "skipped", "cancelled"
                    cancelled = True
                    emit(Event("skipped", node, nt.id, message="cancelled"))
                    continue
                except BaseException as exc:  # a failing node must not stop its independent siblings
                    fail(node, exc)
                    continue
                rep.status = "ran"
                produced[rep.key] = entry
                finish(node, entry)
                emit(Event("done", node, nt.id, 1.0, seconds=rep.seconds))
                release(node)
                cache.maybe_evict(pinned)
    except KeyboardInterrupt:
        cancel.set()
        cancelled = True
        for fut in list(running):
            try:
                fut.result()
            except BaseException:
                pass
        raise
    finally:
        pool.shutdown(wait=True)
        if cancelled:
            for n in order:
                if reports[n].status == "pending":
                    reports[n].status, reports[n].error = "skipped", "cancelled"
        cache.evict(pinned)
    return RunResult(reports, time.perf_counter() - t_start, cancelled, values, cache)
