"""The caching executor: runs the nodes a request needs, each at most once,
and of each only the frames the request and the edits call for.

The main thread drives the scheduler's state (engine/scheduler.py), asks the
cache policy (engine/policy.py) whether a ready node is a hit or which frames
it must render, and hands renders to a thread pool. A frame-aware node's
rendered frames are spliced with the frames it keeps from an earlier entry,
so its new entry holds exactly what a cold render would.
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
from .cache import Cache, Pending
from .config import RunConfig
from .devices import device_lock, resolve_device
from .errors import BadInput, Cancelled, GraphError, NodeFailed, Problem, is_disk_full
from . import frames as fr
from . import policy, scheduler


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
    frames: dict | None = None  # {"rendered": N, "reused": M} for nodes that give or take a clip

    def to_json(self) -> dict:
        d = {"type": self.type, "status": self.status, "seconds": round(self.seconds, 4), "key": self.key}
        if self.frames is not None:
            d["frames"] = dict(self.frames)
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
                 emit: Callable[[Event], None], config: RunConfig, report: NodeReport,
                 frames_wanted: tuple | None = None, earlier: tuple[Path, int] | None = None):
        self.node_id, self.type_id, self.device = node_id, type_id, device
        self.config = config
        # A frame-aware node renders exactly these output frames, as sorted (start, stop)
        # ranges, in order; None for a whole node, which renders everything.
        self.frames_wanted = frames_wanted
        self._earlier = earlier
        self._state_dir = workdir / "state"
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

    @property
    def state_dir(self) -> Path:
        """A folder kept in this node's cache entry, for state a later partial render resumes from
        (a causal node's memory at some frames)."""
        self._state_dir.mkdir(parents=True, exist_ok=True)
        return self._state_dir

    def earlier_state(self) -> tuple[Path, int] | None:
        """(state folder of the entry this render builds on, frame F) or None.

        State saved there from before frame F still holds: no input frame or
        prompt before F changed since.
        """
        if self._earlier is None or not self._earlier[0].is_dir():
            return None
        return self._earlier

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


def cached_entries(graph, node_id: str, cache: Cache, config: RunConfig | None = None) -> dict | None:
    """{node: cache Entry} for `node_id` and its ancestors when all are cached whole, else None.

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
    upstream = scheduler.upstream_of(graph.edges(), order)
    versions: dict[tuple[str, str], str] = {}
    entries = {}
    for n in order:
        nt = graph.registry.get(graph.nodes[n].type)
        if nt is None:
            return None
        try:
            key = policy.key_for(nt, graph.params_of(n), upstream[n], versions, config)
        except Exception:  # a half-edited graph: nothing to find yet
            return None
        entry = cache.lookup(key)
        if entry is not None and not policy.covers(entry.meta, fr.ALL):  # a frame range; joined beside it?
            entry = cache.lookup(policy.range_key(key, fr.clamp(fr.ALL, entry.meta.get("count", 0))))
        if entry is None or not policy.usable(entry.meta) or not policy.covers(entry.meta, fr.ALL):
            return None
        for name, meta in entry.meta.get("outputs", {}).items():
            versions[(n, name)] = meta["version"]
        entries[n] = entry
    return entries


def _frames_asked(span: tuple[int, int] | None) -> fr.Ranges:
    return fr.ALL if span is None else ((span[0], span[1] + 1),)


def _check_span(span) -> tuple[int, int] | None:
    if span is None:
        return None
    try:
        a, b = (int(v) for v in span)
    except (TypeError, ValueError):
        raise GraphError([Problem(f"frames {span!r}: give (first, last), inclusive")]) from None
    if a < 0 or b < a:
        raise GraphError([Problem(f"frames {a}-{b}: the first frame must be at least 0 and at most the last")])
    return a, b


def _first_clip_count(meta: dict) -> int | None:
    for out in meta.get("outputs", {}).values():
        if out["type"] in ("Frames", "Masks"):
            return out["count"]
    return None


def run_graph(graph, targets: list[str] | None = None, *, frames: tuple[int, int] | None = None,
              config: RunConfig | None = None,
              cache_dir: str | Path | None = None, cache_size: int | str | None = None, cache: Cache | None = None,
              device: str = "auto", jobs: int = 1, no_cache: bool = False,
              on_event: Callable[[Event], None] | None = None, cancel: threading.Event | None = None,
              check_files: bool = True) -> RunResult:
    """Run `graph` (or the nodes `targets` need). Raises GraphError before anything runs.

    `frames=(a, b)` renders only what frames a..b (inclusive) of the outputs
    (or of the targets) need. The run's settings come as one `config`, or,
    without one, as the keywords cache_dir, cache_size, cache, device, jobs,
    no_cache and cancel.
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
    span = _check_span(frames)

    reg = graph.registry
    dag = graph.dag()
    needed: set[str] = set(graph.nodes) if not targets else set()
    for t in targets or ():
        needed |= {t} | nx.ancestors(dag, t)
    order = [n for n in nx.topological_sort(dag) if n in needed]
    types = {n: reg.get(graph.nodes[n].type) for n in order}
    params = {n: graph.params_of(n) for n in order}
    decls = {n: types[n].temporal_for(params[n]) for n in order}
    upstream = scheduler.upstream_of(graph.edges(), order)
    sources = {src for n in order for _, src, _ in upstream[n]}
    ends = targets or [n for n in order if n not in sources]
    state = scheduler.initial(order, upstream, scheduler.wanted_frames(
        order, upstream, decls, params, {n: _frames_asked(span) for n in ends}))

    emit_lock = threading.Lock()

    def emit(ev: Event) -> None:
        if on_event is not None:
            with emit_lock:
                on_event(ev)

    reports = {n: NodeReport(n, types[n].id) for n in order}
    versions: dict[tuple[str, str], str] = {}  # (node, output) -> data-version
    entries: dict[str, Any] = {}  # node -> committed cache Entry
    values: dict[tuple[str, str], Callable[[], Any]] = {}
    pinned: set[str] = set()
    families: dict[str, str] = {}  # frame-aware node -> its range family (policy.family_key)
    identity: dict[tuple[str, str], str] = {}  # (node, output) -> what a downstream family records of it
    loaded: dict[tuple[str, str], Any] = {}
    load_lock = threading.Lock()

    def load(node: str, output: str):
        with load_lock:
            if (node, output) not in loaded:
                entry = entries[node]
                loaded[(node, output)] = data.load_value(entry.meta["outputs"][output], entry.path)
            return loaded[(node, output)]

    def output_meta(node: str, output: str) -> dict:
        return entries[node].meta["outputs"][output]

    def finish(node: str, entry) -> list[str]:
        entries[node] = entry
        pinned.add(entry.key)
        for name, meta in entry.meta["outputs"].items():
            versions[(node, name)] = meta["version"]
            identity[(node, name)] = families.get(node, meta["version"])
            values[(node, name)] = lambda node=node, name=name: load(node, name)
        return scheduler.finish(state, node)

    gpu_device: str | None = None

    def device_for(nt) -> str:
        nonlocal gpu_device
        if not nt.gpu:
            return "cpu"
        if gpu_device is None:
            gpu_device = resolve_device(device)
        return gpu_device

    def render(node: str, key: str, dev: str, plan: policy.Plan | None, inputs: dict | None) -> Any:
        nt, rep = types[node], reports[node]
        pending = cache.begin(key)
        lock = device_lock(dev) if nt.gpu and (plan is None or plan.render) else None
        try:
            if lock is not None:
                while not lock.acquire(timeout=0.1):
                    if cancel.is_set():
                        raise Cancelled()
            try:
                t0 = time.perf_counter()
                earlier = (plan.base.path / "state", plan.clean_before) if plan and plan.base else None
                ctx = Context(node, nt.id, dev, pending.path, emit, config, rep,
                              frames_wanted=plan.render if plan is not None else None, earlier=earlier)
                result = {}
                if plan is None or plan.render:
                    emit(Event("running", node, nt.id, 0.0))
                    kwargs = dict(params[node])
                    for inp in nt.inputs:
                        kwargs[inp.name] = None
                    for port, src, out in upstream[node]:
                        kwargs[port] = load(src, out)
                    result = _normalise_outputs(nt, nt.render(ctx, **kwargs))
                    ctx.check_cancelled()
                out_meta = {}
                for o in nt.outputs:
                    value = result.get(o.name)
                    if plan is not None:
                        value = _assemble(ctx, node, o.name, value, plan)
                    out_meta[o.name] = data.save_value(o.type, value, pending.path, o.name)
                rep.seconds = time.perf_counter() - t0
            finally:
                if lock is not None:
                    lock.release()
            meta = {"node": node, "type": nt.id, "outputs": out_meta, "seconds": rep.seconds,
                    "writes": policy.writes_fingerprint(nt, params[node]), "notes": rep.notes}
            if plan is not None:
                meta.update(count=plan.count, done=fr.to_json(plan.done), inputs=inputs)
            target, if_taken = (key, None) if no_cache else _commit_as(
                cache, key, key if plan is None else policy.range_key(key, plan.done))
            entry = cache.commit(Pending(target, pending.path), meta, if_taken=if_taken)
        except BaseException:
            cache.abort(pending)
            raise
        if plan is not None:
            cache.remember(policy.lineage_key(nt, params[node], upstream[node], config), entry.key, policy.LINEAGE_KEEP)
            cache.add_to_family(families[node], entry.key)
        return entry

    def frames_report(node: str, entry, plan: policy.Plan | None, ran: bool) -> dict | None:
        if plan is not None:
            return plan.frames_report() if ran else {"rendered": 0, "reused": fr.size(
                fr.clamp(state.wanted[node], plan.count))}
        meta = entry.meta
        count = meta.get("count") if "done" in meta else _first_clip_count(meta)
        if count is None:
            return None
        if "done" in meta:  # a frame-aware node's entry found under its key
            return {"rendered": 0, "reused": fr.size(fr.clamp(state.wanted[node], count))}
        return {"rendered": count, "reused": 0} if ran else {"rendered": 0, "reused": count}

    for n in order:
        emit(Event("queued", n, types[n].id))
    running: dict[Future, str] = {}
    inflight: set[str] = set()  # keys being rendered now
    produced: dict[str, Any] = {}  # key -> entry committed by this run
    plans: dict[str, tuple] = {}  # node -> (plan, inputs) once settled
    busy_devices: set[str] = set()
    cancelled = False
    slots = max(1, jobs)

    def skip_all(nodes: list[str], reason: str) -> None:
        for d in nodes:
            r = reports[d]
            if r.status == "pending":
                r.status, r.error = "skipped", reason
                emit(Event("skipped", d, r.type, message=reason))

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
        skip_all(scheduler.fail(state, node), f"upstream node '{node}' failed")

    def settle(node: str):
        """Find what a ready node needs: None when its cached entry serves, else (plan, inputs).

        Asks the cache once per node: a node waiting for a free slot must not re-read it every tick.
        """
        nt, rep = types[node], reports[node]
        entry = produced.get(rep.key)  # an identical node rendered it in this run
        if entry is None and node in plans:
            return plans[node]
        if entry is None and not no_cache:
            entry = cache.lookup(rep.key)
        if entry is not None and policy.usable(entry.meta) and policy.covers(entry.meta, state.wanted[node]):
            rep.status, rep.notes = "cached", list(entry.meta.get("notes", []))
            rep.frames = frames_report(node, entry, None, False)
            finish(node, entry)
            emit(Event("cached", node, nt.id, 1.0))
            return None
        decl = decls[node]
        if decl.kind == "whole":
            plans[node] = (None, None)
            return plans[node]
        inputs = policy.input_frames(upstream[node], output_meta)
        count = policy.clip_count(nt, inputs)
        if span is not None and state.wanted[node] != fr.ALL and span[1] >= count:
            raise BadInput(f"--frames {span[0]}-{span[1]}: the clip has {count} frames here (0..{count - 1}); "
                           f"ask for frames within it")
        whole = None if no_cache else cache.lookup(policy.range_key(rep.key, fr.clamp(fr.ALL, count)))
        if whole is not None and policy.usable(whole.meta):  # joined by an earlier run beside a partial entry
            rep.status, rep.notes = "cached", list(whole.meta.get("notes", []))
            rep.frames = frames_report(node, whole, None, False)
            finish(node, whole)
            emit(Event("cached", node, nt.id, 1.0))
            return None
        bases = []
        if not no_cache:
            found = ([entry] if entry is not None else []) + cache.lineage(
                policy.lineage_key(nt, params[node], upstream[node], config)) + cache.family(families[node])
            bases = list({e.key: e for e in reversed(found)}.values())[::-1]  # each once, first mention first
        plan = policy.best_plan(decl, params[node], count, state.wanted[node], inputs, bases)
        pinned.update(e.key for e, _ in plan.pieces())
        plans[node] = (plan, inputs)
        return plans[node]

    def dispatch() -> None:
        """Settle cache hits and start renders until nothing more can start now."""
        progress = True
        while progress and not cancelled:
            progress = False
            for node in list(state.ready):
                nt, rep = types[node], reports[node]
                if rep.key is None:
                    rep.key = policy.key_for(nt, params[node], upstream[node], versions, config)
                    if decls[node].kind != "whole":
                        families[node] = policy.family_key(
                            policy.lineage_key(nt, params[node], upstream[node], config), upstream[node], identity)
                if rep.key in inflight:
                    continue  # an identical node is rendering: wait and reuse its result
                try:
                    settled = settle(node)
                except BaseException as exc:
                    fail(node, exc)
                    progress = True
                    continue
                if settled is None:
                    progress = True
                    continue
                if len(running) >= slots:
                    continue
                try:
                    dev = device_for(nt)
                except ValueError as exc:
                    fail(node, BadInput(str(exc)))
                    continue
                if nt.gpu and dev in busy_devices:
                    continue
                if nt.gpu:
                    busy_devices.add(dev)
                scheduler.start(state, node)
                inflight.add(rep.key)
                running[pool.submit(render, node, rep.key, dev, *settled)] = node

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
                    scheduler.stop(state, node)
                    cancelled = True
                    emit(Event("skipped", node, nt.id, message="cancelled"))
                    continue
                except BaseException as exc:  # a failing node must not stop its independent siblings
                    fail(node, exc)
                    continue
                plan = plans[node][0]
                ran = plan is None or bool(plan.render)
                rep.status = "ran" if ran else "cached"
                rep.frames = frames_report(node, entry, plan, ran)
                produced[rep.key] = entry
                finish(node, entry)
                emit(Event("done", node, nt.id, 1.0, seconds=rep.seconds) if ran else Event("cached", node, nt.id, 1.0))
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
            skip_all(scheduler.skip(state, scheduler.pending(state)), "cancelled")
        cache.evict(pinned)
    return RunResult(reports, time.perf_counter() - t_start, cancelled, values, cache)


def _commit_as(cache: Cache, key: str, side: str) -> tuple[str, str | None]:
    """(key to commit under, the cache's `if_taken`) so that no usable entry is replaced.

    Another run (another frame range of the same shot, on this host or
    another) may be reading an entry's files by path, so a usable entry under
    the key stays; a frame-aware node's entry then goes beside it under its
    side key, and a whole node's is dropped (same key, same bytes). A stale
    entry (a sink whose files are gone) is replaced.
    """
    for k in dict.fromkeys((key, side)):
        there = cache.lookup(k)
        if there is None:
            return k, side
        if not policy.usable(there.meta):
            return k, None
    return side, side


def _assemble(ctx, node: str, output: str, rendered, plan: policy.Plan):
    """A frame-aware node's output: its rendered frames spliced with the frames kept from earlier entries."""
    kept = [(data.load_value(e.meta["outputs"][output], e.path), frames) for e, frames in plan.pieces()]
    base = kept[0][0] if kept else None
    if not isinstance(rendered if rendered is not None else base, data.Clip):
        return _merge_keyed(rendered, plan, kept)
    if rendered is not None:
        if not isinstance(rendered, data.Clip):
            raise TypeError(f"output '{output}' must be a clip")
        if rendered.count not in (fr.size(plan.render), plan.count):
            raise TypeError(f"output '{output}' has {rendered.count} frames but ctx.frames_wanted asks for "
                            f"{fr.size(plan.render)} ({fr.describe(plan.render)}); give those frames, in order")
        if plan.render == fr.clamp(fr.ALL, plan.count) and rendered.count == plan.count:
            return rendered  # a cold render of every frame: nothing to splice
    like = rendered if rendered is not None else base
    return data.splice(data.writer_like(ctx._writer_dir(), like), plan.count, rendered, plan.render, kept)


def _merge_keyed(rendered, plan: policy.Plan, kept: list):
    """Frame-keyed data (KeyMasks, Boxes, Points): the kept frames of earlier entries and the rendered ones."""
    like = rendered if rendered is not None else kept[0][0]
    render = set(fr.frames_of(plan.render))
    items = {}
    for value, frames in kept:
        keep = set(fr.frames_of(frames))
        items.update({f: v for f, v in value.items() if f in keep})
    items.update({f: v for f, v in (rendered or {}).items() if f in render})
    items = dict(sorted(items.items()))
    if isinstance(like, data.KeyMasks):
        return data.KeyMasks(items, like.height, like.width)
    return type(like)(items)
