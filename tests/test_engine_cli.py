"""The command line across processes: reports, exit codes, persistence, a killed run."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import cli_command

HERE = Path(__file__).resolve().parent


def cli(*args, env_extra=None, check=None, timeout=120):
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"))
    env.update(env_extra or {})
    proc = subprocess.run(cli_command(*args),
                          capture_output=True, text=True, env=env, timeout=timeout)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def write_graph(path: Path, nodes: dict) -> Path:
    path.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": nodes}, indent=2, sort_keys=True))
    return path


@pytest.fixture
def chain_graph(tmp_path):
    return write_graph(tmp_path / "chain.json", {
        "src": {"type": "TSource", "params": {"value": 5}},
        "a": {"type": "TOffset", "inputs": {"frames": "src.frames"}},
        "b": {"type": "TOffset", "inputs": {"frames": "a.frames"}, "params": {"k": 2}},
        "side": {"type": "TOffset", "inputs": {"frames": "src.frames"}, "params": {"k": 7}},
        "out": {"type": "TSink", "inputs": {"frames": "b.frames"}, "params": {"path": "out.txt"}},
    })


def statuses(report_path: Path) -> dict:
    return {n: r["status"] for n, r in json.loads(report_path.read_text())["nodes"].items()}


def test_second_run_in_a_new_process_is_all_cached(chain_graph, tmp_path):
    cache = tmp_path / "cache"
    cli("run", chain_graph, "--cache-dir", cache, "--report", tmp_path / "r1.json", check=0)
    assert set(statuses(tmp_path / "r1.json").values()) == {"ran"}
    assert (tmp_path / "out.txt").read_text().split() == ["8", "8", "8"]
    cli("run", chain_graph, "--cache-dir", cache, "--report", tmp_path / "r2.json", check=0)
    report = json.loads((tmp_path / "r2.json").read_text())
    assert set(statuses(tmp_path / "r2.json").values()) == {"cached"}
    assert set(report) == {"nodes", "seconds"}
    assert set(report["nodes"]["a"]) >= {"type", "status", "seconds", "key"}


def test_set_reruns_that_node_and_its_descendants_only(chain_graph, tmp_path):
    cache = tmp_path / "cache"
    cli("run", chain_graph, "--cache-dir", cache, check=0)
    cli("run", chain_graph, "--cache-dir", cache, "-s", "a.k=3", "--report", tmp_path / "r.json", check=0)
    st = statuses(tmp_path / "r.json")
    assert {n for n, s in st.items() if s == "ran"} == {"a", "b", "out"}
    assert {n for n, s in st.items() if s == "cached"} == {"src", "side"}
    assert (tmp_path / "out.txt").read_text().split() == ["10", "10", "10"]


def test_bad_graph_exits_2_with_one_line_per_problem(tmp_path):
    g = write_graph(tmp_path / "bad.json", {
        "x": {"type": "NoSuchType"},
        "src": {"type": "TSource", "params": {"value": -4}},
        "p": {"type": "TOffset", "inputs": {"frames": "q.frames"}},
        "q": {"type": "TOffset", "inputs": {"frames": "p.frames"}},
    })
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", check=2)
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith(f"{g}: ") for line in lines)
    assert any("node 'x': unknown node type 'NoSuchType'" in line for line in lines)
    assert any("node 'src' (TSource): param 'value': -4 is below the minimum 0" in line for line in lines)
    assert any("the graph has a cycle: p -> q -> p" in line for line in lines)
    assert "Traceback" not in proc.stderr
    cli("validate", g, check=2)


def test_bad_set_value_exits_2(chain_graph, tmp_path):
    proc = cli("run", chain_graph, "--cache-dir", tmp_path / "cache", "-s", "a.k=abc", check=2)
    assert "node 'a' (TOffset): --set param 'k': expected an integer, got 'abc'" in proc.stderr


def test_failing_node_exits_1_naming_it_and_debug_shows_the_traceback(tmp_path):
    g = write_graph(tmp_path / "fail.json", {
        "src": {"type": "TSource"},
        "boom": {"type": "TFail", "inputs": {"frames": "src.frames"}},
    })
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", check=1)
    assert "error: node 'boom' (TFail) failed: RuntimeError: boom" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", "--debug", check=1)
    assert "Traceback" in proc.stderr


def test_nodes_json_and_describe(tmp_path):
    proc = cli("nodes", "--json", check=0)
    types = {d["id"]: d for d in json.loads(proc.stdout)}
    assert {"inputs", "outputs", "params", "version", "category", "doc", "gpu"} <= set(types["TOffset"])
    assert types["TOffset"]["params"][0] == {"name": "k", "type": "int", "default": 1, "doc": ""}
    proc = cli("describe", "TSource", check=0)
    assert "value" in proc.stdout and "range 0..255" in proc.stdout
    assert "did you mean 'TSource'" in cli("describe", "TSourc", check=2).stderr


def test_cache_info_and_clear(chain_graph, tmp_path):
    cache = tmp_path / "cache"
    cli("run", chain_graph, "--cache-dir", cache, check=0)
    assert "entries: 5" in cli("cache", "info", "--cache-dir", cache, check=0).stdout
    assert "removed 5 entries" in cli("cache", "clear", "--cache-dir", cache, check=0).stdout


def _run_killed_midway(graph: Path, cache: Path, log: Path) -> None:
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"), INPAINTERZ_TEST_LOG=str(log))
    proc = subprocess.Popen(cli_command("run", graph, "--cache-dir", cache),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    # Kill while the slow node is half-way: after the fast source finished.
    while time.time() < deadline:
        if log.exists() and "src" in log.read_text():
            break
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_a_killed_run_then_a_rerun_gives_the_same_output(tmp_path):
    nodes = {
        "src": {"type": "TSource", "params": {"value": 3, "n": 40}},
        "slow": {"type": "TSlow", "inputs": {"frames": "src.frames"}, "params": {"seconds": 2.0, "k": 4}},
        "out": {"type": "TSink", "inputs": {"frames": "slow.frames"}, "params": {"path": "out.txt"}},
    }
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    ga, gb = write_graph(a / "g.json", nodes), write_graph(b / "g.json", nodes)
    cli("run", ga, "--cache-dir", a / "cache", check=0)

    _run_killed_midway(gb, b / "cache", b / "log")
    assert not (b / "out.txt").exists()
    leftovers = list((b / "cache" / "tmp").iterdir())
    assert leftovers, "the kill should have hit a render in progress"
    cli("run", gb, "--cache-dir", b / "cache", "--report", b / "r.json", check=0)
    st = statuses(b / "r.json")
    assert st == {"src": "cached", "slow": "ran", "out": "ran"}
    assert (b / "out.txt").read_bytes() == (a / "out.txt").read_bytes()
    assert not list((b / "cache" / "tmp").iterdir())  # the dead run's folder was swept


def test_ctrl_c_exits_130_and_keeps_finished_work(tmp_path):
    g = write_graph(tmp_path / "g.json", {
        "src": {"type": "TSource"},
        "slow": {"type": "TSlow", "inputs": {"frames": "src.frames"}, "params": {"seconds": 5.0}},
    })
    log = tmp_path / "log"
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"), INPAINTERZ_TEST_LOG=str(log))
    proc = subprocess.Popen(cli_command("run", g, "--cache-dir", tmp_path / "cache",
                                        "--report", tmp_path / "r.json"),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and "src" in log.read_text()):
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert statuses(tmp_path / "r.json") == {"src": "ran", "slow": "skipped"}
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", "-s", "slow.seconds=0.1", "--report", tmp_path / "r.json", check=0)
    assert statuses(tmp_path / "r.json") == {"src": "cached", "slow": "ran"}


def test_node_reference_in_docs_is_generated_from_the_descriptors():
    """docs/nodes.md is what `inpainterz nodes --markdown` prints; regenerate it after changing a node."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "INPAINTERZ_PLUGIN_PATH"}
    proc = subprocess.run(cli_command("nodes", "--markdown"),
                          capture_output=True, text=True, env=env, timeout=120, check=True)
    expected = (HERE.parent / "docs" / "nodes.md").read_text()
    assert proc.stdout == expected, "docs/nodes.md is stale: inpainterz nodes --markdown > docs/nodes.md"


def test_ckpt_dir_is_searched_before_the_environment_folders(tmp_path):
    g = write_graph(tmp_path / "g.json", {
        "src": {"type": "TSource"},
        "seg": {"type": "SegmentSAM", "inputs": {"frames": "src.frames"}},
    })
    option, env = tmp_path / "option", tmp_path / "env"
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", "--ckpt-dir", option,
               env_extra={"INPAINTERZ_CKPT": str(env)}, check=2)
    line = next(line for line in proc.stderr.splitlines() if "sam_vit_b_01ec64.pth" in line)
    assert str(option) in line and str(env) in line
    assert line.index(str(option)) < line.index(str(env))
