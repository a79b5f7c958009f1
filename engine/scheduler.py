"""The scheduler's state and its transitions, as plain data and plain functions.

In the manner of `dask/local.py`: one `State` names where every node is
(waiting on its inputs, ready, running, finished, failed or skipped) and
which output frames it must give; each transition is a function that moves
nodes between those sets and returns what the driver must act on. The
driver (`executor.run_graph`) owns threads, the cache and rendering; these
functions own none of that, so each is tested alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import frames as fr


@dataclass
class State:
    order: list[str]  # topological order of the nodes this run needs
    upstream: dict[str, list[tuple[str, str, str]]]  # node -> [(input port, source node, source output)]
    downstream: dict[str, set[str]]
    waiting: dict[str, set[str]]  # node -> sources not finished yet
    ready: list[str] = field(default_factory=list)  # in topological order
    running: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    wanted: dict[str, fr.Ranges] = field(default_factory=dict)  # output frames each node must give
    position: dict[str, int] = field(default_factory=dict)  # node -> index in `order`

    def __post_init__(self):
        self.position = {n: i for i, n in enumerate(self.order)}


def upstream_of(edges, nodes) -> dict[str, list[tuple[str, str, str]]]:
    """{node: [(input port, source node, source output)]} for the given nodes."""
    ups: dict[str, list[tuple[str, str, str]]] = {n: [] for n in nodes}
    for src, out, dst, port in edges:
        if dst in ups:
            ups[dst].append((port, src, out))
    return ups


def wanted_frames(order: list[str], upstream: dict, declarations: dict, params: dict,
                  asked: dict[str, fr.Ranges]) -> dict[str, fr.Ranges]:
    """The output frames each node must give so that every node in `asked` gives its frames.

    Walks the graph backwards: a node's wanted frames are those its consumers'
    declarations need, plus its own ask. Lengths are not known yet, so ranges
    stay open at the end (`frames.ALL`) and are cut when a clip's length is.
    """
    wanted = {n: asked.get(n, fr.NONE) for n in order}
    for n in reversed(order):
        need = fr.needed(declarations[n], params[n], wanted[n])
        for _, src, _ in upstream[n]:
            wanted[src] = fr.union(wanted[src], need)
    return wanted


def initial(order: list[str], upstream: dict, wanted: dict[str, fr.Ranges]) -> State:
    downstream: dict[str, set[str]] = {n: set() for n in order}
    for n in order:
        for _, src, _ in upstream[n]:
            downstream[src].add(n)
    waiting = {n: {src for _, src, _ in upstream[n]} for n in order}
    ready = [n for n in order if not waiting[n]]
    return State(order, upstream, downstream, waiting, ready, wanted=dict(wanted))


def start(state: State, node: str) -> None:
    """A ready node begins rendering."""
    state.ready.remove(node)
    state.running.add(node)


def finish(state: State, node: str) -> list[str]:
    """A node's outputs are there (rendered or cached); returns the nodes that became ready."""
    state.ready = [n for n in state.ready if n != node]
    state.running.discard(node)
    state.finished.add(node)
    became = []
    for d in sorted(state.downstream[node], key=state.position.__getitem__):
        state.waiting[d].discard(node)
        if not state.waiting[d] and d not in state.skipped and d not in state.failed:
            became.append(d)
    if became:
        state.ready = sorted(set(state.ready) | set(became), key=state.position.__getitem__)
    return became


def descendants(state: State, node: str) -> list[str]:
    out, todo = set(), [node]
    while todo:
        for d in state.downstream[todo.pop()]:
            if d not in out:
                out.add(d)
                todo.append(d)
    return [n for n in state.order if n in out]


def fail(state: State, node: str) -> list[str]:
    """A node failed; returns the nodes below it that are now skipped."""
    state.ready = [n for n in state.ready if n != node]
    state.running.discard(node)
    state.failed.add(node)
    return skip(state, descendants(state, node))


def skip(state: State, nodes: list[str]) -> list[str]:
    """Nodes that will not run (upstream failed, or the run was cancelled); returns those newly skipped."""
    newly = [n for n in nodes if n not in state.finished | state.failed | state.skipped | state.running]
    state.skipped |= set(newly)
    state.ready = [n for n in state.ready if n not in state.skipped]
    return newly


def stop(state: State, node: str) -> None:
    """A running node stopped without a result (cancelled)."""
    state.running.discard(node)
    state.skipped.add(node)


def pending(state: State) -> list[str]:
    """Nodes that have neither finished, failed nor been skipped."""
    done = state.finished | state.failed | state.skipped
    return [n for n in state.order if n not in done]
