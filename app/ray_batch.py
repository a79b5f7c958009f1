"""`inpainterz batch --ray`: the shots of a batch as tasks on a Ray cluster.

- Each shot is one Ray task running `batch.run_shot`, as a local batch does.
  A worker that dies mid-shot has its task retried by Ray elsewhere; nodes
  are deterministic and the cache only trusts committed entries, so the
  retried shot gives the same bytes.
- Nodes that want the GPU (the model nodes) run in long-lived Ray actors,
  one pool per node type. An actor keeps its process's model manager, so a
  model's weights load once per actor, under that manager's budget, however
  many shots pass through it. When the cluster has GPUs the actors request
  them; the shot tasks themselves take one CPU.
- With `--chunk-frames`, a shot's prelude, frame ranges and join
  (app/chunks.py) are tasks of their own: the ranges run side by side on
  any workers, and a range whose worker died is retried like a shot.
- Every process reads and writes the one cache folder, so it must be on
  storage that every worker sees at the same path. This is checked before
  any shot runs: each node writes a probe file and the driver reads it back.

Ray is imported only here, and only when a batch asks for it.
"""
from __future__ import annotations

import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path

import networkx as nx

from ..engine.errors import BadInput
from .batch import EXIT_FAILED, EXIT_INTERRUPTED, RunOptions, ShotResult, run_shot, shot_graph

RAY_REQUIREMENT = "ray>=2.40"  # what the [distributed] extra holds
SHOT_RETRIES = 3  # a shot whose worker died is run again this many times
ACTOR_RESTARTS = 3


def import_ray():
    try:
        import ray
    except ImportError:
        raise BadInput(f"--ray needs Ray, which this Python does not have; install it (the [distributed] extra) with: "
                       f"{sys.executable} -m pip install \"{RAY_REQUIREMENT}\"") from None
    return ray


def connect(ray, address: str) -> bool:
    """Join the cluster at `address` ('auto', HOST:PORT), or start a local one for this run when empty.

    Returns False when this process was already connected (a Python caller
    ran `ray.init` itself, with its own settings), and then leaves the
    connection open at the end. `ray.shutdown()` leaves a joined cluster
    running and stops one started here.
    """
    if ray.is_initialized():
        return False
    common = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if not address:
        ray.init(address="local", **common)  # "local": a new cluster even when `ray start` left one running here
        return True
    try:
        ray.init(address=address, **common)
    except ConnectionError as exc:
        raise BadInput(f"--ray {address}: cannot reach a Ray cluster there ({str(exc).splitlines()[0]}); "
                       f"start one with `ray start --head`, or give its address as HOST:PORT") from None
    return True


# ---------------------------------------------------------------- shared cache check

def _probe(probes: str, token: str) -> tuple[str, str | None, str | None]:
    """On one node: read the driver's probe, write our own. (host, our probe's path, or why not)."""
    host = socket.gethostname()
    folder = Path(probes)
    try:
        seen = (folder / f"driver-{token}").read_text()
    except OSError as exc:
        return host, None, f"cannot see it ({exc.strerror or exc})"
    if seen != token:
        return host, None, "it holds other files there than the driver's (another disk mounted at the same path?)"
    mine = folder / f"worker-{token}-{uuid.uuid4().hex[:8]}"
    try:
        mine.write_text(f"{token} {host}")
    except OSError as exc:
        return host, None, f"cannot write in it ({exc.strerror or exc})"
    return host, str(mine), None


