"""What killed or failed writers leave: swept by the next run, by the rules of the host-aware sweep."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cli_command

from inpainterz.engine import atomic
from inpainterz.engine.atomic import FOREIGN_AGE, PARTIAL_FILE, sweep, temp_path_for
from inpainterz.engine.cache import Cache
from inpainterz.engine.errors import BadInput


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _aged(path: Path, seconds: float) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_sweep_removes_only_dead_writers_of_this_host_and_old_ones_of_others(tmp_path):
    me = atomic.host_name()
    dead = tmp_path / f".00001.{me}+{_dead_pid()}+0123abcd.partial.png"
    alive = tmp_path / f".00002.{me}+{os.getpid()}+0123abcd.partial.png"
    other_new = tmp_path / ".clean.farm-node-7+12+0123abcd.partial.mp4"
    other_old = tmp_path / ".clean.farm-node-8+12+0123abcd.partial.mp4"
    foreign = [tmp_path / "00001.png", tmp_path / ".notes.partial.txt", tmp_path / f".x.{me}+1+nothex.partial"]
    for p in (dead, alive, other_new, other_old, *foreign):
        p.write_bytes(b"x")
    _aged(other_old, FOREIGN_AGE + 60)
    assert sweep(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (alive, other_new, *foreign))


def test_temp_names_parse_back_to_their_writer(tmp_path):
    tmp = temp_path_for(tmp_path / "shot.0001.final.mov")
    m = PARTIAL_FILE.fullmatch(tmp.name)
    assert m and m.group("host") == atomic.host_name() and int(m.group("pid")) == os.getpid()
    assert tmp.suffix == ".mov" and tmp.name.startswith(".")


def test_the_cache_sweeps_its_pending_entries_by_the_same_rules(tmp_path):
    cache = Cache(tmp_path / "cache")
    mine = cache.begin("ab" * 16)
    me = atomic.host_name()
    dead = cache.tmp_dir / f"{'cd' * 16}.{me}+{_dead_pid()}+0123abcd"
    other = cache.tmp_dir / f"{'ef' * 16}.render-03+99+0123abcd"
    stale = cache.tmp_dir / f"{'01' * 16}.render-04+99+0123abcd"
    for d in (dead, other, stale):
        d.mkdir()
        (d / "data").write_bytes(b"x")
    _aged(stale, FOREIGN_AGE + 60)
    Cache(tmp_path / "cache")  # a second process opening the cache sweeps
    assert sorted(p.name for p in cache.tmp_dir.iterdir()) == sorted([mine.path.name, other.name])


def test_a_write_that_fails_part_way_removes_its_temp_file_and_names_the_output(tmp_path, monkeypatch):
    """The full disk is simulated at the one place it can strike: a file write that raises ENOSPC."""
    from inpainterz.nodes import images

    real_open = open

    class FullDisk:
        def __init__(self, path, mode):
            self.fh = real_open(path, mode)

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    files = images.AtomicFiles()
    files.write(tmp_path / "00000.png", b"fine")
    monkeypatch.setattr(images, "open", FullDisk, raising=False)
    with pytest.raises(BadInput) as err:
        files.write(tmp_path / "00001.png", b"x" * 1000)
    files.abort()
    assert str(tmp_path / "00001.png") in str(err.value) and "disk is full" in str(err.value)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- killed runs

def _noise_frames(folder: Path, count: int, w: int = 320, h: int = 240) -> None:
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:05d}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _kill_when_partial_appears(graph: Path, cache: Path, out: Path) -> bool:
    proc = subprocess.Popen(cli_command("run", graph, "--cache-dir", cache),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hit = False
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if out.is_dir() and any(PARTIAL_FILE.fullmatch(p.name) for p in out.iterdir()):
            hit = True
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return hit


@pytest.mark.parametrize("writer", ["WriteImages", "WriteVideo"])
def test_no_stray_files_beside_outputs_after_a_killed_run_and_a_complete_one(tmp_path, writer):
    _noise_frames(tmp_path / "frames", 120 if writer == "WriteImages" else 40)
    out = tmp_path / "out"
    target = str(out) if writer == "WriteImages" else str(out / "clean.mp4")
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": {
        "read": {"type": "ReadImages", "params": {"path": str(tmp_path / "frames")}},
        "write": {"type": writer, "inputs": {"frames": "read.frames"}, "params": {"path": target}},
    }}))
    assert _kill_when_partial_appears(graph, tmp_path / "cache", out), "the kill should land while files are written"
    assert any(PARTIAL_FILE.fullmatch(p.name) for p in out.iterdir())
    proc = subprocess.run(cli_command("run", graph, "--cache-dir", tmp_path / "cache"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    expected = [f"{i:05d}.png" for i in range(120)] if writer == "WriteImages" else ["clean.mp4"]
    assert names == expected
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_sweep_knows_the_names_earlier_versions_gave_temp_files(tmp_path):
    dead_video = tmp_path / f".clean.{_dead_pid()}-0123abcd.partial.mp4"
    live_video = tmp_path / f".clean.{os.getpid()}-0123abcd.partial.mp4"
    fresh_image = tmp_path / ".00001.png.0123abcd.partial"
    old_image = tmp_path / ".00002.png.0123abcd.partial"
    for p in (dead_video, live_video, fresh_image, old_image):
        p.write_bytes(b"x")
    _aged(old_image, FOREIGN_AGE + 60)
    assert sweep(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_video.name, fresh_image.name])
