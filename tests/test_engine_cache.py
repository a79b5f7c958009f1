"""Caching executor: cold and warm runs, invalidation, early cutoff, eviction, persistence."""
import os
import shutil

import numpy as np
import pytest

from conftest import renders
from inpainterz.engine import Graph
from inpainterz.engine.cache import Cache


def chain(reg):
    """src -> a -> b -> sink, plus an independent side branch src2 -> c."""
    g = Graph(registry=reg)
    src = g.add("TSource", id="src", value=10)
    a = g.add("TOffset", id="a", frames=src.frames, k=1)
    b = g.add("TOffset", id="b", frames=a.frames, k=2)
    g.add("TJoin", id="join", a=b.frames)
    src2 = g.add("TSource", id="src2", value=50)
    g.add("TOffset", id="c", frames=src2.frames)
    return g


def test_cold_then_warm_renders_nothing(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    first = g.run(cache_dir=tmp_path / "cache")
    assert first.ok and first.ran() == set(g.nodes)
    assert sorted(renders(test_log)) == sorted(g.nodes)
    second = g.run(cache_dir=tmp_path / "cache")
    assert {r.status for r in second.nodes.values()} == {"cached"}
    assert len(renders(test_log)) == len(g.nodes)  # no new renders
    assert second.value("join", "frames")[0][0, 0, 0] == 13


def test_param_change_reruns_exactly_the_downstream_subgraph(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    g.run(cache_dir=tmp_path / "cache")
    test_log.unlink()
    g.nodes["a"].params["k"] = 5
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"a", "b", "join"}
    assert {n for n, r in result.nodes.items() if r.status == "cached"} == {"src", "src2", "c"}
    assert sorted(renders(test_log)) == ["a", "b", "join"]
    assert result.value("join", "frames")[0][0, 0, 0] == 17


def test_only_what_the_target_needs_runs(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    result = g.run(g.node("a"), cache_dir=tmp_path / "cache")
    assert set(result.nodes) == {"src", "a"}
    assert sorted(renders(test_log)) == ["a", "src"]


def test_early_cutoff_when_a_rerun_gives_the_same_content(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    g.run(cache_dir=tmp_path / "cache")
    test_log.unlink()
    g.nodes["a"].params["salt"] = "new key, same pixels"
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"a"}
    assert result.status("b") == "cached" and result.status("join") == "cached"


def test_source_on_identical_copy_or_touched_file_reruns_only_itself(counting_registry, test_log, tmp_path):
    data = tmp_path / "n.txt"
    data.write_text("7\n")
    g = Graph(registry=counting_registry)
    src = g.add("TReadNumber", id="read", path=str(data))
    g.add("TOffset", id="off", frames=src.frames, k=1)
    g.run(cache_dir=tmp_path / "cache")

    copy = tmp_path / "copy.txt"
    shutil.copyfile(data, copy)
    g.nodes["read"].params["path"] = str(copy)
    test_log.unlink()
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"read"} and result.status("off") == "cached"

    os.utime(copy, ns=(1, 1))  # touched, not changed
    test_log.unlink()
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"read"} and result.status("off") == "cached"

    copy.write_text("9\n")  # changed
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"read", "off"}
    assert result.value("off", "frames")[0][0, 0, 0] == 10


