"""`inpainterz batch --ray` on a real local Ray cluster.

Ray registers nodes under the machine's network address, so the cluster runs
in a loopback-only network namespace: the module fixture starts
tests/ray_driver.py under `unshare -n`, which starts a head node and two
worker nodes (one CPU each, the workers with a fake GPU) once for the whole
module, runs the batches, and stops the cluster. The tests then compare what
the batches wrote with plain `inpainterz run`s of the same shots.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import HERE, cli_command
from inpainterz.app.demo import DEMO_GRAPH

ray = pytest.importorskip("ray", reason="the [distributed] extra (ray) is not installed")

SHOTS_A = {"sh1": (11, 0.2), "sh2": (22, 4.0), "sh3": (33, 0.2)}  # shot -> (number in its file, TSlow seconds)


def _unshare_ok() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2) for a loopback-only network namespace"
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace here (root is needed): {probe.stderr.strip()}"
    return None


def _write_task_shots(root: Path) -> None:
    """Graph A: a number from the shot's file, a slow node, PNGs out. Shot 'bad' names a missing file."""
    graph = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "num": {"type": "TReadNumber", "params": {"path": "in/sh1.txt"}},
        "slow": {"type": "TSlow", "inputs": {"frames": "num.frames"}, "params": {"seconds": 0.2, "k": 3}},
        "write": {"type": "WriteImages", "inputs": {"frames": "slow.frames"}, "params": {"path": "out/x/f.%04d.png"}}}}
    (root / "in").mkdir()
    (root / "a.json").write_text(json.dumps(graph))
    rows = ["shot,num.path,slow.seconds,write.path"]
    for shot, (number, seconds) in SHOTS_A.items():
        (root / "in" / f"{shot}.txt").write_text(f"{number}\n")
        rows.append(f"{shot},in/{{shot}}.txt,{seconds},out/{{shot}}/f.%04d.png")
    rows.insert(2, "bad,in/{shot}.txt,0.2,out/{shot}/f.%04d.png")  # in/bad.txt does not exist
    (root / "a.csv").write_text("\n".join(rows) + "\n")


def _write_model_shots(root: Path) -> None:
    """Graph B: InpaintE2FGVI with test weights on three small clips."""
    import cv2
    import torch

    from inpainterz.nodes.e2fgvi import checkpoint

    torch.manual_seed(0)
    (root / "weights").mkdir()  # found by name through --ckpt-dir, which the workers must be handed
    torch.save(checkpoint.build("e2fgvi_hq").state_dict(), root / "weights" / "E2FGVI-HQ-CVPR22.pth")
    rng = np.random.default_rng(0)
    for shot in ("m1", "m2", "m3"):
        (root / shot / "frames").mkdir(parents=True)
        (root / shot / "masks").mkdir()
        base = rng.integers(0, 255, (48, 64, 3), np.uint8)
        for t in range(4):
            cv2.imwrite(str(root / shot / "frames" / f"{t:04d}.png"), np.roll(base, 2 * t, axis=1))
            mask = np.zeros((48, 64), np.uint8)
            mask[16:30, 20 + 2 * t:34 + 2 * t] = 1
            cv2.imwrite(str(root / shot / "masks" / f"{t:04d}.png"), mask)
    graph = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": "m1/frames"}},
        "masks": {"type": "ReadMasks", "params": {"path": "m1/masks"}},
        "fill": {"type": "InpaintE2FGVI", "inputs": {"frames": "read.frames", "masks": "masks.masks"},
                 "params": {"model": "e2fgvi_hq"}},
        "write": {"type": "WriteImages", "inputs": {"frames": "fill.frames"}, "params": {"path": "mout/m1/f.%04d.png"}}}}
    (root / "b.json").write_text(json.dumps(graph))
    (root / "b.json.shots").write_text(json.dumps([
        {"shot": s, "read.path": "{shot}/frames", "masks.path": "{shot}/masks", "write.path": "mout/{shot}/f.%04d.png"}
        for s in ("m1", "m2", "m3")]))


def _write_gpu_shots(root: Path) -> None:
    """Graph G: a node that wants the GPU (so it runs in a model actor) and sleeps; shot g2 long enough to be killed."""
    graph = {"format": "inpainterz-graph", "version": 1, "nodes": {
        "num": {"type": "TReadNumber", "params": {"path": "in/sh1.txt"}},
        "gpu": {"type": "TGpu", "inputs": {"frames": "num.frames"}, "params": {"seconds": 0.2}},
        "write": {"type": "WriteImages", "inputs": {"frames": "gpu.frames"}, "params": {"path": "gout/x/f.%04d.png"}}}}
    (root / "g.json").write_text(json.dumps(graph))
    (root / "g.csv").write_text("shot,num.path,gpu.seconds,write.path\n" + "".join(
        f"{g},in/{s}.txt,{seconds},gout/{{shot}}/f.%04d.png\n"
        for g, s, seconds in (("g1", "sh1", 0.2), ("g2", "sh2", 5.0), ("g3", "sh3", 0.2))))


