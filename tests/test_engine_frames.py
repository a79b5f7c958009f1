"""Frames in time: ranges, declarations, the scheduler's transitions, and partial re-renders
that give exactly the bytes of a cold render."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import read_log
from inpainterz.engine import Graph, data
from inpainterz.engine import frames as fr
from inpainterz.engine import scheduler

# ---------------------------------------------------------------- ranges and declarations


def test_range_algebra():
    a = fr.normalise([(5, 8), (0, 2), (2, 3), (7, 10), (12, 12)])
    assert a == ((0, 3), (5, 10))
    assert fr.intersect(a, ((1, 6),)) == ((1, 3), (5, 6))
    assert fr.subtract(a, ((2, 6),)) == ((0, 2), (6, 10))
    assert fr.size(a) == 8
    assert fr.clamp(fr.ALL, 4) == ((0, 4),)
    assert fr.differing(["a", "b", "c", "d"], ["a", "x", "c", "y"]) == ((1, 2), (3, 4))
    assert fr.describe(((0, 10), (20, 21))) == "0-9, 20"
    assert fr.parse_span("3-7") == (3, 7) and fr.parse_span("4") == (4, 4)
    for bad in ("7-3", "a-b", "-1", ""):
        with pytest.raises(ValueError):
            fr.parse_span(bad)


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6),
       st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6))
def test_range_operations_match_sets(xs, ys):
    x, y = fr.normalise(xs), fr.normalise(ys)
    sx, sy = set(fr.frames_of(x)), set(fr.frames_of(y))
    assert set(fr.frames_of(fr.union(x, y))) == sx | sy
    assert set(fr.frames_of(fr.intersect(x, y))) == sx & sy
    assert set(fr.frames_of(fr.subtract(x, y))) == sx - sy
    assert fr.from_frames(sx) == x


def test_declarations_spread_changes_and_needs():
    n = 20
    changed = ((7, 8),)
    assert fr.affected(fr.per_frame(), {}, changed, n) == ((7, 8),)
    assert fr.affected(fr.window(lambda p: p["r"]), {"r": 3}, changed, n) == ((4, 11),)
    assert fr.affected(fr.causal(), {}, changed, n) == ((7, 20),)
    assert fr.affected(fr.WHOLE, {}, changed, n) == ((0, 20),)
    assert fr.affected(fr.causal(), {}, (), n) == ()
    wanted = ((5, 6),)
    assert fr.needed(fr.per_frame(), {}, wanted) == ((5, 6),)
    assert fr.needed(fr.window(2), {}, wanted) == ((3, 8),)
    assert fr.needed(fr.causal(), {}, wanted) == ((0, 6),)
    assert fr.needed(fr.WHOLE, {}, wanted) == fr.ALL


# ---------------------------------------------------------------- scheduler transitions

def _diamond():
    order = ["a", "b", "c", "d"]
    edges = [("a", "frames", "b", "frames"), ("a", "frames", "c", "frames"),
             ("b", "frames", "d", "a"), ("c", "frames", "d", "b")]
    return order, scheduler.upstream_of(edges, order)


def test_scheduler_transitions_move_nodes_between_named_sets():
    order, up = _diamond()
    state = scheduler.initial(order, up, {n: fr.ALL for n in order})
    assert state.ready == ["a"] and state.waiting["d"] == {"b", "c"}
    scheduler.start(state, "a")
    assert state.running == {"a"} and state.ready == []
    assert scheduler.finish(state, "a") == ["b", "c"]
    assert state.ready == ["b", "c"] and state.finished == {"a"}
    scheduler.start(state, "b")
    assert scheduler.finish(state, "b") == []  # d still waits on c
    assert scheduler.fail(state, "c") == ["d"]
    assert state.skipped == {"d"} and state.failed == {"c"} and scheduler.pending(state) == []


def test_scheduler_skip_spares_finished_and_running_nodes():
    order, up = _diamond()
    state = scheduler.initial(order, up, {n: fr.ALL for n in order})
    scheduler.start(state, "a")
    scheduler.finish(state, "a")
    scheduler.start(state, "b")
    assert scheduler.skip(state, scheduler.pending(state)) == ["c", "d"]
    scheduler.stop(state, "b")
    assert state.skipped == {"b", "c", "d"} and scheduler.pending(state) == []


def test_wanted_frames_walk_back_through_declarations():
    order, up = _diamond()
    decls = {"a": fr.WHOLE, "b": fr.window(2), "c": fr.causal(), "d": fr.per_frame()}
    wanted = scheduler.wanted_frames(order, up, decls, {n: {} for n in order}, {"d": ((10, 12),)})
    assert wanted["d"] == ((10, 12),)
    assert wanted["b"] == ((10, 12),) and wanted["c"] == ((10, 12),)
    assert wanted["a"] == ((0, 14),)  # b's window reaches 8..13, c needs 0..11


# ---------------------------------------------------------------- partial re-render property

KINDS = ["TPerFrame", "TWindow", "TCausal", "TOffset", "TJoin"]


@st.composite
def scenes(draw):
    n_frames = draw(st.integers(3, 24))
    values = draw(st.lists(st.integers(0, 255), min_size=n_frames, max_size=n_frames))
    prompts = [{"frame": f, "value": v} for f, v in
               draw(st.lists(st.tuples(st.integers(0, n_frames - 1), st.integers(1, 9)), max_size=3))]
    nodes = []
    for i in range(draw(st.integers(1, 7))):
        kind = draw(st.sampled_from(KINDS))
        a = draw(st.integers(-1, i - 1))  # -1: the source
        if kind == "TPerFrame":
            nodes.append((kind, {"k": draw(st.integers(0, 3))}, [("frames", a)], draw(st.booleans())))
        elif kind == "TWindow":
            nodes.append((kind, {"r": draw(st.integers(0, 3))}, [("frames", a)], False))
        elif kind == "TCausal":
            nodes.append((kind, {}, [("frames", a)], draw(st.booleans())))
        elif kind == "TOffset":
            nodes.append((kind, {"k": draw(st.integers(0, 3))}, [("frames", a)], False))
        else:
            nodes.append((kind, {}, [("a", a), ("b", draw(st.integers(-1, i - 1)))], False))
    edits = draw(st.lists(st.one_of(
        st.tuples(st.just("file"), st.integers(0, n_frames - 1), st.integers(0, 255)),
        st.tuples(st.just("prompt"), st.integers(0, n_frames - 1), st.integers(1, 9)),
        st.tuples(st.just("param"), st.integers(0, len(nodes) - 1), st.integers(0, 3)),
    ), min_size=1, max_size=3))
    sink = draw(st.booleans())
    keyed = draw(st.booleans())  # prompts pass through a frame-aware node with a keyed output
    return n_frames, values, prompts, nodes, edits, (sink, keyed)


def _build(reg, folder, prompts, nodes, options, out_dir):
    sink, keyed = options
    g = Graph(registry=reg)
    g.add("TReadFrames", id="src", path=str(folder))
    g.add("TPrompts", id="raw_clicks" if keyed else "clicks", prompts=prompts)
    if keyed:
        g.add("TKeyed", id="clicks", frames="src.frames", points="raw_clicks.points")
    for i, (kind, params, inputs, takes_points) in enumerate(nodes):
        g.add(kind, id=f"n{i}", **params)
        for port, a in inputs:
            g.connect("src.frames" if a < 0 else f"n{a}.frames", f"n{i}", port)
        if takes_points:
            g.connect("clicks.points", f"n{i}", "points")
    if sink:
        g.add("TFrameSink", id="sink", path=str(out_dir))
        g.connect(f"n{len(nodes) - 1}.frames", "sink", "frames")
    return g


def _write_values(folder, values):
    folder.mkdir(exist_ok=True)
    for t, v in enumerate(values):
        p = folder / f"{t:04d}.txt"
        if not p.exists() or p.read_text() != f"{v}\n":
            p.write_text(f"{v}\n")


def _rendered(log, since):
    out = {}
    for rec in read_log(log)[since:]:
        if "frames" in rec:
            out.setdefault(rec["node"], []).append(rec["frames"])
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scene=scenes())
def test_partial_rerun_equals_cold_run_and_renders_only_declared_frames(scene, counting_registry,
                                                                        tmp_path_factory, monkeypatch):
    n_frames, values, prompts, nodes, edits, options = scene
    sink = options[0]
    monkeypatch.setattr(data, "CHUNK_BYTES", 4 * 4 * 6 * 3)  # 4 frames a chunk: splices cross chunk edges
    tmp = tmp_path_factory.mktemp("partial")
    log = tmp / "renders.log"
    monkeypatch.setenv("INPAINTERZ_TEST_LOG", str(log))
    folder = tmp / "frames"
    _write_values(folder, values)
    g = _build(counting_registry, folder, prompts, nodes, options, tmp / "out")
    first = g.run(cache_dir=tmp / "warm")
    assert first.ok

    values, prompts = list(values), list(prompts)
    for kind, a, b in edits:
        if kind == "file":
            values[a] = b
        elif kind == "prompt":
            prompts.append({"frame": a, "value": b})
        elif "k" in nodes[a][1]:
            nodes[a][1]["k"] = b
        elif "r" in nodes[a][1]:
            nodes[a][1]["r"] = b
    _write_values(folder, values)
    g = _build(counting_registry, folder, prompts, nodes, options, tmp / "out")
    since = len(read_log(log))
    warm = g.run(cache_dir=tmp / "warm")
    assert warm.ok
    rendered = _rendered(log, since)
    sink_files = {p.name: p.read_text() for p in (tmp / "out").glob("*.txt")} if sink else None
    cold = g.run(cache_dir=tmp / "cold")
    assert cold.ok

    reg = counting_registry
    for nid in g.nodes:
        nt = reg.get(g.nodes[nid].type)
        for o in nt.outputs:
            if o.type != "Frames":
                assert warm.value(nid, o.name) == cold.value(nid, o.name)
                continue
            a, b = warm.value(nid, o.name), cold.value(nid, o.name)
            assert a.count == b.count
            assert np.array_equal(a.read(0, a.count), b.read(0, b.count)), f"{nid} differs from a cold run"
            assert a.frame_versions == b.frame_versions
    if sink:
        assert sink_files == {p.name: p.read_text() for p in (tmp / "out").glob("*.txt")}

    # Each frame-aware node rendered at most the frames its declaration spreads its inputs' changes to.
    def versions(result, nid, out):
        value = result.value(nid, out)
        return value.frame_versions() if callable(value.frame_versions) else value.frame_versions

    for nid in g.nodes:
        nt = reg.get(g.nodes[nid].type)
        decl = nt.temporal_for(g.params_of(nid))
        if decl.kind == "whole" or nid not in rendered:
            continue
        params_changed = first.nodes[nid].key != warm.nodes[nid].key and all(
            versions(first, src, out) == versions(warm, src, out)
            for src, out, dst, _ in g.edges() if dst == nid)
        changed = []
        for src, out, dst, _ in g.edges():
            if dst != nid:
                continue
            old, new = versions(first, src, out), versions(warm, src, out)
            if isinstance(new, dict):
                changed.append(fr.from_frames(f for f in set(old) | set(new) if old.get(f) != new.get(f)))
            else:
                changed.append(fr.differing(old, new))
        expected = fr.affected(decl, g.params_of(nid), fr.union(*changed), n_frames)
        got = fr.union(*[fr.from_json(r) for r in rendered[nid]])
        if params_changed or any(e[0] == "param" and f"n{e[1]}" == nid for e in edits):
            continue  # its own params changed: a cold render of every frame is right
        assert not fr.subtract(got, expected), f"{nid} rendered {fr.describe(got)}, declared {fr.describe(expected)}"
        report = warm.nodes[nid].frames
        if nid not in ("sink", "clicks"):
            assert report == {"rendered": fr.size(got), "reused": n_frames - fr.size(got)}


def _chain(reg, folder, out):
    g = Graph(registry=reg)
    g.add("TReadFrames", id="src", path=str(folder))
    g.add("TPrompts", id="clicks", prompts=[{"frame": 2, "value": 1}])
    g.add("TPerFrame", id="per", frames="src.frames", k=1)
    g.add("TWindow", id="win", frames="per.frames", r=2)
    g.add("TCausal", id="run", frames="win.frames", points="clicks.points")
    g.add("TFrameSink", id="sink", frames="run.frames", path=str(out))
    return g


def test_a_changed_file_renders_each_node_on_its_declared_frames(counting_registry, test_log, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CHUNK_BYTES", 4 * 4 * 6 * 3)
    folder = tmp_path / "frames"
    _write_values(folder, list(range(20)))
    g = _chain(counting_registry, folder, tmp_path / "out")
    assert g.run(cache_dir=tmp_path / "cache").ok
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    since = len(read_log(test_log))
    (folder / "0010.txt").write_text("99\n")
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ok
    got = {n: fr.union(*map(fr.from_json, r)) for n, r in _rendered(test_log, since).items()}
    assert got == {"per": ((10, 11),), "win": ((8, 13),), "run": ((8, 20),), "sink": ((8, 20),)}
    assert result.nodes["per"].frames == {"rendered": 1, "reused": 19}
    assert result.nodes["win"].frames == {"rendered": 5, "reused": 15}
    assert result.nodes["run"].frames == {"rendered": 12, "reused": 8}
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    assert {n for n in after if after[n] != before[n]} == {f"{t:04d}.txt" for t in range(8, 20)}

    # A prompt added at frame 15 re-renders the causal node from 15 on, and nothing above it.
    since = len(read_log(test_log))
    g.set("clicks", prompts=[{"frame": 2, "value": 1}, {"frame": 15, "value": 3}])
    result = g.run(cache_dir=tmp_path / "cache")
    got = {n: fr.union(*map(fr.from_json, r)) for n, r in _rendered(test_log, since).items()}
    assert got == {"run": ((15, 20),), "sink": ((15, 20),)}
    assert result.status("per") == "cached" and result.status("win") == "cached"

    # Both equal a cold run.
    cold = g.run(cache_dir=tmp_path / "cold")
    for n in ("per", "win", "run"):
        a, b = result.value(n, "frames"), cold.value(n, "frames")
        assert np.array_equal(a.read(0, 20), b.read(0, 20))


def test_a_frame_range_renders_only_what_it_needs(counting_registry, test_log, tmp_path):
    folder = tmp_path / "frames"
    _write_values(folder, list(range(30)))
    g = _chain(counting_registry, folder, tmp_path / "out")
    result = g.run(cache_dir=tmp_path / "cache", frames=(10, 12))
    assert result.ok
    got = {n: fr.union(*map(fr.from_json, r)) for n, r in _rendered(test_log, 0).items()}
    assert got == {"per": ((0, 15),), "win": ((0, 13),), "run": ((10, 13),), "sink": ((10, 13),)}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0010.txt", "0011.txt", "0012.txt"]
    assert result.nodes["run"].frames == {"rendered": 3, "reused": 0}
    # The whole clip afterwards renders only the frames the range left out, and equals a cold run.
    since = len(read_log(test_log))
    full = g.run(cache_dir=tmp_path / "cache")
    got = {n: fr.union(*map(fr.from_json, r)) for n, r in _rendered(test_log, since).items()}
    assert got["per"] == ((15, 30),) and got["win"] == ((13, 30),) and got["sink"] == ((0, 10), (13, 30))
    # The same range again is all cached.
    again = g.run(cache_dir=tmp_path / "cache", frames=(10, 12))
    assert {r.status for r in again.nodes.values()} == {"cached"}
    cold = g.run(cache_dir=tmp_path / "cold")
    for n in ("per", "win", "run"):
        assert np.array_equal(full.value(n, "frames").read(0, 30), cold.value(n, "frames").read(0, 30))


def test_a_frame_range_outside_the_clip_is_bad_input(counting_registry, test_log, tmp_path):
    folder = tmp_path / "frames"
    _write_values(folder, list(range(5)))
    g = _chain(counting_registry, folder, tmp_path / "out")
    result = g.run(cache_dir=tmp_path / "cache", frames=(3, 9))
    assert result.exit_code() == 2
    assert "--frames 3-9" in result.failed[0].error and "5 frames" in result.failed[0].error


def test_frames_a_range_run_left_out_cannot_be_read(counting_registry, test_log, tmp_path):
    folder = tmp_path / "frames"
    _write_values(folder, list(range(12)))
    g = _chain(counting_registry, folder, tmp_path / "out")
    part = g.output(g.node("run").frames, cache_dir=tmp_path / "cache", frames=(4, 6))
    assert part[5].shape == (4, 6, 3)
    with pytest.raises(ValueError, match="frame 7 was not rendered"):
        part.read(4, 8)


# ---------------------------------------------------------------- frame ranges joined

def _ranges_graph(reg, folder, out):
    g = Graph(registry=reg)
    g.add("TReadFrames", id="src", path=str(folder))
    g.add("TPerFrame", id="per", frames="src.frames", k=1)
    g.add("TWindow", id="win", frames="per.frames", r=2)
    g.add("TFrameSink", id="sink", frames="win.frames", path=str(out))
    return g


@pytest.mark.parametrize("order", ["at once", "backwards"])
def test_frame_ranges_run_apart_join_into_the_whole_without_rendering_again(order, counting_registry, test_log,
                                                                            tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(data, "CHUNK_BYTES", 4 * 4 * 6 * 3)  # 4 frames a chunk: ranges cut chunks
    monkeypatch.setenv("INPAINTERZ_TEST_SLEEP", "0.01")  # ranges run at once really overlap
    folder = tmp_path / "frames"
    _write_values(folder, [t * 7 for t in range(30)])
    g = _ranges_graph(counting_registry, folder, tmp_path / "out")
    spans = [(0, 9), (10, 21), (22, 29)]
    results = {}

    def one(span):
        results[span] = g.run("win", cache_dir=tmp_path / "cache", frames=span)

    if order == "at once":
        threads = [threading.Thread(target=one, args=(s,)) for s in spans]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for span in reversed(spans):
            one(span)
    assert all(r.ok for r in results.values()), [(n.error, n.traceback) for r in results.values() for n in r.failed]
    for (a, b), r in results.items():
        assert r.nodes["win"].frames["rendered"] <= b - a + 1 and r.status("win") == "ran"
    since = len(read_log(test_log))
    full = g.run(cache_dir=tmp_path / "cache")
    assert full.ok
    got = {n: fr.union(*map(fr.from_json, r)) for n, r in _rendered(test_log, since).items()}
    assert got == {"sink": ((0, 30),)}  # the ranges' frames are joined, none rendered again
    assert full.nodes["win"].frames == {"rendered": 0, "reused": 30} and full.status("win") == "cached"
    cold = _ranges_graph(counting_registry, folder, tmp_path / "cold_out").run(cache_dir=tmp_path / "cold")
    assert sorted((tmp_path / "out").iterdir()) and all(
        f.read_bytes() == (tmp_path / "cold_out" / f.name).read_bytes() for f in (tmp_path / "out").iterdir())
    for n in ("per", "win"):
        a, b = full.value(n, "frames"), cold.value(n, "frames")
        assert np.array_equal(a.read(0, 30), b.read(0, 30)) and a.frame_versions == b.frame_versions
        assert a.version == b.version
    # The joined whole is found again by key alone: a second run renders and joins nothing.
    since = len(read_log(test_log))
    again = g.run(cache_dir=tmp_path / "cache")
    assert {n: r.status for n, r in again.nodes.items()} == dict.fromkeys(again.nodes, "cached")
    assert not _rendered(test_log, since)