def test_sink_reruns_when_its_output_file_is_gone(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    src = g.add("TSource", id="src", value=3, n=2)
    g.add("TSink", id="sink", frames=src.frames, path=str(tmp_path / "out.txt"))
    g.run(cache_dir=tmp_path / "cache")
    assert (tmp_path / "out.txt").read_text().split() == ["3", "3"]
    assert g.run(cache_dir=tmp_path / "cache").status("sink") == "cached"
    (tmp_path / "out.txt").unlink()
    result = g.run(cache_dir=tmp_path / "cache")
    assert result.ran() == {"sink"} and (tmp_path / "out.txt").exists()


def test_no_cache_runs_everything(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    g.run(cache_dir=tmp_path / "cache")
    result = g.run(cache_dir=tmp_path / "cache", no_cache=True)
    assert result.ran() == set(g.nodes)


def test_eviction_is_least_recently_used_under_the_budget(counting_registry, test_log, tmp_path):
    cache_dir = tmp_path / "cache"
    big = 200_000  # bytes per clip below: 3 frames of 100x... via n
    g = Graph(registry=counting_registry)
    g.add("TSource", id="s", value=1, n=2000)  # 2000 * 4*6*3 = 144 kB
    per_entry = g.run(cache_dir=cache_dir).cache.info()["bytes"]
    assert 100_000 < per_entry < big
    budget = int(per_entry * 2.5)  # room for two entries
    for value in (2, 3):
        g.nodes["s"].params["value"] = value
        g.run(cache_dir=cache_dir, cache_size=budget)
    info = Cache(cache_dir, budget).info()
    assert info["entries"] == 2 and info["bytes"] <= budget
    # value=1 was used least recently: it was evicted, 2 and 3 are still there
    test_log.unlink()
    for value, expect in ((3, "cached"), (2, "cached"), (1, "ran")):
        g.nodes["s"].params["value"] = value
        assert g.run(cache_dir=cache_dir, cache_size=budget).status("s") == expect


def test_cache_info_and_clear(counting_registry, test_log, tmp_path):
    g = chain(counting_registry)
    g.run(cache_dir=tmp_path / "cache")
    cache = Cache(tmp_path / "cache")
    assert cache.info()["entries"] == len(g.nodes)
    assert cache.clear() == len(g.nodes)
    assert cache.info()["entries"] == 0


def test_cached_clips_read_back_in_chunks(counting_registry, test_log, tmp_path):
    g = Graph(registry=counting_registry)
    g.add("TSource", id="s", value=9, n=50)
    clip = g.run(cache_dir=tmp_path / "cache").value("s", "frames")
    assert len(clip) == 50 and clip.fps == 25
    got = np.concatenate([c for _, c in clip.chunks(size=7)])
    assert got.shape == (50, 4, 6, 3) and (got == 9).all()
    assert clip.read(48, 60).shape[0] == 2
    with pytest.raises(IndexError):
        clip[50]


def _pending_entry(cache, key, text):
    pending = cache.begin(key)
    (pending.path / "data.txt").write_text(text)
    return pending


def test_an_entry_another_run_may_read_is_never_replaced_when_a_side_key_is_given(tmp_path):
    cache = Cache(tmp_path / "c")
    first = cache.commit(_pending_entry(cache, "aa11", "first"), {"n": 1})
    reader_path = first.path / "data.txt"
    # Another frame range of the same key: kept beside, under its side key.
    second = cache.commit(_pending_entry(cache, "aa11", "second"), {"n": 2}, if_taken="bb22")
    assert second.key == "bb22" and (second.path / "data.txt").read_text() == "second"
    assert reader_path.read_text() == "first" and cache.lookup("aa11").meta["n"] == 1
    # The side key taken too (same key, same frames): the entry there stands, ours is dropped.
    third = cache.commit(_pending_entry(cache, "aa11", "third"), {"n": 3}, if_taken="bb22")
    assert third.key == "bb22" and (third.path / "data.txt").read_text() == "second"
    assert not list(cache.tmp_dir.iterdir())
    # A forced re-run (no side key) still replaces.
    cache.commit(_pending_entry(cache, "aa11", "forced"), {"n": 4})
    assert cache.lookup("aa11").meta["n"] == 4


def test_range_families_keep_one_record_per_entry_and_drop_evicted_ones(tmp_path):
    cache = Cache(tmp_path / "c")
    for key in ("cc01", "cc02", "cc03"):
        cache.commit(_pending_entry(cache, key, key), {})
        cache.add_to_family("ff00", key, keep=2)
    assert [e.key for e in cache.family("ff00")] in (["cc03", "cc02"], ["cc02", "cc03"])  # same mtime: any order
    shutil.rmtree(cache.lookup("cc02").path)
    assert [e.key for e in cache.family("ff00")] == ["cc03"]
    assert sorted(p.name for p in cache._family_path("ff00").iterdir()) == ["cc03"]
