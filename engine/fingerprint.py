"""Cheap fingerprints of the files a node reads or writes.

A fingerprint is (size, mtime) per file: it changes when a file is touched,
which makes a source node re-run; the source then hashes the content, and if
that is unchanged nothing downstream runs (early cutoff).
"""
from __future__ import annotations

import glob
import hashlib
import os
import re
from pathlib import Path

_PRINTF = re.compile(r"%0?\d*d")
_HASHES = re.compile(r"#+")
_FIELDS = re.compile(r"\{\w*(?::[^{}]*)?\}")  # `{id}`, `{id:02d}`: one file set per object


def pattern_to_glob(pattern: str) -> str:
    """`shot.%04d.png`, `shot.####.png` or `obj{id:02d}/shot.%04d.png` -> `shot.*.png`, `obj*/shot.*.png`."""
    return _FIELDS.sub("*", _HASHES.sub("*", _PRINTF.sub("*", pattern)))


def is_pattern(path: str | Path) -> bool:
    name = Path(path).name
    return bool(_PRINTF.search(name) or _HASHES.search(name) or "*" in name or "?" in name)


def stat_key(path: str | Path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def fingerprint_path(path: str | Path, recursive: bool = False) -> list:
    """[(name, size, mtime)] for a file, every file of a folder, or every match of a pattern.

    `recursive` also takes the files in subfolders (a writer may spread its
    output over subfolders, e.g. one folder of mattes per object).
    """
    path = Path(path)
    if is_pattern(path):
        files = sorted(glob.glob(pattern_to_glob(str(path))))
    elif path.is_dir():
        found = path.rglob("*") if recursive else path.iterdir()
        files = sorted(str(p) for p in found if p.is_file() and not p.name.startswith("."))
        return [[os.path.relpath(f, path), stat_key(f)] for f in files]
    else:
        files = [str(path)]
    return [[os.path.basename(f), stat_key(f)] for f in files]


def file_sha256(path: str | Path, progress=None, block: int = 1 << 20) -> str:
    """SHA-256 of a file's content, streamed; `progress(n)` is told each block's size."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            buf = fh.read(block)
            if not buf:
                break
            h.update(buf)
            if progress:
                progress(len(buf))
    return h.hexdigest()
