"""Scheduling: parallel branches, the per-device lock, cancellation, error isolation."""
import threading

from conftest import read_log, renders
from inpainterz.engine import Graph


def overlaps(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def test_independent_slow_nodes_overlap_in_time(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src")
    g.add("TSlow", id="left", frames=src.frames, seconds=0.6)
    g.add("TSlow", id="right", frames=src.frames, seconds=0.6, k=1)
    result = g.run(cache_dir=tmp_path / "cache", jobs=2)
    assert result.ok
    log = {r["node"]: r for r in read_log(test_log) if "start" in r}
    assert overlaps(log["left"], log["right"])
    assert result.seconds < 1.1  # serial would take at least 1.2 s


def test_gpu_nodes_never_overlap(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src")
    for i in range(3):
        g.add("TGpu", id=f"gpu{i}", frames=src.frames, seconds=0.2 + 0.01 * i)
    g.add("TSlow", id="cpu", frames=src.frames, seconds=0.4)
    result = g.run(cache_dir=tmp_path / "cache", jobs=3, device="cpu")
    assert result.ok
    log = {r["node"]: r for r in read_log(test_log) if "start" in r}
    gpus = [log[f"gpu{i}"] for i in range(3)]
    assert all(r["device"] == "cpu" for r in gpus)
    for i in range(3):
        for j in range(i + 1, 3):
            assert not overlaps(gpus[i], gpus[j])
    assert any(overlaps(log["cpu"], r) for r in gpus)  # a CPU node still runs beside them


def test_failure_is_isolated_and_downstream_is_skipped(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src")
    bad = g.add("TFail", id="bad", frames=src.frames)
    g.add("TOffset", id="after_bad", frames=bad.frames)
    g.add("TOffset", id="sibling", frames=src.frames)
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.status("bad") == "failed"
    assert result.status("after_bad") == "skipped"
    assert result.status("sibling") == "ran"
    assert "after_bad" not in renders(test_log)
    assert result.exit_code() == 1
    msg = result.nodes["bad"].error
    assert "node 'bad' (TFail)" in msg and "boom" in msg
    assert "Traceback" in result.nodes["bad"].traceback


def test_bad_input_raised_by_a_node_exits_2(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src")
    g.add("TFail", id="bad", frames=src.frames, bad_input=True)
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.exit_code() == 2
    assert "nowhere.mp4" in result.nodes["bad"].error


def test_cancel_stops_at_the_next_chunk_and_leaves_the_cache_consistent(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src")
    slow = g.add("TSlow", id="slow", frames=src.frames, seconds=5.0)
    g.add("TOffset", id="after", frames=slow.frames)
    cancel = threading.Event()

    def on_event(ev):
        if ev.node == "slow" and ev.kind == "running" and ev.fraction and ev.fraction > 0.05:
            cancel.set()

    result = g.run(cache_dir=tmp_path / "cache", cancel=cancel, on_event=on_event)
    assert result.cancelled and result.exit_code() == 130
    assert result.status("src") == "ran"
    assert result.status("slow") == "skipped" and result.status("after") == "skipped"
    assert result.seconds < 3
    # Nothing half-written is trusted: the next run re-runs exactly what was not finished.
    g.nodes["slow"].params["seconds"] = 0.1
    again = g.run(cache_dir=tmp_path / "cache")
    assert again.ok and again.status("src") == "cached" and again.ran() == {"slow", "after"}
    assert not list((tmp_path / "cache" / "tmp").iterdir())


def test_events_cover_the_lifecycle(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src", sleep=0.3)
    g.add("TOffset", id="off", frames=src.frames)
    events = []
    g.run(cache_dir=tmp_path / "cache", on_event=events.append)
    kinds = [(e.node, e.kind) for e in events]
    assert ("src", "queued") in kinds and ("src", "done") in kinds and ("off", "done") in kinds
    fractions = [e.fraction for e in events if e.node == "src" and e.kind == "running"]
    assert fractions[0] == 0.0 and max(fractions) > 0.0
    events.clear()
    g.run(cache_dir=tmp_path / "cache", on_event=events.append)
    assert {e.kind for e in events if e.kind != "queued"} == {"cached"}
