"""Every option the command line advertises, through the one parser (in this process)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import renders
from inpainterz.app.cli import build_parser, main


@pytest.fixture
def graph(tmp_path, counting_registry, test_log) -> Path:
    path = tmp_path / "chain.json"
    path.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "src": {"type": "TSource", "params": {"value": 5}},
        "a": {"type": "TOffset", "inputs": {"frames": "src.frames"}},
        "b": {"type": "TOffset", "inputs": {"frames": "a.frames"}},
        "side": {"type": "TOffset", "inputs": {"frames": "src.frames"}, "params": {"k": 7}}}}))
    return path


def report(path: Path) -> dict:
    return {n: r["status"] for n, r in json.loads(path.read_text())["nodes"].items()}


def test_run_set_target_report_jobs_device(graph, tmp_path, test_log):
    cache = str(tmp_path / "cache")
    rep = tmp_path / "r.json"
    argv = ["run", str(graph), "--cache-dir", cache, "--set", "a.k=3", "--target", "b", "--report", str(rep),
            "--jobs", "2", "--device", "cpu"]
    assert main(argv) == 0
    assert report(rep) == {"src": "ran", "a": "ran", "b": "ran"}  # "side" is not needed by the target
    assert main(["run", str(graph), "--cache-dir", cache, "-s", "a.k=3", "-j", "2", "--report", str(rep)]) == 0
    assert report(rep) == {"src": "cached", "a": "cached", "b": "cached", "side": "ran"}


def test_run_no_cache_renders_everything_again(graph, tmp_path, test_log):
    cache = str(tmp_path / "cache")
    assert main(["run", str(graph), "--cache-dir", cache]) == 0
    before = len(renders(test_log))
    assert main(["run", str(graph), "--cache-dir", cache, "--no-cache"]) == 0
    assert len(renders(test_log)) - before == 4


def test_run_refuses_a_bad_cache_size_and_device(graph, tmp_path, capsys):
    assert main(["run", str(graph), "--cache-dir", str(tmp_path / "c"), "--cache-size", "12Q"]) == 2
    assert "--cache-size" in capsys.readouterr().err
    assert main(["run", str(graph), "--cache-dir", str(tmp_path / "c"), "--device", "gpu0"]) == 2
    assert "gpu0" in capsys.readouterr().err
    assert main(["run", str(graph), "--cache-dir", str(tmp_path / "c"), "--cache-size", "1G"]) == 0


def test_cache_info_and_clear(graph, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert main(["run", str(graph), "--cache-dir", cache]) == 0
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", cache, "--cache-size", "5G"]) == 0
    out = capsys.readouterr().out
    assert "entries: 4" in out and "of 5.0 GiB budget" in out
    assert main(["cache", "clear", "--cache-dir", cache]) == 0
    assert "removed 4 entries" in capsys.readouterr().out


def test_nodes_describe_and_validate(graph, capsys):
    assert main(["nodes", "--json"]) == 0
    ids = {d["id"] for d in json.loads(capsys.readouterr().out)}
    assert {"TSource", "DilateMask", "InpaintFlow"} <= ids
    assert main(["nodes", "--markdown"]) == 0 and "### DilateMask" in capsys.readouterr().out
    assert main(["describe", "TOffset"]) == 0 and "origin:" in capsys.readouterr().out
    assert main(["validate", str(graph), "--set", "a.k=2"]) == 0
    assert main(["validate", str(graph), "-s", "a.k=x"]) == 2


def test_the_parser_knows_every_command_and_top_level_debug():
    parser = build_parser()
    assert parser.parse_args(["demo", "--out", "somewhere"]).out == "somewhere"
    assert parser.parse_args(["edit", "g.json", "--screenshot", "s.png", "--ckpt-dir", "w"]).ckpt_dir == "w"
    assert parser.parse_args(["--debug", "run", "g.json"]).debug is True
    assert parser.parse_args(["run", "g.json", "--debug"]).debug is True
    with pytest.raises(SystemExit):
        parser.parse_args(["frobnicate"])
