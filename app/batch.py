"""`inpainterz batch GRAPH SHOTS`: one graph over many shots.

Each shot is the graph with the shot's values set, run by the engine like
`inpainterz run` would. Shots share one cache, so a batch run again skips
every shot whose results are current: an interrupted batch resumes where it
stopped. A shot that fails (bad input, a node error) fails alone.

Locally, `--jobs` shots run at a time in threads of this process: their run
configurations share one model manager, so a model loads once for the whole
batch. On Ray (`--ray`), app/ray_batch.py runs the same `run_shot` in Ray
tasks, and each model actor has its own manager. With `--chunk-frames`, a
long shot's frame ranges are tasks of their own (app/chunks.py), here and on
Ray alike.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..engine.errors import BadInput, GraphError, InpainterzError
from .shots import Shot, apply_shot

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class RunOptions:
    """The run settings a batch hands every shot (what `inpainterz run` takes besides the graph)."""

    cache_dir: str | None = None
    cache_size: str | None = None
    device: str = "auto"
    no_cache: bool = False
    ckpt_dir: str | None = None  # --ckpt-dir, absolute, so a Ray worker elsewhere finds the same folder

    def run_config(self, cache=None, cancel: threading.Event | None = None, models=None):
        """The engine's configuration for one shot (one node at a time: shots are the batch's parallelism)."""
        from ..engine.cache import Cache
        from ..engine.config import RunConfig

        return RunConfig(cache=cache or Cache(self.cache_dir, self.cache_size), device=self.device, jobs=1,
                         no_cache=self.no_cache, ckpt_dirs=(self.ckpt_dir,) if self.ckpt_dir else (),
                         models=models, cancel=cancel or threading.Event())


@dataclass
class ShotResult:
    name: str
    status: str = "pending"  # done | cached (nothing to do) | failed | cancelled
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    nodes: dict = field(default_factory=dict)  # the shot's run report, per node
    error: str | None = None
    exit_code: int = 0
    host: str | None = None
    traceback: str | None = None  # printed only with --debug
    tasks: list | None = None  # a chunked shot's tasks (prelude, frame ranges, join), as the report lists them

    @property
    def ok(self) -> bool:
        return self.status in ("done", "cached")

    def to_json(self) -> dict:
        d = {"status": self.status, "seconds": round(self.seconds, 4), "outputs": self.outputs,
             "nodes": self.nodes, "host": self.host}
        if self.error:
            d["error"], d["exit_code"] = self.error, self.exit_code
        if self.tasks is not None:
            d["tasks"] = self.tasks
        return d


def shot_graph(base, shot: Shot):
    """A copy of the loaded graph `base` with the shot's values set."""
    from ..engine.graph import Graph

    g = Graph.from_json(base.to_json(), base_dir=base.base_dir, source=str(base.path) if base.path else None,
                        registry=base.registry)
    g.path = base.path
    apply_shot(g, shot)
    return g


def output_paths(graph) -> list[str]:
    """The files and folders the graph writes (every write-path param that is set)."""
    out = []
    for nid in graph.nodes:
        nt = graph.registry.get(graph.nodes[nid].type)
        params = graph.params_of(nid)
        out += [str(params[p.name]) for p in nt.params if p.type == "path" and p.io == "write" and params.get(p.name)]
    return out


def run_shot(graph, shot_name: str, options: RunOptions, cache=None, on_event: Callable | None = None,
             cancel: threading.Event | None = None, targets: list[str] | None = None, models=None,
             frames: tuple[int, int] | None = None) -> ShotResult:
    """Run one shot's graph (or what `targets` need, for `frames` a..b); every failure becomes the
    result's one-line reason, never an exception.

    `models` is the model manager the shot's model nodes load into (None: the process's).
    """
    from ..engine.executor import run_graph

    res = ShotResult(shot_name, host=socket.gethostname())
    t0 = time.perf_counter()
    try:
        res.outputs = output_paths(graph)
        config = options.run_config(cache, cancel, models)
        run = run_graph(graph, targets=list(targets) if targets else None, frames=frames, config=config,
                        on_event=on_event)
    except GraphError as exc:
        res.status, res.exit_code = "failed", EXIT_BAD_INPUT
        res.error = "; ".join(str(p) for p in exc.problems)
    except InpainterzError as exc:
        res.status, res.exit_code = "failed", EXIT_BAD_INPUT if isinstance(exc, BadInput) else EXIT_FAILED
        res.error = str(exc)
    except Exception as exc:  # one broken shot must not end the batch
        res.status, res.exit_code = "failed", EXIT_FAILED
        res.error = f"{type(exc).__name__}: {exc}"
        res.traceback = traceback.format_exc()
    else:
        res.nodes = run.report()["nodes"]
        if run.cancelled:
            res.status, res.exit_code = "cancelled", EXIT_INTERRUPTED
        elif run.failed:
            res.status, res.exit_code = "failed", run.exit_code()
            res.error = "; ".join(r.error for r in run.failed)
            res.traceback = "\n".join(r.traceback for r in run.failed if r.traceback) or None
        else:
            res.status = "cached" if all(r.status == "cached" for r in run.nodes.values()) else "done"
    res.seconds = time.perf_counter() - t0
    return res


