"""Frame-aware re-renders with the real nodes, through the command line: one changed mask file,
frame ranges, and a run killed during a partial re-render."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cli_command

from inpainterz.engine import frames as fr
from inpainterz.engine.registry import default_registry

HERE = Path(__file__).resolve().parent
N, H, W = 20, 48, 64


def cli(*args, check=None, env=None):
    proc = subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"), **(env or {})))
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def make_shot(folder: Path) -> None:
    rng = np.random.default_rng(3)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    base = rng.integers(0, 255, (H, W * 2, 3), dtype=np.uint8)
    for t in range(N):
        frame = np.ascontiguousarray(base[:, t:t + W])
        cv2.imwrite(str(folder / "frames" / f"{t:04d}.png"), frame)
        mask = np.zeros((H, W), np.uint8)
        mask[10:24, 5 + 2 * t:15 + 2 * t] = 1
        cv2.imwrite(str(folder / "masks" / f"{t:04d}.png"), mask)


def graph(folder: Path) -> Path:
    nodes = {
        "read": {"type": "ReadImages", "params": {"path": "frames/%04d.png"}},
        "mattes": {"type": "ReadMasks", "params": {"path": "masks"}},
        "grow": {"type": "DilateMask", "inputs": {"masks": "mattes.masks"}, "params": {"radius": 3}},
        "fill": {"type": "InpaintOpenCV", "inputs": {"frames": "read.frames", "masks": "grow.masks"}},
        "flow": {"type": "InpaintFlow", "inputs": {"frames": "read.frames", "masks": "grow.masks"},
                 "params": {"window": 3, "flow": "ultrafast"}},
        "write": {"type": "WriteImages", "inputs": {"frames": "fill.frames"}, "params": {"path": "out/%04d.png"}},
        "flow_out": {"type": "WriteImages", "inputs": {"frames": "flow.frames"}, "params": {"path": "flow/%04d.png"}},
        "mask_out": {"type": "WriteMasks", "inputs": {"masks": "grow.masks"}, "params": {"path": "grown/%04d.png"}},
    }
    path = folder / "g.json"
    path.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": nodes}))
    return path


def files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.png"))
            if p.parts[-2] in ("out", "flow", "grown")}


def stamps(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*.png")
            if p.parts[-2] in ("out", "flow", "grown")}


def report(path: Path) -> dict:
    return json.loads(path.read_text())["nodes"]


def test_a_changed_mask_file_rerenders_only_its_frame_and_equals_a_cold_run(tmp_path):
    shot = tmp_path / "shot"
    make_shot(shot)
    g = graph(shot)
    cli("run", g, "--cache-dir", tmp_path / "cache", check=0)
    before = stamps(shot)
    time.sleep(0.01)
    k = 13
    mask = np.zeros((H, W), np.uint8)
    mask[30:40, 40:50] = 2  # the matte slipped at frame k: corrected by hand
    cv2.imwrite(str(shot / "masks" / f"{k:04d}.png"), mask)
    proc = cli("run", g, "--cache-dir", tmp_path / "cache", "--report", tmp_path / "r.json", check=0)
    nodes = report(tmp_path / "r.json")
    assert nodes["grow"]["frames"] == {"rendered": 1, "reused": N - 1}
    assert nodes["fill"]["frames"] == {"rendered": 1, "reused": N - 1}
    assert nodes["write"]["frames"] == {"rendered": 1, "reused": N - 1}
    assert nodes["read"]["status"] == "cached"
    flow = default_registry().get("InpaintFlow")
    reach = fr.affected(flow.temporal_for({"window": 3}), {"window": 3}, ((k, k + 1),), N)
    assert nodes["flow"]["frames"]["rendered"] <= fr.size(reach)
    assert "frames:" in proc.stderr and "rendered" in proc.stderr
    touched = {name for name, t in stamps(shot).items() if before.get(name) != t}
    assert {n for n in touched if not n.startswith("flow/")} == {f"out/{k:04d}.png", f"grown/{k:04d}.png"}
    assert {n for n in touched if n.startswith("flow/")} <= {f"flow/{t:04d}.png" for t in fr.frames_of(reach)}

    warm = files(shot)
    for p in shot.rglob("*.png"):
        if p.parts[-2] in ("out", "flow", "grown"):
            p.unlink()
    cli("run", g, "--cache-dir", tmp_path / "cold", check=0)
    assert files(shot) == warm  # byte for byte


def test_frames_option_renders_and_writes_only_that_range(tmp_path):
    shot = tmp_path / "shot"
    make_shot(shot)
    g = graph(shot)
    cli("run", g, "--cache-dir", tmp_path / "cache", "--frames", "4-6", "--report", tmp_path / "r.json", check=0)
    nodes = report(tmp_path / "r.json")
    assert nodes["fill"]["frames"] == {"rendered": 3, "reused": 0}
    assert nodes["write"]["frames"] == {"rendered": 3, "reused": 0}
    for out in ("out", "flow", "grown"):
        assert sorted(p.name for p in (shot / out).iterdir()) == ["0004.png", "0005.png", "0006.png"]
    partial = files(shot)
    # The rest of the shot later renders only the frames not yet there; everything equals a cold run.
    cli("run", g, "--cache-dir", tmp_path / "cache", "--report", tmp_path / "r2.json", check=0)
    assert report(tmp_path / "r2.json")["fill"]["frames"] == {"rendered": N - 3, "reused": 3}
    full = files(shot)
    assert all(full[name] == data for name, data in partial.items())
    for p in shot.rglob("*.png"):
        if p.parts[-2] in ("out", "flow", "grown"):
            p.unlink()
    cli("run", g, "--cache-dir", tmp_path / "cold", check=0)
    assert files(shot) == full


@pytest.mark.parametrize("span, message", [("3-25", "20 frames"), ("7-3", "at most the last"), ("x", "A-B")])
def test_frames_option_outside_the_clip_or_malformed_exits_2(tmp_path, span, message):
    shot = tmp_path / "shot"
    make_shot(shot)
    proc = cli("run", graph(shot), "--cache-dir", tmp_path / "cache", "--frames", span, check=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_run_killed_during_a_partial_rerender_then_a_clean_rerun(tmp_path):
    folder = tmp_path / "values"
    folder.mkdir()
    for t in range(40):
        (folder / f"{t:04d}.txt").write_text(f"{t}\n")
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "src": {"type": "TReadFrames", "params": {"path": "values"}},
        "per": {"type": "TPerFrame", "inputs": {"frames": "src.frames"}, "params": {"k": 2}},
        "write": {"type": "WriteImages", "inputs": {"frames": "per.frames"}, "params": {"path": "out/%04d.png"}},
    }}))
    cli("run", g, "--cache-dir", tmp_path / "cache", check=0)
    for t in range(5, 35):
        (folder / f"{t:04d}.txt").write_text(f"{t + 100}\n")
    log = tmp_path / "log"
    env = dict(os.environ, INPAINTERZ_PLUGIN_PATH=str(HERE / "plugins"), INPAINTERZ_TEST_LOG=str(log),
               INPAINTERZ_TEST_SLEEP="0.1")
    proc = subprocess.Popen(cli_command("run", g, "--cache-dir", tmp_path / "cache"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and '"per"' in log.read_text()):
        time.sleep(0.02)
    time.sleep(0.8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((tmp_path / "cache" / "tmp").iterdir()), "the kill should have hit the partial render"

    cli("run", g, "--cache-dir", tmp_path / "cache", "--report", tmp_path / "r.json", check=0)
    assert report(tmp_path / "r.json")["per"]["frames"] == {"rendered": 30, "reused": 10}
    warm = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    for p in (tmp_path / "out").iterdir():
        p.unlink()
    cli("run", g, "--cache-dir", tmp_path / "cold", check=0)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == warm


def test_write_video_with_a_frame_range_writes_just_those_frames(tmp_path):
    import av

    shot = tmp_path / "shot"
    make_shot(shot)
    g = shot / "v.json"
    g.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": "frames/%04d.png"}},
        "write": {"type": "WriteVideo", "inputs": {"frames": "read.frames"},
                  "params": {"path": "part.mkv", "codec": "ffv1"}},
    }}))
    cli("run", g, "--cache-dir", tmp_path / "cache", "--frames", "4-6", "--report", tmp_path / "r.json", check=0)
    assert report(tmp_path / "r.json")["write"]["frames"] == {"rendered": 3, "reused": 0}
    with av.open(str(shot / "part.mkv")) as container:
        got = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    want = [cv2.imread(str(shot / "frames" / f"{t:04d}.png"))[:, :, ::-1] for t in (4, 5, 6)]
    assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, want))
