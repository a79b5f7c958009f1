"""Long shots split by frame range (`inpainterz batch --chunk-frames N`).

A chunked shot runs as three steps, each a set of tasks that may run on
different workers:

1. prelude: one task renders every causal and whole node that is not a sink
   (readers, tracking, anything that declares nothing), over the whole clip
   and in order, since a causal node's frame t needs all frames before it;
2. ranges: one task per N output frames renders the frame-aware nodes that
   feed the sinks, for its frames only (`run --frames A-B`); each node renders
   the input frames its declaration needs, so a window node reads r frames
   past each edge. Causal and whole nodes are cached by the prelude;
3. join: one task runs the whole graph. The cache joins the ranges' partial
   entries into whole ones without rendering them again, and the sinks write
   every output file from them (WriteVideo encodes the whole clip once).

The result is the bytes of a single-process run: every node renders the same
frames from the same inputs, and the join only splices stored frames.

The functions here are the plan as plain data; app/batch.py and
app/ray_batch.py run its tasks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PRELUDE, RANGES, JOIN = "prelude", "ranges", "join"


@dataclass(frozen=True)
class Task:
    """One piece of a shot: which nodes it asks for (None: the graph's ends) and which frames."""

    shot: str
    step: str
    targets: tuple[str, ...] | None = None
    frames: tuple[int, int] | None = None  # inclusive, as `run --frames A-B`

    @property
    def label(self) -> str:
        return f"frames {self.frames[0]}-{self.frames[1]}" if self.frames else self.step


@dataclass
class ChunkedShot:
    """Where one chunked shot is: the tasks of its current step that are not finished, and what came back."""

    name: str
    chunk: int
    prelude: tuple[str, ...]
    ranged: tuple[str, ...]
    step: str = PRELUDE
    waiting: set = field(default_factory=set)  # tasks of the current step not finished yet
    done: list = field(default_factory=list)  # (Task, ShotResult) in the order they finished
    failed: tuple | None = None  # (Task, ShotResult) of the first task that failed

    @property
    def finished(self) -> bool:
        return self.failed is not None or (self.step == JOIN and not self.waiting and bool(self.done))


def kinds(graph) -> dict[str, str]:
    """{node: its temporal kind for its params}."""
    return {n: graph.registry.get(graph.nodes[n].type).temporal_for(graph.params_of(n)).kind for n in graph.nodes}


def split(graph) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prelude targets, range targets) of a graph.

    Range targets are the frame-aware nodes that feed a sink (a node nothing
    reads); the prelude is every causal or whole node that is not a sink.
    """
    kind = kinds(graph)
    edges = graph.edges()
    feeders = {src for src, _, _, _ in edges}
    sinks = [n for n in graph.nodes if n not in feeders]
    prelude = tuple(sorted(n for n in graph.nodes if n not in sinks and kind[n] in ("causal", "whole")))
    ranged = sorted({src for src, _, dst, _ in edges if dst in sinks and kind[src] in ("frame", "window")})
    return prelude, tuple(ranged)


def start(graph, name: str, chunk: int) -> tuple[ChunkedShot, list[Task]]:
    """A chunked shot and its first tasks."""
    prelude, ranged = split(graph)
    state = ChunkedShot(name, chunk, prelude, ranged)
    if not prelude or not ranged:  # nothing to split: the whole shot is one task
        state.step = JOIN
        tasks = [Task(name, JOIN)]
    else:
        tasks = [Task(name, PRELUDE, prelude)]
    state.waiting = set(tasks)
    return state, tasks


def clip_length(graph, node: str, nodes_report: dict, kind: dict) -> int | None:
    """Frames of a frame-aware node's output: those of its first clip input, back to a node the prelude ran."""
    nt = graph.registry.get(graph.nodes[node].type)
    ups = {port: src for src, _, dst, port in graph.edges() if dst == node}
    for inp in nt.inputs:
        if inp.type not in ("Frames", "Masks") or inp.name not in ups:
            continue
        src = ups[inp.name]
        if kind[src] in ("frame", "window"):
            return clip_length(graph, src, nodes_report, kind)
        frames = (nodes_report.get(src) or {}).get("frames")
        return frames["rendered"] + frames["reused"] if frames else None
    return None


def spans(count: int, chunk: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) ranges of `chunk` frames covering `count` frames."""
    return [(a, min(a + chunk, count) - 1) for a in range(0, count, chunk)]


def range_tasks(graph, state: ChunkedShot, nodes_report: dict) -> list[Task]:
    """The ranges step: targets of the same clip length share their tasks."""
    kind = kinds(graph)
    by_count: dict[int, list[str]] = {}
    for node in state.ranged:
        count = clip_length(graph, node, nodes_report, kind)
        if count:  # unknown: the join renders it whole
            by_count.setdefault(count, []).append(node)
    return [Task(state.name, RANGES, tuple(nodes), span)
            for count, nodes in sorted(by_count.items()) for span in spans(count, state.chunk)]


def finish(graph, state: ChunkedShot, task: Task, result) -> list[Task]:
    """A task came back; returns the tasks to start now (the next step's, once this step is done)."""
    state.waiting.discard(task)
    state.done.append((task, result))
    if not result.ok:
        state.failed = state.failed or (task, result)
    if state.failed is not None or state.waiting:
        return []
    if state.step == PRELUDE:
        state.step = RANGES
        tasks = range_tasks(graph, state, result.nodes)
        if tasks:
            state.waiting = set(tasks)
            return tasks
    if state.step == RANGES:
        state.step = JOIN
        state.waiting = {Task(state.name, JOIN)}
        return [Task(state.name, JOIN)]
    return []


def shot_result(state: ChunkedShot, result_type, seconds: float):
    """The shot's result from its tasks': the join's (or the first failed task's), with every task listed.

    A node counts as run where any task ran it; its frames rendered are
    summed over the tasks (a range renders the overlap its declaration needs,
    so neighbouring ranges may render some input frames twice), and its
    frames reused are those the last task found that no task rendered.
    """
    last_task, last = state.failed or state.done[-1]
    res = result_type(state.name, last.status, seconds, outputs=list(last.outputs), error=last.error,
                      exit_code=last.exit_code, host=last.host, traceback=last.traceback)
    if state.failed is not None:
        res.error = f"{last_task.label}: {last.error or last.status}"
    nodes: dict = {}
    for _, r in state.done:
        for n, rep in r.nodes.items():
            merged = nodes.get(n)
            if merged is None:
                nodes[n] = dict(rep)
                continue
            merged["seconds"] = round(merged["seconds"] + rep["seconds"], 4)
            if rep["status"] == "failed" or rep["status"] == "ran" and merged["status"] != "failed":
                merged["status"] = rep["status"]
            for extra in ("key", "error", "notes"):
                if rep.get(extra):
                    merged[extra] = rep[extra]
            if rep.get("frames"):
                before = (merged.get("frames") or {}).get("rendered", 0)
                merged["frames"] = {"rendered": before + rep["frames"]["rendered"], "reused": rep["frames"]["reused"]}
    for rep in nodes.values():  # reused: what the last task took from the cache that no task here rendered
        if rep.get("frames"):
            rep["frames"]["reused"] = max(0, rep["frames"]["reused"] - rep["frames"]["rendered"])
    res.nodes = nodes
    if res.status == "cached" and any(r.get("status") == "ran" for r in nodes.values()):
        res.status = "done"
    res.tasks = [dict(task=t.label, status=r.status, seconds=round(r.seconds, 4), host=r.host,
                      **({"error": r.error} if r.error else {})) for t, r in state.done]
    return res