def _write_long_shots(root: Path) -> None:
    """Graph L: the demo graph (MP4 in, InpaintFlow, MP4 out) on three small synthetic shots of 40 frames;
    graph K: test nodes with a causal stage and a slow per-frame stage, on one shot of 23 frames."""
    from inpainterz.app.synthetic import make_scene, write_scene

    for i, shot in enumerate(("L1", "L2", "L3")):
        write_scene(root / "long" / shot, make_scene(96, 64, 40, seed=10 + i))
    (root / "long.csv").write_text("shot,read.path,masks.path,write.path\n" + "".join(
        f"{s},long/{{shot}}/clip.mp4,long/{{shot}}/masks,lout/{{shot}}.mp4\n" for s in ("L1", "L2", "L3")))
    (root / "long_whole.csv").write_text((root / "long.csv").read_text().replace("lout/", "lwhole/"))
    (root / "kframes").mkdir()
    for t in range(23):
        (root / "kframes" / f"{t:04d}.txt").write_text(f"{(t * 41) % 251}\n")
    (root / "k.json").write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "src": {"type": "TReadFrames", "params": {"path": "kframes"}},
        "run": {"type": "TCausal", "inputs": {"frames": "src.frames"}},
        "slow": {"type": "TSlowFrames", "inputs": {"frames": "run.frames"}, "params": {"seconds": 3.0}},
        "win": {"type": "TWindow", "inputs": {"frames": "slow.frames"}, "params": {"r": 2}},
        "sink": {"type": "TFrameSink", "inputs": {"frames": "win.frames"}, "params": {"path": "kout/x"}}}}))
    (root / "k.csv").write_text("shot,sink.path\nk1,kout/{shot}\n")


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory):
    reason = _unshare_ok()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("ray_batch")
    (root / "cache_blind").mkdir()
    _write_task_shots(root)
    _write_model_shots(root)
    _write_gpu_shots(root)
    _write_long_shots(root)
    (root / "c.csv").write_text("shot,num.path,write.path\nsh1,in/sh1.txt,own/sh1/f.%04d.png\n"
                                "sh3,in/sh3.txt,own/sh3/f.%04d.png\n")
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "INPAINTERZ_PLUGIN_PATH": str(HERE / "plugins"),
           "INPAINTERZ_TEST_PIDS": str(root / "pids.txt"), "INPAINTERZ_MODEL_BUDGET": "2G"}
    address = "127.0.0.1:6399"
    plan = {"results": str(root / "results.json"), "env": env,
            # A cluster the command starts for itself, before the module's cluster exists.
            "before_cluster": [{"name": "own", "cwd": str(root), "argv": cli_command(
                "batch", "a.json", "c.csv", "--ray", "--cache-dir", root / "cache_own", "--report", "own.json")}],
            "runs": [
                {"name": "tasks", "cwd": str(root), "kill_pidfile": str(root / "pids.txt"), "kill_after_seconds": 3,
                 "argv": cli_command("batch", "a.json", "a.csv", "--ray", address, "--cache-dir", root / "cache_a",
                                     "--report", "a_report.json")},
                {"name": "models", "cwd": str(root), "argv": cli_command(
                    "batch", "b.json", "b.json.shots", "--ray", address, "--cache-dir", root / "cache_b",
                    "--report", "b_report.json", "--ckpt-dir", "weights")},
                {"name": "actor_kill", "cwd": str(root), "kill_pidfile": str(root / "pids.txt"),
                 "kill_after_seconds": 3, "argv": cli_command(
                     "batch", "g.json", "g.csv", "--ray", address, "--cache-dir", root / "cache_g",
                     "--report", "g_report.json")},
                {"name": "long_chunked", "cwd": str(root), "argv": cli_command(
                    "batch", DEMO_GRAPH, "long.csv", "--ray", address, "--chunk-frames", "10",
                    "--cache-dir", root / "cache_long", "--report", "long_report.json")},
                {"name": "long_whole", "cwd": str(root), "argv": cli_command(
                    "batch", DEMO_GRAPH, "long_whole.csv", "--ray", address, "--cache-dir", root / "cache_long_whole",
                    "--report", "long_whole_report.json")},
                {"name": "chunk_kill", "cwd": str(root), "kill_pidfile": str(root / "pids.txt"),
                 "kill_after_seconds": 2.5, "argv": cli_command(
                     "batch", "k.json", "k.csv", "--ray", address, "--chunk-frames", "8",
                     "--cache-dir", root / "cache_k", "--report", "k_report.json")},
                {"name": "blind", "cwd": str(root), "add_node_blind_to": str(root / "cache_blind"),
                 "argv": cli_command("batch", "a.json", "c.csv", "--ray", address, "--cache-dir", root / "cache_blind")},
            ]}
    (root / "plan.json").write_text(json.dumps(plan))
    driver = f"{sys.executable} {HERE / 'ray_driver.py'} {root / 'plan.json'}"
    proc = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up; {driver}"], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["name"]: r for r in json.loads((root / "results.json").read_text())}
    assert "cluster" not in results, results.get("cluster")
    return root, results