def check_cache_shared(ray, cache_root: Path, timeout: float = 120.0) -> int:
    """Refuse, naming host and path, unless every alive node can read and write the cache folder.

    Returns the number of nodes checked.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probes = cache_root / "probes"
    probes.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    driver_file = probes / f"driver-{token}"
    driver_file.write_text(token)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = [probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(str(probes), token) for n in nodes]
    problems, written = [], []
    try:
        answers = ray.get(refs, timeout=timeout)
        for node, (host, path, why) in zip(nodes, answers):
            where = f"host {host} ({node.get('NodeManagerAddress', '?')})"
            if why is None:
                written.append(path)
                try:
                    ok = Path(path).read_text() == f"{token} {host}"
                except OSError:
                    ok = False
                if not ok:
                    why = "what it wrote there does not reach this machine (a local folder, not shared storage?)"
            if why is not None:
                problems.append(f"the Ray worker on {where} cannot use the cache folder {cache_root}: {why}")
    finally:
        for path in [driver_file, *map(Path, written)]:
            path.unlink(missing_ok=True)
    if problems:
        raise BadInput("; ".join(problems) + "; --cache-dir must be on storage that every worker mounts at the "
                       "same path (NFS, a cluster file system)")
    return len(nodes)


# ---------------------------------------------------------------- shots and model actors

def _shot_graph(doc: dict, base_dir: str, source: str | None):
    """The shot's graph in a Ray worker; the run settings, --ckpt-dir included, travel apart in RunOptions."""
    from ..engine.graph import Graph

    g = Graph.from_json(doc, base_dir=base_dir, source=source)
    g.path = Path(source) if source else None
    return g


class ModelWorker:
    """A long-lived process that renders one model node type for any shot.

    The ancestors of the node are already in the shared cache (the shot's
    task rendered them), so the run here renders just the model node, with
    the actor's own model manager: weights load once per actor.
    """

    def __init__(self, type_id: str):
        from ..engine.models import ModelManager

        self.type_id = type_id
        self.renders = 0
        self.models = ModelManager()

    def render(self, doc: dict, base_dir: str, source: str | None, shot: str, options: RunOptions,
               node: str, events=None, frames: tuple[int, int] | None = None, label: str | None = None) -> ShotResult:
        self.renders += 1
        on_event = _reporter(events, shot, label) if events is not None else None
        return run_shot(_shot_graph(doc, base_dir, source), shot, options, targets=[node], on_event=on_event,
                        models=self.models, frames=frames)

    def stats(self) -> dict:
        log = self.models.log
        return {"type": self.type_id, "host": socket.gethostname(), "pid": os.getpid(), "renders": self.renders,
                "loads": [line for line in log if line.startswith("load ")]}


def _model_nodes(graph) -> list[str]:
    dag = graph.dag()
    return [n for n in nx.topological_sort(dag) if graph.registry.get(graph.nodes[n].type).gpu]


def _reporter(events, shot: str, label: str | None = None):
    """An engine event callback that sends a shot's (or one of its tasks') events to the driver's progress display."""
    last = [0.0]

    def on_event(ev) -> None:
        now = time.monotonic()
        if ev.kind == "queued" or ev.kind == "running" and now - last[0] < 0.5:
            return
        last[0] = now
        try:
            events.put_nowait((shot, label, ev))
        except Exception:  # progress must never fail a shot
            pass
    return on_event


