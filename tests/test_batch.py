"""`inpainterz batch` on this machine: shot lists, substitution, failures, resume, progress."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import HERE, cli_command, read_log

from inpainterz.app.batch import ShotResult
from inpainterz.app.batch_progress import BatchProgress
from inpainterz.app.shots import ShotsError, read_shots
from inpainterz.app.cli import main
from inpainterz.engine.graph import Graph

GRAPH = {"format": "inpainterz-graph", "version": 1, "nodes": {
    "num": {"type": "TReadNumber", "params": {"path": "in/a.txt"}},
    "slow": {"type": "TSlow", "inputs": {"frames": "num.frames"}, "params": {"seconds": 0.0, "k": 3}},
    "write": {"type": "WriteImages", "inputs": {"frames": "slow.frames"}, "params": {"path": "out/x/f.%04d.png"}}}}


@pytest.fixture
def shot_folder(tmp_path, counting_registry, test_log, monkeypatch):
    (tmp_path / "in").mkdir()
    for name, number in (("a", 10), ("b", 20), ("c", 30)):
        (tmp_path / "in" / f"{name}.txt").write_text(f"{number}\n")
    (tmp_path / "g.json").write_text(json.dumps(GRAPH))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _batch(*args) -> int:
    return main(["batch", "g.json", *map(str, args), "--cache-dir", "cache"])


def test_csv_and_json_shot_lists_give_the_same_shots(shot_folder):
    (shot_folder / "s.csv").write_text("shot,num.path,slow.k,write.path\n"
                                       "a,in/{shot}.txt,5,out/{shot}/f.%04d.png\n"
                                       "\n"
                                       "b,in/{shot}.txt,,out/{shot}-{shot}/f.%04d.png\n")
    (shot_folder / "s.json").write_text(json.dumps([
        {"shot": "a", "num.path": "in/{shot}.txt", "slow.k": 5, "write.path": "out/{shot}/f.%04d.png"},
        {"shot": "b", "num.path": "in/{shot}.txt", "slow.k": None, "write.path": "out/{shot}-{shot}/f.%04d.png"}]))
    graph = Graph.load(shot_folder / "g.json")
    from_csv, from_json = read_shots(shot_folder / "s.csv", graph), read_shots(shot_folder / "s.json", graph)
    assert [(s.name, s.sets) for s in from_csv] == [(s.name, s.sets) for s in from_json]
    a, b = from_csv
    assert (a.row, b.row) == (2, 4)
    assert dict(a.sets) == {"num.path": str(shot_folder / "in/a.txt"), "slow.k": 5,
                            "write.path": str(shot_folder / "out/a/f.%04d.png")}
    assert dict(b.sets)["write.path"] == str(shot_folder / "out/b-b/f.%04d.png") and "slow.k" not in dict(b.sets)


def test_a_batch_substitutes_the_shot_name_and_equals_plain_runs(shot_folder, capsys):
    (shot_folder / "s.json").write_text(json.dumps([
        {"shot": s, "num.path": "in/{shot}.txt", "write.path": "out/{shot}/f.%04d.png"} for s in "abc"]))
    assert _batch("s.json", "--jobs", "2", "--report", "r.json") == 0
    assert capsys.readouterr().err.splitlines()[-1].startswith("3 shots: 3 done in ")
    report = json.loads((shot_folder / "r.json").read_text())
    assert report["backend"] == "local" and set(report["shots"]) == {"a", "b", "c"}
    for shot in "abc":
        entry = report["shots"][shot]
        assert entry["status"] == "done" and entry["seconds"] > 0
        assert entry["outputs"] == [str(shot_folder / "out" / shot / "f.%04d.png")]
        assert {n: r["status"] for n, r in entry["nodes"].items()} == {"num": "ran", "slow": "ran", "write": "ran"}
        assert main(["run", "g.json", "--cache-dir", "plain-cache", "-s", f"num.path=in/{shot}.txt",
                     "-s", f"write.path=plain/{shot}/f.%04d.png"]) == 0
        for frame in ("f.0000.png", "f.0001.png"):
            assert (shot_folder / "out" / shot / frame).read_bytes() == (shot_folder / "plain" / shot / frame).read_bytes()


def test_errors_in_the_shot_list_are_one_line_each_with_row_and_column(shot_folder, capsys, test_log):
    (shot_folder / "s.csv").write_text("shot,num.path,slow.kk,nope.x,slow.k\n"
                                       "a,in/a.txt,1,2,3\n"
                                       "b,in/b.txt,1,2,many\n"
                                       "a,in/c.txt,1,2,3\n"
                                       "bad/name,in/c.txt,1,2,3\n")
    assert _batch("s.csv") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "s.csv: row 1, column 'slow.kk': no such param (did you mean 'k'?) (params: seconds, k)",
        "s.csv: row 1, column 'nope.x': no node 'nope' in the graph",
        "s.csv: row 3, column 'slow.k': expected an integer, got 'many'",
        "s.csv: row 4, column 'shot': shot 'a' is already named in row 2",
        "s.csv: row 5, column 'shot': shot name 'bad/name' may hold only letters, digits, '_', '-' and '.', "
        "and may not start with '.' or '-' (it is used in file names)",
    ]
    assert read_log(test_log) == []  # nothing ran


@pytest.mark.parametrize("name, text, line", [
    ("empty.csv", "", "empty.csv: the shot list is empty; it needs a header (shot,NODE.PARAM,...) and a row per shot"),
    ("noshot.csv", "name,slow.k\na,1\n", "noshot.csv: row 1: the header has no 'shot' column; the first column is "
                                         "the shot name (header: shot,NODE.PARAM,...)"),
    ("j.json", '[{"shot": "a", "slow.k": "x"}, {"slow.k": 1}, {"shot": "a"}]',
     'j.json: row 2: the object has no "shot" key'),
    ("obj.json", '{"shot": "a"}', 'obj.json: a JSON shot list is a list of objects: '
                                  '[{"shot": "sh010", "NODE.PARAM": VALUE}, ...]'),
    ("missing.csv", None, "missing.csv: no such shot list; check the path"),
])
def test_broken_shot_lists_exit_2_before_anything_runs(shot_folder, capsys, test_log, name, text, line):
    if text is not None:
        (shot_folder / name).write_text(text)
    assert _batch(name) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == line
    if name == "j.json":
        assert err[1:] == ["j.json: row 1, column 'slow.k': expected an integer, got 'x'",
                           "j.json: row 3, column 'shot': shot 'a' is already named in row 1"]
    assert read_log(test_log) == []


def test_a_shot_with_bad_input_fails_alone_and_is_named(shot_folder, capsys):
    (shot_folder / "in" / "b.txt").write_text("not a number\n")
    (shot_folder / "s.csv").write_text("shot,num.path,write.path\n" +
                                       "".join(f"{s},in/{{shot}}.txt,out/{{shot}}/f.%04d.png\n" for s in "abcd"))
    assert _batch("s.csv", "--report", "r.json", "--jobs", "2") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("failed shot")]
    assert failed == [f"failed shot 'b': node 'num' (TReadNumber) failed: file {shot_folder / 'in/b.txt'} "
                      f"does not hold a number",
                      f"failed shot 'd': node 'num' (TReadNumber): param 'path': file {shot_folder / 'in/d.txt'} "
                      f"does not exist"]
    shots = json.loads((shot_folder / "r.json").read_text())["shots"]
    assert {s: r["status"] for s, r in shots.items()} == {"a": "done", "b": "failed", "c": "done", "d": "failed"}
    assert (shot_folder / "out/c/f.0001.png").exists() and not (shot_folder / "out/b").exists()


def test_an_interrupted_batch_resumes_through_the_cache(shot_folder, test_log):
    (shot_folder / "s.csv").write_text("shot,num.path,write.path,slow.seconds\n" +
                                       "".join(f"{s},in/{{shot}}.txt,out/{{shot}}/f.%04d.png,1.0\n" for s in "abc"))
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"), INPAINTERZ_TEST_LOG=str(test_log))
    args = cli_command("batch", "g.json", "s.csv", "--cache-dir", "cache", "--report", "r.json")
    proc = subprocess.Popen(args, cwd=shot_folder, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (shot_folder / "out/a/f.0001.png").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into shot b's slow node
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same batch again to continue" in err and "Traceback" not in err
    first = json.loads((shot_folder / "r.json").read_text())["shots"]
    assert first["a"]["status"] == "done" and first["c"]["status"] == "cancelled"
    rendered_before = len(read_log(test_log))

    again = subprocess.run(args, cwd=shot_folder, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    second = json.loads((shot_folder / "r.json").read_text())["shots"]
    assert second["a"]["status"] == "cached"
    assert {n: r["status"] for n, r in second["b"]["nodes"].items()} == {"num": "cached", "slow": "ran", "write": "ran"}
    assert second["c"]["status"] == "done"
    # Shot a rendered nothing again; b only the node the interruption stopped; c its test nodes.
    assert [r["node"] for r in read_log(test_log)[rendered_before:]] == ["slow", "num", "slow"]


def test_ray_without_ray_installed_says_how_to_install_it(shot_folder, capsys, monkeypatch):
    (shot_folder / "s.csv").write_text("shot,num.path\na,in/a.txt\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    assert _batch("s.csv", "--ray") == 2
    err = capsys.readouterr().err
    assert f'{sys.executable} -m pip install "ray>=2.40"' in err and "Traceback" not in err
    assert not (shot_folder / "out").exists()


def test_progress_shows_a_bar_across_shots_and_a_line_per_running_shot():
    from inpainterz.engine.executor import Event

    stream = io.StringIO()
    progress = BatchProgress(3, stream, live=True)
    progress.shot_started("sh010")
    progress.shot_started("sh020")
    progress.node_events("sh010")(Event("running", "fill", "InpaintFlow", 0.5))
    progress._draw()
    progress.shot_finished(ShotResult("sh020", "failed", 1.0, error="node 'read' (ReadVideo) failed: no file"))
    progress.close()
    text = stream.getvalue()
    assert "fill (InpaintFlow)  50%" in text
    assert "shots [" in text and "1/3, 1 failed" in text
    assert "[sh020] failed in 1.00s: node 'read' (ReadVideo) failed: no file (1/3 shots)" in text

    plain = io.StringIO()
    progress = BatchProgress(1, plain, live=False)
    progress.shot_started("a")
    progress.node_events("a")(Event("done", "num", "TReadNumber", 1.0, seconds=0.5))
    progress.shot_finished(ShotResult("a", "done", 0.7, host="hostA"))
    assert plain.getvalue().splitlines() == ["[a] started", "[a] num done in 0.50s",
                                             "[a] done in 0.70s on hostA (1/1 shots)"]
    assert "\x1b[" not in plain.getvalue()


def test_local_shots_share_one_model_manager_so_weights_load_once(tmp_path, monkeypatch, capsys):
    import cv2
    import numpy as np
    import torch

    from inpainterz.engine.models import get_manager
    from inpainterz.nodes.e2fgvi import checkpoint

    torch.manual_seed(0)
    torch.save(checkpoint.build("e2fgvi_hq").state_dict(), tmp_path / "hq.pth")
    rng = np.random.default_rng(1)
    for shot in ("a", "b", "c"):
        (tmp_path / shot / "masks").mkdir(parents=True)
        for t in range(3):
            cv2.imwrite(str(tmp_path / shot / f"{t:04d}.png"), rng.integers(0, 255, (32, 48, 3), np.uint8))
            mask = np.zeros((32, 48), np.uint8)
            mask[10:20, 10 + 3 * t:22 + 3 * t] = 1
            cv2.imwrite(str(tmp_path / shot / "masks" / f"{t:04d}.png"), mask)
    (tmp_path / "g.json").write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": "a/%04d.png"}},
        "masks": {"type": "ReadMasks", "params": {"path": "a/masks"}},
        "fill": {"type": "InpaintE2FGVI", "inputs": {"frames": "read.frames", "masks": "masks.masks"},
                 "params": {"model": "e2fgvi_hq", "checkpoint": "hq.pth"}},
        "write": {"type": "WriteImages", "inputs": {"frames": "fill.frames"}, "params": {"path": "out/a/%04d.png"}}}}))
    (tmp_path / "s.csv").write_text("shot,read.path,masks.path,write.path\n" +
                                    "".join(f"{s},{{shot}}/%04d.png,{{shot}}/masks,out/{{shot}}/%04d.png\n" for s in "abc"))
    monkeypatch.chdir(tmp_path)
    before = len(get_manager().log)
    assert main(["batch", "g.json", "s.csv", "--cache-dir", "cache", "--jobs", "2", "--device", "cpu"]) == 0
    loads = [line for line in get_manager().log[before:] if line.startswith("load ('InpaintE2FGVI'")]
    assert len(loads) == 1, get_manager().log[before:]
    assert all(len(list((tmp_path / "out" / s).glob("*.png"))) == 3 for s in "abc")


# ---------------------------------------------------------------- long shots in frame ranges

CHUNK_GRAPH = {"format": "inpainterz-graph", "version": 1, "nodes": {
    "src": {"type": "TReadFrames", "params": {"path": "frames/a"}},
    "per": {"type": "TPerFrame", "inputs": {"frames": "src.frames"}, "params": {"k": 1}},
    "run": {"type": "TCausal", "inputs": {"frames": "per.frames"}},
    "slow": {"type": "TSlowFrames", "inputs": {"frames": "run.frames"}},
    "win": {"type": "TWindow", "inputs": {"frames": "slow.frames"}, "params": {"r": 2}},
    "sink": {"type": "TFrameSink", "inputs": {"frames": "win.frames"}, "params": {"path": "out/a"}}}}


@pytest.fixture
def long_shots(tmp_path, counting_registry, test_log, monkeypatch):
    for shot, n in (("a", 23), ("b", 17)):
        (tmp_path / "frames" / shot).mkdir(parents=True)
        for t in range(n):
            (tmp_path / "frames" / shot / f"{t:04d}.txt").write_text(f"{(t * 37 + len(shot)) % 251}\n")
    (tmp_path / "g.json").write_text(json.dumps(CHUNK_GRAPH))
    (tmp_path / "s.csv").write_text("shot,src.path,sink.path\na,frames/{shot},out/{shot}\nb,frames/{shot},out/{shot}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_chunked_shots_equal_plain_runs_and_render_each_range_once(long_shots, test_log):
    assert _batch("s.csv", "--chunk-frames", "7", "--jobs", "2", "--report", "r.json") == 0
    log = read_log(test_log)
    # The causal node ran once per shot, over the whole clip, in the shot's first task.
    assert [r["frames"] for r in log if r["node"] == "run"] in ([[[0, 23]], [[0, 17]]], [[[0, 17]], [[0, 23]]])
    # The window node rendered 4 + 3 ranges, each of its own frames: no frame twice, none in the join.
    win = [r["frames"] for r in log if r["node"] == "win"]
    assert len(win) == 7 and sum(b - a for [[a, b]] in win) == 23 + 17
    assert sorted(b - a for [[a, b]] in win) == [2, 3, 7, 7, 7, 7, 7]
    report = json.loads((long_shots / "r.json").read_text())
    assert report["chunk_frames"] == 7
    a = report["shots"]["a"]
    assert a["status"] == "done"
    assert [t["task"] for t in a["tasks"]] == ["prelude", "frames 0-6", "frames 7-13", "frames 14-20",
                                               "frames 21-22", "join"] or \
        sorted(t["task"] for t in a["tasks"][1:5]) == ["frames 0-6", "frames 14-20", "frames 21-22", "frames 7-13"]
    assert a["nodes"]["win"]["frames"] == {"rendered": 23, "reused": 0}
    assert a["nodes"]["run"]["frames"] == {"rendered": 23, "reused": 0}
    for shot in "ab":
        assert main(["run", "g.json", "--cache-dir", "plain-cache", "-s", f"src.path=frames/{shot}",
                     "-s", f"sink.path=plain/{shot}"]) == 0
        names = sorted(p.name for p in (long_shots / "plain" / shot).iterdir())
        assert names == sorted(p.name for p in (long_shots / "out" / shot).iterdir()) and len(names) > 10
        for name in names:
            assert (long_shots / "out" / shot / name).read_bytes() == (long_shots / "plain" / shot / name).read_bytes()
    # Again: every task is cached.
    since = len(read_log(test_log))
    assert _batch("s.csv", "--chunk-frames", "7", "--report", "r.json") == 0
    assert read_log(test_log)[since:] == []
    assert {s: r["status"] for s, r in json.loads((long_shots / "r.json").read_text())["shots"].items()} == {
        "a": "cached", "b": "cached"}


def test_a_failed_range_fails_its_shot_with_the_range_named(long_shots, capsys, test_log):
    (long_shots / "s.csv").write_text("shot,src.path,sink.path,slow.fail_at\na,frames/{shot},out/{shot},\n"
                                      "b,frames/{shot},out/{shot},9\n")
    assert _batch("s.csv", "--chunk-frames", "7", "--report", "r.json") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("failed shot")]
    assert failed == ["failed shot 'b': frames 7-13: node 'slow' (TSlowFrames) failed: frame 9 of the input is unreadable; "
                      "replace it"]
    shots = json.loads((long_shots / "r.json").read_text())["shots"]
    assert shots["a"]["status"] == "done" and shots["b"]["status"] == "failed"
    assert "join" not in [t["task"] for t in shots["b"]["tasks"]]
    assert not (long_shots / "out" / "b").exists()


def test_a_chunked_shot_writes_the_mp4_of_a_plain_run(tmp_path, monkeypatch):
    from inpainterz.app.demo import DEMO_GRAPH
    from inpainterz.app.synthetic import make_scene, write_scene

    for i, shot in enumerate(("p", "q")):
        write_scene(tmp_path / shot, make_scene(96, 64, 30, seed=i))
    (tmp_path / "s.csv").write_text("shot,read.path,masks.path,write.path\n" + "".join(
        f"{s},{{shot}}/clip.mp4,{{shot}}/masks,out/{{shot}}.mp4\n" for s in "pq"))
    monkeypatch.chdir(tmp_path)
    assert main(["batch", str(DEMO_GRAPH), "s.csv", "--chunk-frames", "8", "--jobs", "2", "--cache-dir", "cache",
                 "--report", "r.json"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    for shot in "pq":
        assert main(["run", str(DEMO_GRAPH), "--cache-dir", "plain-cache", "-s", f"read.path={shot}/clip.mp4",
                     "-s", f"masks.path={shot}/masks", "-s", f"write.path=plain/{shot}.mp4"]) == 0
        assert (tmp_path / "out" / f"{shot}.mp4").read_bytes() == (tmp_path / "plain" / f"{shot}.mp4").read_bytes()
        nodes = report["shots"][shot]["nodes"]
        assert nodes["fill"]["frames"] == {"rendered": 30, "reused": 0}  # the join spliced, rendered nothing
        assert [t["task"] for t in report["shots"][shot]["tasks"]][-1] == "join"


def test_the_readme_shows_the_farm_template_that_ships():
    import yaml

    text = (HERE.parent / "docs" / "farm-chunks.yaml").read_text()
    assert f"```yaml\n{text}```" in (HERE.parent / "README.md").read_text()
    job = yaml.safe_load(text)
    steps = {s["name"]: s for s in job["steps"]}
    assert list(steps) == ["Prelude", "Chunks", "Encode"]
    assert steps["Chunks"]["dependencies"] == [{"dependsOn": "Prelude"}]
    assert steps["Encode"]["dependencies"] == [{"dependsOn": "Chunks"}]
    chunk = steps["Chunks"]["script"]["embeddedFiles"][0]["data"]
    assert '--frames "$first-$last"' in chunk and "--target" in chunk
    # Every option the template passes is one `inpainterz run` takes.
    from inpainterz.app.cli import build_parser

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    known = {o for a in run._actions for o in a.option_strings}
    used = {w for w in text.replace('"', " ").replace(",", " ").split() if w.startswith("--")}
    assert used <= known, used - known


def test_shipped_graphs_split_into_a_prelude_of_causal_and_whole_stages_and_ranges():
    from inpainterz.app import chunks

    def split(name, *sets):
        g = Graph.load(HERE.parent / "graphs" / f"{name}.json")
        g.apply_sets(list(sets))
        return chunks.split(g)

    assert split("demo_remove") == (("masks", "read"), ("fill",))
    assert split("remove_with_mattes") == (("mattes", "read"), ("fill", "grow"))  # grow feeds the mattes writer
    # Tracking is causal, E2FGVI's exact mode whole: all in the prelude, so the shot is one task.
    assert split("remove_object") == (("detect", "fill", "read", "track"), ())
    g = Graph.load(HERE.parent / "graphs" / "remove_object.json")
    state, tasks = chunks.start(g, "sh010", 30)
    assert [t.label for t in tasks] == ["join"] and state.step == chunks.JOIN
    # In bounded mode the fill is a window node: tracking first, then the fill in ranges.
    assert split("remove_object", "fill.mode=bounded") == (("detect", "read", "track"), ("fill",))
    assert chunks.spans(65, 30) == [(0, 29), (30, 59), (60, 64)]


def test_progress_gives_each_task_of_a_chunked_shot_its_own_line():
    from inpainterz.engine.executor import Event

    plain = io.StringIO()
    progress = BatchProgress(1, plain, live=False)
    progress.shot_started("sh010")
    progress.task_started("sh010", "frames 0-29", "gpu1")
    progress.task_started("sh010", "frames 30-59", "gpu2")
    progress.node_events("sh010", "frames 30-59")(Event("done", "fill", "InpaintFlow", 1.0, seconds=2.0))
    progress.task_finished("sh010", "frames 0-29", ShotResult("sh010", "done", 1.5, host="gpu1"))
    assert set(progress.running) == {"sh010 frames 30-59"}
    progress.shot_finished(ShotResult("sh010", "done", 3.0, host="gpu1"))
    assert not progress.running
    assert plain.getvalue().splitlines() == [
        "[sh010] started", "[sh010 frames 0-29] started on gpu1", "[sh010 frames 30-59] started on gpu2",
        "[sh010 frames 30-59] fill done in 2.00s", "[sh010 frames 0-29] done in 1.50s on gpu1",
        "[sh010] done in 3.00s on gpu1 (1/1 shots)"]


def test_an_interrupted_chunked_shot_resumes_with_the_ranges_it_did_not_finish(long_shots, test_log):
    import threading

    from inpainterz.app.batch import RunOptions, run_local

    graph = Graph.load(long_shots / "g.json")
    shots = read_shots(long_shots / "s.csv", graph)[:1]
    cancel = threading.Event()

    class StopAtSecondRange(BatchProgress):
        def task_started(self, shot, label, where=""):
            super().task_started(shot, label, where)
            if label == "frames 7-13":
                cancel.set()  # as Ctrl-C would, once the first range is done

    options = RunOptions(cache_dir=str(long_shots / "cache"))
    first = run_local(graph, shots, options, jobs=1, progress=StopAtSecondRange(1, io.StringIO(), live=False),
                      cancel=cancel, chunk_frames=7)
    assert first[0].status == "cancelled" and first[0].error == "frames 7-13: cancelled"
    done_before = [r["frames"] for r in read_log(test_log) if r["node"] == "win"]
    assert done_before[0] == [[0, 7]]
    since = len(read_log(test_log))
    again = run_local(graph, shots, options, jobs=1, chunk_frames=7)
    assert again[0].status == "done"
    win = [r["frames"] for r in read_log(test_log)[since:] if r["node"] == "win"]
    assert [[0, 7]] not in win and sum(b - a for [[a, b]] in win) <= 23 - 7
    assert [t["status"] for t in again[0].tasks][:2] == ["cached", "cached"]  # the prelude and frames 0-6
    assert main(["run", "g.json", "--cache-dir", "plain-cache", "-s", "sink.path=plain"]) == 0
    for f in (long_shots / "plain").iterdir():
        assert (long_shots / "out" / "a" / f.name).read_bytes() == f.read_bytes()