def run_local(graph, shots: list[Shot], options: RunOptions, jobs: int = 1, progress=None,
              cancel: threading.Event | None = None, chunk_frames: int = 0) -> list[ShotResult]:
    """Run the shots `jobs` tasks at a time in this process, sharing one cache and one model manager.

    Without `chunk_frames` a task is a shot. With it, a shot's frame ranges
    are tasks of their own (app/chunks.py), and a started shot's next tasks
    go before shots not started yet, so shots finish one after another.
    """
    from collections import deque

    from ..engine.cache import Cache
    from ..engine.models import get_manager
    from . import chunks

    cache = Cache(options.cache_dir, options.cache_size)
    models = get_manager()
    cancel = cancel or threading.Event()
    results: dict[str, ShotResult] = {}
    graphs = {shot.name: shot_graph(graph, shot) for shot in shots}
    states: dict[str, chunks.ChunkedShot] = {}
    began: dict[str, float] = {}
    queue = deque((shot.name, None) for shot in shots)  # (shot, task); None: the shot is not started
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="inpainterz-shot") as pool:
        running: dict = {}

        def submit(name: str, task) -> None:
            label = task.label if task else None
            events = progress.node_events(name, label) if progress else None
            running[pool.submit(run_shot, graphs[name], name, options, cache, events, cancel,
                                task.targets if task else None, models, task.frames if task else None)] = (name, task)

        while queue or running:
            while queue and len(running) < max(1, jobs) and not cancel.is_set():
                name, task = queue.popleft()
                if task is None:
                    began[name] = time.perf_counter()
                    if progress:
                        progress.shot_started(name)
                    if chunk_frames:
                        states[name], first = chunks.start(graphs[name], name, chunk_frames)
                        queue.extendleft(reversed([(name, t) for t in first]))
                        continue
                elif states[name].failed is not None:
                    continue  # the shot failed in another of its tasks: leave the rest
                elif progress:
                    progress.task_started(name, task.label)
                submit(name, task)
            if not running:
                break
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in done:
                name, task = running.pop(fut)
                res = fut.result()
                if task is not None:
                    if progress:
                        progress.task_finished(name, task.label, res)
                    state = states[name]
                    queue.extendleft(reversed([(name, t) for t in chunks.finish(graphs[name], state, task, res)]))
                    if not state.finished or any(n == name for n, _ in running.values()):
                        continue
                    res = chunks.shot_result(state, ShotResult, time.perf_counter() - began[name])
                results[name] = res
                if progress:
                    progress.shot_finished(res)
    for shot in shots:  # never started or never finished: the batch was interrupted
        if shot.name not in results:
            results[shot.name] = ShotResult(shot.name, "cancelled", error="not finished: the batch was interrupted",
                                            exit_code=EXIT_INTERRUPTED)
    return [results[s.name] for s in shots]


def batch_report(results: list[ShotResult], seconds: float, backend: str, extra: dict | None = None) -> dict:
    report = {"shots": {r.name: r.to_json() for r in results}, "seconds": round(seconds, 4), "backend": backend}
    report.update(extra or {})
    return report


def exit_code(results: list[ShotResult]) -> int:
    """0 only when every shot succeeded; 130 when interrupted; else the worst shot's code."""
    if any(r.status == "cancelled" for r in results):
        return EXIT_INTERRUPTED
    codes = [r.exit_code or EXIT_FAILED for r in results if not r.ok]
    return max(codes) if codes else EXIT_OK


def summary_lines(results: list[ShotResult], seconds: float) -> list[str]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines = [f"{len(results)} shots: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) +
             f" in {seconds:.2f}s"]
    for r in results:
        if r.status == "failed":
            lines.append(f"failed shot '{r.name}': {r.error}")
    if counts.get("cancelled"):
        lines.append("interrupted: finished shots and nodes are cached; run the same batch again to continue")
    return lines


def cmd_batch(args) -> int:
    """The `batch` command: check everything, run the shots, print the summary, write the report."""
    import json
    import signal

    from ..engine.atomic import write_text_atomic
    from ..engine.devices import check_device_spec
    from ..engine.graph import Graph
    from .batch_progress import BatchProgress
    from .shots import ShotsError, read_shots

    def err(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    problem = check_device_spec(args.device)
    if problem:
        err(problem)
        return EXIT_BAD_INPUT
    if args.jobs < 1:
        err(f"--jobs {args.jobs}: give at least 1 shot at a time")
        return EXIT_BAD_INPUT
    if args.chunk_frames < 0:
        err(f"--chunk-frames {args.chunk_frames}: give the frames of one range, at least 1 (or 0: whole shots)")
        return EXIT_BAD_INPUT
    graph = Graph.load(args.graph)
    graph.apply_sets(args.set)
    try:
        shots = read_shots(args.shots, graph)
    except ShotsError as exc:
        for line in exc.lines():
            err(line)
        return EXIT_BAD_INPUT
    options = RunOptions(args.cache_dir, args.cache_size, args.device, args.no_cache,
                         str(Path(args.ckpt_dir).expanduser().resolve()) if args.ckpt_dir else None)
    progress = BatchProgress(len(shots))
    cancel = threading.Event()

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        err("\ninterrupted: stopping every shot at its next chunk (Ctrl-C again to abort now)")

    t0 = time.perf_counter()
    extra = {}
    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        if args.ray is not None:
            from . import ray_batch

            results, extra = ray_batch.run_on_ray(graph, shots, options, address=args.ray, progress=progress,
                                                  cancel=cancel, chunk_frames=args.chunk_frames)
            backend = "ray"
        else:
            results, backend = run_local(graph, shots, options, jobs=args.jobs, progress=progress,
                                         cancel=cancel, chunk_frames=args.chunk_frames), "local"
        if args.chunk_frames:
            extra["chunk_frames"] = args.chunk_frames
    finally:
        signal.signal(signal.SIGINT, old)
        progress.close()
    seconds = time.perf_counter() - t0
    if args.report:
        report = batch_report(results, seconds, backend, extra)
        write_text_atomic(args.report, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if args.debug:
        for r in results:
            if r.traceback:
                err(f"--- shot '{r.name}'\n{r.traceback}")
    for line in summary_lines(results, seconds):
        err(line)
    return exit_code(results)