def _shot_task(doc: dict, base_dir: str, source: str | None, shot: str, options: RunOptions,
               pools: dict, pick: int, events=None, targets: tuple | None = None,
               frames: tuple[int, int] | None = None, label: str | None = None) -> ShotResult:
    """One shot (or, with `targets` and `frames`, one task of a chunked shot) on a Ray worker:
    plain nodes here, each model node in its type's actor pool."""
    import ray

    graph = _shot_graph(doc, base_dir, source)
    needed = set(graph.nodes)
    if targets:
        dag = graph.dag()
        needed = set(targets).union(*(nx.ancestors(dag, t) for t in targets))
    models = [n for n in _model_nodes(graph) if n in needed] if pools else []
    on_event = _reporter(events, shot, label) if events is not None else None
    if events is not None:
        events.put_nowait((shot, label, socket.gethostname()))
    t0 = time.perf_counter()
    phases: list[ShotResult] = []
    for node in models:
        feeds = sorted({src for src, _, dst, _ in graph.edges() if dst == node})
        if feeds:  # for a frame range, the model's actor renders what its window needs past the range
            phases.append(run_shot(graph, shot, options, targets=feeds, on_event=on_event, frames=frames))
            if not phases[-1].ok:
                break
        actors = pools[graph.nodes[node].type]
        actor = actors[pick % len(actors)]
        phases.append(ray.get(actor.render.remote(doc, base_dir, source, shot, options, node, events, frames, label)))
        if not phases[-1].ok:
            break
    else:
        phases.append(run_shot(graph, shot, options, on_event=on_event, targets=targets, frames=frames))
    result = phases[-1]
    merged: dict = {}
    for phase in phases:  # a node counts as run where it ran, even if later phases found it cached
        for n, rep in phase.nodes.items():
            if n not in merged or rep.get("status") == "ran":
                merged[n] = rep
    result.nodes, result.seconds = merged, time.perf_counter() - t0
    if result.status == "cached" and any(r.get("status") == "ran" for r in merged.values()):
        result.status = "done"
    return result


def _actor_pools(ray, graph, n_shots: int, device: str) -> tuple[dict, dict]:
    """{node type: [actors]} for the graph's model node types, and a note on GPU use."""
    types = sorted({graph.nodes[n].type for n in _model_nodes(graph)})
    if not types:
        return {}, {}
    alive = [n for n in ray.nodes() if n.get("Alive")]
    use_gpu = device != "cpu" and any(n["Resources"].get("GPU", 0) > 0 for n in alive)
    # One actor per GPU of the cluster, or without GPUs one per machine.
    slots = int(sum(n["Resources"].get("GPU", 0) for n in alive)) if use_gpu else \
        len([n for n in alive if n["Resources"].get("CPU", 0) > 0])
    size = max(1, min(n_shots, slots))
    # Every model type gets a share of each GPU, so all the pools fit on one GPU node;
    # the model manager in each actor keeps its models under the device's budget.
    gpu_share = 1.0 / len(types) if use_gpu else 0
    cls = ray.remote(ModelWorker)
    pools = {t: [cls.options(num_cpus=0, num_gpus=gpu_share, max_restarts=ACTOR_RESTARTS,
                             max_task_retries=ACTOR_RESTARTS, scheduling_strategy="SPREAD").remote(t)
                 for _ in range(size)] for t in types}
    return pools, {"model_actors_per_type": size, "model_actors_use_gpu": use_gpu}


def _event_queue(ray):
    from ray.util.queue import Queue

    return Queue(actor_options={"num_cpus": 0})


def _show_events(events, progress, shows: dict) -> None:
    """Hand what the shots' tasks sent to the progress display: (shot, task label or None, host) on
    start, else (shot, label, event)."""
    n = events.qsize()
    for shot, label, item in events.get_nowait_batch(n) if n else ():
        if isinstance(item, str):
            if label:
                progress.task_started(shot, label, item)
            else:
                progress.shot_started(shot, item)
        else:
            if (shot, label) not in shows:
                shows[(shot, label)] = progress.node_events(shot, label)
            shows[(shot, label)](item)