def _plain(root: Path, graph, *sets: str, ckpt_dir: str | None = None) -> None:
    """A plain `inpainterz run` of one shot in one process, with its own cache."""
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"))
    env.pop("INPAINTERZ_TEST_PIDS", None)
    args = ["run", graph, "--cache-dir", root / "cache_plain"]
    if ckpt_dir is not None:
        args += ["--ckpt-dir", ckpt_dir]
    for s in sets:
        args += ["-s", s]
    proc = subprocess.run(cli_command(*args), cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def _plain_run(root: Path, graph: str, out: str, *sets: str) -> Path:
    """A plain `inpainterz run` of one shot, writing under plain/ with its own cache."""
    _plain(root, graph, f"write.path=plain/{out}/f.%04d.png", *sets, ckpt_dir="weights")
    return root / "plain" / out


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names and names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _started(root, seconds: float) -> list[int]:
    """Pids of the processes that started a slow test node of this many seconds, in order (pids.txt)."""
    starts = [line.split() for line in (root / "pids.txt").read_text().splitlines()]
    return [int(pid) for pid, took in starts if float(took) == seconds]


def test_shots_on_ray_equal_plain_runs_byte_for_byte(cluster_runs):
    root, results = cluster_runs
    report = json.loads((root / "a_report.json").read_text())
    assert report["backend"] == "ray" and report["ray"]["nodes"] == 3
    for shot, (_, seconds) in SHOTS_A.items():
        assert report["shots"][shot]["status"] == "done", report["shots"][shot]
        plain = _plain_run(root, "a.json", shot, f"num.path=in/{shot}.txt", f"slow.seconds={seconds}")
        _same_files(root / "out" / shot, plain)
        assert report["shots"][shot]["outputs"] == [str(root / "out" / shot / "f.%04d.png")]


def test_a_bad_shot_fails_alone_and_is_named_without_a_traceback(cluster_runs):
    root, results = cluster_runs
    run = results["tasks"]
    assert run["rc"] == 2, run["stderr"]
    assert "Traceback" not in run["stderr"]
    failed = [line for line in run["stderr"].splitlines() if line.startswith("failed shot")]
    assert len(failed) == 1 and "'bad'" in failed[0] and "bad.txt does not exist" in failed[0]
    report = json.loads((root / "a_report.json").read_text())
    assert report["shots"]["bad"]["status"] == "failed"
    assert [s for s, r in report["shots"].items() if r["status"] == "done"] == ["sh1", "sh2", "sh3"]


def test_a_worker_killed_mid_shot_is_retried_and_gives_the_same_bytes(cluster_runs):
    root, results = cluster_runs
    killed = results["tasks"]["killed"]
    assert killed is not None, "the slow shot never started"
    slow = _started(root, 4.0)
    assert slow[0] == killed and len(slow) == 2 and slow[1] != killed  # the shot ran again in another process
    assert results["tasks"]["stderr"].count("[sh2] started on ") == 2  # the progress display shows the retry
    plain = _plain_run(root, "a.json", "sh2-again", "num.path=in/sh2.txt", "slow.seconds=4.0")
    _same_files(root / "out" / "sh2", plain)


def test_model_nodes_run_in_actors_that_load_their_weights_once(cluster_runs):
    root, results = cluster_runs
    assert results["models"]["rc"] == 0, results["models"]["stderr"]
    report = json.loads((root / "b_report.json").read_text())
    actors = report["ray"]["model_actors"]
    assert report["ray"]["model_actors_use_gpu"] is True  # the fake GPUs of the two workers
    assert len(actors) == 2 and {a["type"] for a in actors} == {"InpaintE2FGVI"}
    assert sum(a["renders"] for a in actors) == 3 and max(a["renders"] for a in actors) >= 2
    for a in actors:
        assert len(a["loads"]) == (1 if a["renders"] else 0), a
    assert results["models"]["stderr"].count("fill done in") == 3  # the actors' progress reaches the display
    for shot in ("m1", "m2", "m3"):
        assert report["shots"][shot]["nodes"]["fill"]["status"] == "ran"
        plain = _plain_run(root, "b.json", shot, f"read.path={shot}/frames", f"masks.path={shot}/masks")
        _same_files(root / "mout" / shot, plain)


def test_a_cluster_started_for_the_run(cluster_runs):
    root, results = cluster_runs
    run = results["own"]
    assert run["rc"] == 0, run["stderr"]
    report = json.loads((root / "own.json").read_text())
    assert report["ray"]["address"] == "local"
    for shot in ("sh1", "sh3"):
        _same_files(root / "own" / shot, root / "out" / shot)


def test_a_worker_that_cannot_see_the_cache_folder_is_refused_by_name(cluster_runs):
    root, results = cluster_runs
    run = results["blind"]
    assert run["rc"] == 2, run["stderr"]
    lines = [line for line in run["stderr"].splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in run["stderr"]
    assert f"cannot use the cache folder {root / 'cache_blind'}: cannot see it" in lines[0]
    assert "the Ray worker on host " in lines[0] and "--cache-dir must be on storage that every worker mounts" in lines[0]
    assert lines[0].count("cannot use the cache folder") == 1  # only the blind node is named
    assert not list((root / "cache_blind").rglob("meta.json"))  # refused before any shot ran


def test_a_model_actor_killed_mid_render_is_restarted_and_the_shot_gives_the_same_bytes(cluster_runs):
    root, results = cluster_runs
    run = results["actor_kill"]
    assert run["rc"] == 0, run["stderr"]
    assert run["killed"] is not None, "the slow GPU node never started"
    slow_gpu = _started(root, 5.0)
    assert slow_gpu[0] == run["killed"] and len(slow_gpu) == 2 and slow_gpu[1] != run["killed"]
    report = json.loads((root / "g_report.json").read_text())
    assert {s: r["status"] for s, r in report["shots"].items()} == {"g1": "done", "g2": "done", "g3": "done"}
    assert {a["type"] for a in report["ray"]["model_actors"]} == {"TGpu"}
    for shot, source in (("g1", "sh1"), ("g2", "sh2"), ("g3", "sh3")):
        plain = _plain_run(root, "g.json", shot, f"num.path=in/{source}.txt",
                           f"gpu.seconds={5.0 if shot == 'g2' else 0.2}")
        _same_files(root / "gout" / shot, plain)


def test_chunked_long_shots_on_ray_write_the_mp4s_of_plain_runs(cluster_runs):
    root, results = cluster_runs
    for name in ("long_chunked", "long_whole"):
        assert results[name]["rc"] == 0, results[name]["stderr"]
    report = json.loads((root / "long_report.json").read_text())
    assert report["chunk_frames"] == 10
    for shot in ("L1", "L2", "L3"):
        entry = report["shots"][shot]
        tasks = [t["task"] for t in entry["tasks"]]
        assert tasks[0] == "prelude" and tasks[-1] == "join"
        assert sorted(tasks[1:-1]) == ["frames 0-9", "frames 10-19", "frames 20-29", "frames 30-39"]
        assert entry["nodes"]["fill"]["frames"] == {"rendered": 40, "reused": 0}  # the join rendered none again
        _plain(root, DEMO_GRAPH, f"read.path=long/{shot}/clip.mp4", f"masks.path=long/{shot}/masks",
               f"write.path=lplain/{shot}.mp4")
        plain = (root / "lplain" / f"{shot}.mp4").read_bytes()
        assert (root / "lout" / f"{shot}.mp4").read_bytes() == plain  # chunked on Ray
        assert (root / "lwhole" / f"{shot}.mp4").read_bytes() == plain  # whole shots on Ray
    assert "[L2 frames 20-29] started on " in results["long_chunked"]["stderr"]


def test_a_killed_range_is_retried_and_the_chunked_shot_gives_the_same_bytes(cluster_runs):
    root, results = cluster_runs
    run = results["chunk_kill"]
    assert run["rc"] == 0, run["stderr"]
    assert run["killed"] is not None, "no range of the slow node started"
    slow = _started(root, 3.0)
    assert run["killed"] in slow and len(slow) == 3 + 1  # three ranges, one of them twice
    report = json.loads((root / "k_report.json").read_text())["shots"]["k1"]
    assert report["status"] == "done"
    assert sorted(t["task"] for t in report["tasks"][1:-1]) == ["frames 0-7", "frames 16-22", "frames 8-15"]
    assert report["nodes"]["run"]["frames"] == {"rendered": 23, "reused": 0}  # the causal stage ran once, whole
    _plain(root, "k.json", "sink.path=kplain")
    names = sorted(p.name for p in (root / "kplain").iterdir())
    assert len(names) == 23 and names == sorted(p.name for p in (root / "kout" / "k1").iterdir())
    for name in names:
        assert (root / "kout" / "k1" / name).read_bytes() == (root / "kplain" / name).read_bytes()
