"""A full disk, for real: a run inside its own mount namespace with a small tmpfs for the outputs or the cache.

Each case must exit 2 saying the disk is full and naming where, and leave
nothing half-written. Skipped where mount namespaces are not allowed.
"""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import cli_command

from inpainterz.engine.atomic import PARTIAL_FILE


def _can_mount_tmpfs(tmp_path: Path) -> bool:
    if not shutil.which("unshare"):
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    cmd = f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(probe))}"
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                          capture_output=True).returncode == 0


def _run_on_small_disk(disk: Path, size: str, args: list, full: bool = False,
                       read_only: bool = False) -> subprocess.CompletedProcess:
    disk.mkdir(exist_ok=True)
    fill = f"(dd if=/dev/zero of={shlex.quote(str(disk / 'filler'))} bs=4k 2>/dev/null; true) && " if full else ""
    remount = f"mount -o remount,ro {shlex.quote(str(disk))} && " if read_only else ""
    script = (f"mount -t tmpfs -o size={size} tmpfs {shlex.quote(str(disk))} && {fill}{remount}"
              f"{shlex.join(map(str, cli_command(*args)))}; rc=$?; "
              # What the run left on the small disk, listed before the namespace (and the tmpfs) goes.
              f"find {shlex.quote(str(disk))} -mindepth 1 > {shlex.quote(str(disk.parent / 'left.txt'))}; exit $rc")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def frames(tmp_path):
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("mount namespaces (unshare -m) are not allowed here")
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i in range(40):
        cv2.imwrite(str(folder / f"{i:05d}.png"), rng.integers(0, 256, (96, 128, 3), dtype=np.uint8))
    masks = tmp_path / "masks"
    masks.mkdir()
    for i in range(40):
        m = np.zeros((96, 128), np.uint8)
        m[30:60, 40 + i:70 + i] = 1
        cv2.imwrite(str(masks / f"{i:05d}.png"), m)
    return folder


def _graph(tmp_path: Path, nodes: dict) -> Path:
    path = tmp_path / "g.json"
    path.write_text(json.dumps({"format": "inpainterz-graph", "version": 1, "nodes": nodes}))
    return path


@pytest.mark.parametrize("writer,target", [("WriteImages", "out"), ("WriteVideo", "out/clean.mkv")])
def test_an_output_on_a_full_disk(tmp_path, frames, writer, target):
    disk = tmp_path / "disk"
    params = {"path": str(disk / target)}
    if writer == "WriteVideo":
        params["codec"] = "ffv1"  # lossless: bigger than the disk
    g = _graph(tmp_path, {"read": {"type": "ReadImages", "params": {"path": str(frames)}},
                          "write": {"type": writer, "inputs": {"frames": "read.frames"}, "params": params}})
    proc = _run_on_small_disk(disk, "400k", ["run", g, "--cache-dir", tmp_path / "cache"])
    assert proc.returncode == 2, proc.stderr
    assert "disk is full" in proc.stderr and str(disk / target) in proc.stderr, proc.stderr
    assert "--cache-dir" not in proc.stderr  # the advice is about the output's disk
    assert "Traceback" not in proc.stderr
    left = (tmp_path / "left.txt").read_text().split()
    assert not [p for p in left if PARTIAL_FILE.fullmatch(Path(p).name)], left
    assert [p for p in left if Path(p).is_relative_to(disk / "out") and Path(p) != disk / "out"] == []


def test_the_cache_on_a_full_disk(tmp_path, frames):
    disk = tmp_path / "disk"
    g = _graph(tmp_path, {
        "read": {"type": "ReadImages", "params": {"path": str(frames)}},
        "masks": {"type": "ReadMasks", "params": {"path": str(tmp_path / "masks")}},
        "fill": {"type": "InpaintOpenCV", "inputs": {"frames": "read.frames", "masks": "masks.masks"}},
        "write": {"type": "WriteImages", "inputs": {"frames": "fill.frames"}, "params": {"path": str(tmp_path / "out")}},
    })
    proc = _run_on_small_disk(disk, "600k", ["run", g, "--cache-dir", disk / "cache"])
    assert proc.returncode == 2, proc.stderr
    assert "disk is full" in proc.stderr and "--cache-dir" in proc.stderr, proc.stderr
    assert str(disk / "cache") in proc.stderr
    assert "Traceback" not in proc.stderr
    left = (tmp_path / "left.txt").read_text().split()
    assert [p for p in left if "/cache/tmp/" in p] == [], "an entry in progress was left behind"
    assert not (tmp_path / "out").exists()


def test_a_report_on_a_full_disk(tmp_path, frames):
    disk = tmp_path / "disk"
    g = _graph(tmp_path, {"read": {"type": "ReadImages", "params": {"path": str(frames)}},
                          "write": {"type": "WriteImages", "inputs": {"frames": "read.frames"},
                                    "params": {"path": str(tmp_path / "out")}}})
    proc = _run_on_small_disk(disk, "64k", ["run", g, "--cache-dir", tmp_path / "cache", "--report", disk / "r.json"],
                              full=True)
    assert proc.returncode == 2, proc.stderr
    assert f"--report {disk / 'r.json'}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    left = (tmp_path / "left.txt").read_text().split()
    assert left == [str(disk / "filler")], left
    assert len(list((tmp_path / "out").glob("*.png"))) == 40  # the run itself finished


def test_a_cache_on_a_read_only_disk_is_refused_before_anything_runs(tmp_path, frames):
    disk = tmp_path / "disk"
    g = _graph(tmp_path, {"read": {"type": "ReadImages", "params": {"path": str(frames)}},
                          "write": {"type": "WriteImages", "inputs": {"frames": "read.frames"},
                                    "params": {"path": str(tmp_path / "out")}}})
    proc = _run_on_small_disk(disk, "64k", ["run", g, "--cache-dir", disk / "cache"], read_only=True)
    assert proc.returncode == 2, proc.stderr
    assert "--cache-dir" in proc.stderr and str(disk / "cache") in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