def _actor_stats(ray, actor, type_id: str) -> dict:
    try:
        return ray.get(actor.stats.remote(), timeout=60)
    except Exception as exc:  # an actor lost for good must not hide the shots' results
        return {"type": type_id, "error": f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"}


def _task_failure(ray, exc: BaseException) -> str:
    """One line on why a shot's Ray task gave no result (its own errors are results, never raised)."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        text = (str(cause).strip().splitlines() or [""])[0][:200]
        hint = " (is inpainterz installed the same way on every machine?)" if isinstance(cause, ImportError) else ""
        return f"the Ray task raised {type(cause).__name__}: {text}{hint}"
    if isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError)):
        return f"the shot's Ray worker died {SHOT_RETRIES + 1} times ({type(exc).__name__}: {first})"
    return f"the Ray task failed: {type(exc).__name__}: {first}"


def run_on_ray(graph, shots, options: RunOptions, address: str = "", progress=None,
               cancel: threading.Event | None = None, chunk_frames: int = 0) -> tuple[list[ShotResult], dict]:
    """Run the shots as Ray tasks (with `chunk_frames`, each shot's prelude, frame ranges and join
    as tasks of their own, app/chunks.py); returns their results and what the report says about the cluster."""
    from ..engine.cache import Cache
    from . import chunks

    ray = import_ray()
    cache = Cache(options.cache_dir, options.cache_size)
    # Workers on other machines resolve the cache folder themselves: hand them the absolute path.
    options = RunOptions(str(cache.root.resolve()), options.cache_size, options.device, options.no_cache,
                         options.ckpt_dir)
    connected_here = connect(ray, address)
    cancel = cancel or threading.Event()
    try:
        n_nodes = check_cache_shared(ray, Path(options.cache_dir))
        pools, info = _actor_pools(ray, graph, len(shots) * (1000 if chunk_frames else 1), options.device)
        task_fn = ray.remote(num_cpus=1, max_retries=SHOT_RETRIES, retry_exceptions=False)(_shot_task)
        events = _event_queue(ray) if progress else None
        graphs = {shot.name: shot_graph(graph, shot) for shot in shots}
        docs = {name: (g.to_json(), str(g.base_dir), str(g.path) if g.path else None) for name, g in graphs.items()}
        states: dict[str, chunks.ChunkedShot] = {}
        began: dict[str, float] = {}
        refs: dict = {}  # Ray object ref -> (shot, its task or None for a whole shot)
        picks = iter(range(1 << 62))  # spreads tasks over the model actors

        def submit(name: str, task=None) -> None:
            ref = task_fn.remote(*docs[name], name, options, pools, next(picks), events,
                                 task.targets if task else None, task.frames if task else None,
                                 task.label if task else None)
            refs[ref] = (name, task)

        for shot in shots:
            began[shot.name] = time.perf_counter()
            if chunk_frames:
                states[shot.name], first = chunks.start(graphs[shot.name], shot.name, chunk_frames)
                if progress:
                    progress.shot_started(shot.name)
                for task in first:
                    submit(shot.name, task)
            else:
                submit(shot.name)
        results: dict[str, ShotResult] = {}
        shows: dict = {}
        while refs:
            if events is not None:
                _show_events(events, progress, shows)
            if cancel.is_set():
                for ref in refs:
                    ray.cancel(ref)
                break
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            if done and events is not None:
                _show_events(events, progress, shows)
            for ref in done:
                name, task = refs.pop(ref)
                try:
                    res = ray.get(ref)
                except Exception as exc:  # the task itself could not finish, even after its retries
                    res = ShotResult(name, "failed", error=_task_failure(ray, exc), exit_code=EXIT_FAILED)
                if task is not None:
                    if progress:
                        progress.task_finished(name, task.label, res)
                    state = states[name]
                    for nxt in chunks.finish(graphs[name], state, task, res):
                        submit(name, nxt)
                    if not state.finished or any(n == name for n, _ in refs.values()):
                        continue
                    res = chunks.shot_result(state, ShotResult, time.perf_counter() - began[name])
                results[name] = res
                if progress:
                    progress.shot_finished(res)
        for shot in shots:
            if shot.name not in results:
                results[shot.name] = ShotResult(shot.name, "cancelled", error="the batch was interrupted",
                                                exit_code=EXIT_INTERRUPTED)
        actors = [_actor_stats(ray, a, t) for t, pool in pools.items() for a in pool]
        extra = {"ray": {"address": address or "local", "nodes": n_nodes, "model_actors": actors, **info}}
        return [results[s.name] for s in shots], extra
    finally:
        if connected_here:
            ray.shutdown()
