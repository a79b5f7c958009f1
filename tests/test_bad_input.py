"""Bad input of every kind gives exit 2, names the culprit, shows no traceback, writes nothing and changes no input.

Each case of the table builds its own graph text (or options) over one set of
small real inputs: a video, a frame folder, a mask folder. The run happens in a
child process, as a user would start it.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cli_command

W, H, N = 64, 48, 6


def _graph(nodes: dict) -> str:
    return json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": nodes})


def _video(path: Path, frames: int = N) -> None:
    import av

    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.full((H, W, 3), 20 * i, np.uint8), format="rgb24")
            f.pts = i
            for pkt in s.encode(f):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)


def _damage_timestamps(src: Path, dst: Path) -> None:
    """A remux where one packet's timestamp has a flipped high byte, as on a damaged disk."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for k, pkt in enumerate(inp.demux(inp.streams.video[0])):
            if pkt.dts is None:
                continue
            if k == 3:
                pkt.pts += 1 << 24
            pkt.stream = stream
            out.mux(pkt)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    _video(root / "clip.mp4")
    (root / "frames").mkdir()
    (root / "masks").mkdir()
    for i in range(N):
        cv2.imwrite(str(root / "frames" / f"{i:05d}.png"), np.full((H, W, 3), 30 * i, np.uint8))
        m = np.zeros((H, W), np.uint8)
        m[10:20, 10 + i:20 + i] = 255
        cv2.imwrite(str(root / "masks" / f"{i:05d}.png"), m)
    (root / "int16").mkdir()
    for i in range(2):
        cv2.imwrite(str(root / "int16" / f"{i:05d}.tif"), np.full((H, W), -5 + i, np.int16))
    (root / "cutmask").mkdir()
    for i in range(N):
        data = (root / "masks" / f"{i:05d}.png").read_bytes()
        (root / "cutmask" / f"{i:05d}.png").write_bytes(data[: len(data) // 2] if i == 3 else data)
    (root / "cutframes").mkdir()
    for i in range(N):
        data = (root / "frames" / f"{i:05d}.png").read_bytes()
        (root / "cutframes" / f"{i:05d}.png").write_bytes(data[: len(data) // 2] if i == 4 else data)
    _damage_timestamps(root / "clip.mp4", root / "badpts.mkv")
    (root / "text.pth").write_text("not a checkpoint\n")
    (root / "garbage.safetensors").write_bytes(np.random.default_rng(0).bytes(3000))
    os.mkfifo(root / "fifo.mp4")
    (root / "cachefile").write_text("a file, not a folder")
    return root


def _tree_digest(root: Path) -> dict:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _read_write(read_params: dict, write: dict | None = None, read_type: str = "ReadVideo") -> dict:
    nodes = {"read": {"type": read_type, "params": read_params}}
    nodes["write"] = write or {"type": "WriteVideo", "inputs": {"frames": "read.frames"},
                               "params": {"path": "OUT/clean.mp4"}}
    return nodes


def _e2fgvi_graph(checkpoint: str) -> str:
    """The clip and its masks through InpaintE2FGVI with the given checkpoint file."""
    return _graph({"read": {"type": "ReadVideo", "params": {"path": "IN/clip.mp4"}},
                   "masks": {"type": "ReadMasks", "params": {"path": "IN/masks"}},
                   "fill": {"type": "InpaintE2FGVI", "inputs": {"frames": "read.frames", "masks": "masks.masks"},
                            "params": {"checkpoint": checkpoint}},
                   "write": {"type": "WriteVideo", "inputs": {"frames": "fill.frames"},
                             "params": {"path": "OUT/clean.mp4"}}})


# name -> (graph text, extra CLI args, words the message must hold)
CASES = {
    "output replaces the input video": (
        _graph(_read_write({"path": "IN/clip.mp4"}, {"type": "WriteVideo", "inputs": {"frames": "read.frames"},
                                                   "params": {"path": "IN/clip.mp4"}})),
        [], ["node 'write'", "node 'read'", "clip.mp4", "would write over"]),
    "image output into the folder ReadImages reads": (
        _graph(_read_write({"path": "IN/frames"}, {"type": "WriteImages", "inputs": {"frames": "read.frames"},
                                                  "params": {"path": "IN/frames"}}, "ReadImages")),
        [], ["node 'write'", "node 'read'", "frames", "would write over"]),
    "image pattern over the frames read": (
        _graph(_read_write({"path": "IN/frames/%05d.png"},
                           {"type": "WriteImages", "inputs": {"frames": "read.frames"},
                            "params": {"path": "IN/frames/#####.png"}}, "ReadImages")),
        [], ["node 'write'", "node 'read'", "would write over", ".png"]),
    "a second nodes key": (
        _graph(_read_write({"path": "IN/clip.mp4"}))[:-1] + ', "nodes": {}}',
        [], ["'nodes' appears twice"]),
    "a duplicated node id": (
        '{"format": "inpainterz-graph", "version": 1, "nodes": {"read": {"type": "ReadVideo", "params": '
        '{"path": "IN/clip.mp4"}}, "read": {"type": "ReadImages", "params": {"path": "IN/frames"}}}}',
        [], ["'read' appears twice"]),
    "a node id ending in a newline": (
        _graph({"read\n": {"type": "ReadVideo", "params": {"path": "IN/clip.mp4"}}}),
        [], ["node id 'read\\n'"]),
    "a reference ending in a newline": (
        _graph(_read_write({"path": "IN/clip.mp4"}, {"type": "WriteVideo", "inputs": {"frames": "read.frames\n"},
                                                   "params": {"path": "OUT/clean.mp4"}})),
        [], ["node 'write'", "input 'frames'"]),
    "2,000 levels of nesting": (
        '{"format": "inpainterz-graph", "version": 1, "nodes": {}, "x": ' + "[" * 2000 + "]" * 2000 + "}",
        [], ["nested"]),
    "a 5,000-digit integer": (
        _graph({"grow": {"type": "DilateMask", "params": {"radius": 1}}}).replace('"radius": 1', '"radius": ' + "7" * 5000),
        [], ["5000 digits"]),
    "NaN as a number": (
        _graph({"read": {"type": "ReadVideo", "params": {"path": "IN/clip.mp4", "scale": 1}}}).replace(
            '"scale": 1', '"scale": NaN'), [], ["NaN"]),
    "a fractional int": (
        _graph(_read_write({"path": "IN/clip.mp4", "first": 1.5})), [], ["node 'read'", "param 'first'"]),
    "a NUL byte in a path": (
        _graph(_read_write({"path": "IN/cl\u0000ip.mp4"})), [], ["node 'read'", "param 'path'", "NUL"]),
    "an input name too long": (
        _graph(_read_write({"path": "IN/" + "x" * 300 + ".mp4"})), [], ["node 'read'", "param 'path'", "long"]),
    "an output name too long": (
        _graph(_read_write({"path": "IN/clip.mp4"}, {"type": "WriteVideo", "inputs": {"frames": "read.frames"},
                                                   "params": {"path": "OUT/" + "y" * 300 + ".mp4"}})),
        [], ["node 'write'", "param 'path'", "long"]),
    "a FIFO as the video": (
        _graph(_read_write({"path": "IN/fifo.mp4"})), [], ["node 'read'", "param 'path'", "FIFO"]),
    "a device as the video": (
        _graph(_read_write({"path": "/dev/urandom"})), [], ["node 'read'", "param 'path'", "device"]),
    "--cache-dir is a file": (
        _graph(_read_write({"path": "IN/clip.mp4"})), ["--cache-dir", "IN/cachefile"], ["--cache-dir", "cachefile"]),
    "--report is a folder": (
        _graph(_read_write({"path": "IN/clip.mp4"})), ["--report", "IN/frames"], ["--report", "folder"]),
    "--report in a folder under a file": (
        _graph(_read_write({"path": "IN/clip.mp4"})), ["--report", "IN/clip.mp4/r.json"], ["--report", "clip.mp4"]),
    "signed 16-bit TIFF frames": (
        _graph(_read_write({"path": "IN/int16"}, read_type="ReadImages")), [], ["node 'read'", "00000.tif", "int16"]),
    "a mask PNG cut in half": (
        _graph({"masks": {"type": "ReadMasks", "params": {"path": "IN/cutmask"}},
                "grow": {"type": "DilateMask", "inputs": {"masks": "masks.masks"}, "params": {"radius": 2}},
                "write": {"type": "WriteMasks", "inputs": {"masks": "grow.masks"}, "params": {"path": "OUT/m"}}}),
        [], ["node 'masks' (ReadMasks)", "00003.png"]),
    "a frame PNG cut in half": (
        _graph(_read_write({"path": "IN/cutframes"}, read_type="ReadImages")),
        [], ["node 'read' (ReadImages)", "00004.png", "cut short"]),
    "damaged timestamps": (
        _graph(_read_write({"path": "IN/badpts.mkv"})), [], ["node 'read'", "badpts.mkv", "damaged timestamps"]),
    "a text file as a checkpoint": (
        _e2fgvi_graph("IN/text.pth"),
        [], ["node 'fill'", "text.pth", "param 'checkpoint'"]),
    "a garbage safetensors checkpoint": (
        _e2fgvi_graph("IN/garbage.safetensors"),
        [], ["node 'fill'", "garbage.safetensors", "param 'checkpoint'"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_naming_the_culprit(name, inputs, tmp_path):
    text, args, words = CASES[name]
    out = tmp_path / "out"
    out.mkdir()
    graph = tmp_path / "graph.json"
    graph.write_text(text.replace("IN/", f"{inputs}/").replace("OUT/", f"{out}/"))
    args = [a.replace("IN/", f"{inputs}/") for a in args]
    before = _tree_digest(inputs)
    proc = subprocess.run(cli_command("run", graph, "--cache-dir", tmp_path / "cache", *args),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    message = proc.stderr
    assert proc.returncode == 2, (proc.returncode, message)
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in message
    assert sorted(p.name for p in out.rglob("*")) == [], "nothing may be written beside the outputs"
    assert _tree_digest(inputs) == before, "no input may change"


def test_validate_agrees_with_run_on_converted_values(inputs, tmp_path):
    """4.0 for an int param is 4 in both validate and run (it used to pass validate, then fail the node)."""
    out = tmp_path / "out"
    graph = tmp_path / "g.json"
    graph.write_text(_graph({
        "read": {"type": "ReadImages", "params": {"path": f"{inputs}/frames", "first": 2.0}},
        "masks": {"type": "ReadMasks", "params": {"path": f"{inputs}/masks", "first": 2.0}},
        "grow": {"type": "DilateMask", "inputs": {"masks": "masks.masks"}, "params": {"radius": 4.0}},
        "fill": {"type": "InpaintOpenCV", "inputs": {"frames": "read.frames", "masks": "grow.masks"}},
        "write": {"type": "WriteImages", "inputs": {"frames": "fill.frames"}, "params": {"path": str(out)}},
    }))
    assert subprocess.run(cli_command("validate", graph), capture_output=True, timeout=120).returncode == 0
    proc = subprocess.run(cli_command("run", graph, "--cache-dir", tmp_path / "cache"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("*.png"))) == N - 2


def test_float_tiff_frames_are_read_as_documented(tmp_path):
    """Float TIFF frames map 0..1 to 0..255 (negative and NaN to 0)."""
    from inpainterz.engine import Graph

    folder = tmp_path / "float"
    folder.mkdir()
    img = np.zeros((H, W, 3), np.float32)
    img[:, :, 0], img[:, :, 1], img[0, 0, 2] = 0.5, 2.0, np.nan  # OpenCV order: blue, green, red
    for i in range(2):
        cv2.imwrite(str(folder / f"{i:05d}.tif"), img)
    g = Graph()
    read = g.add("ReadImages", path=str(folder))
    frames = g.output(read.frames, cache_dir=tmp_path / "cache")
    rgb = frames.read(0, 1)[0]
    assert rgb[0, 0].tolist() == [0, 255, 128]
    assert rgb[1, 1].tolist() == [0, 255, 128]
