"""Paths a graph reads and writes: sequence patterns, names the OS refuses, and overlaps.

Checked before anything runs, so a bad path is reported as a problem of the
node and param that hold it, and no output can replace a file the same graph
reads.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Iterator

PRINTF = re.compile(r"%0?(\d*)d")
HASHES = re.compile(r"#+")

# Linux limits; os.pathconf gives the real one where the folder exists.
NAME_MAX = 255
PATH_MAX = 4096


def has_frame_placeholder(name: str) -> bool:
    return bool(PRINTF.search(name) or HASHES.search(name))


def pattern_regex(name: str) -> re.Pattern:
    """`shot.%04d.png` / `shot.####.png` -> a regex capturing the frame number."""
    m = PRINTF.search(name) or HASHES.search(name)
    before, after = re.escape(name[: m.start()]), re.escape(name[m.end():])
    if m.re is PRINTF:
        width = int(m.group(1) or 0)
        digits = rf"(\d{{{width},}})" if width else r"(\d+)"
    else:
        digits = rf"(\d{{{len(m.group(0))},}})"
    return re.compile(rf"{before}{digits}{after}")


def name_problem(path: Path) -> str | None:
    """Why the OS would refuse this path as a name (NUL byte, too long), or None."""
    text = str(path)
    if "\x00" in text:
        return f"the path {text!r} holds a NUL byte, which no file name can hold"
    if len(os.fsencode(text)) > PATH_MAX:
        return f"the path is {len(os.fsencode(text))} bytes long; the system allows {PATH_MAX}"
    for part in path.parts:
        limit = _name_max(path)
        if len(os.fsencode(part)) > limit:
            return (f"the name {part[:40]}... is {len(os.fsencode(part))} bytes long; the file system allows "
                    f"{limit} per name")
    return None


def _name_max(path: Path) -> int:
    probe = path
    while probe != probe.parent:
        probe = probe.parent
        try:
            return os.pathconf(probe, "PC_NAME_MAX")
        except (OSError, ValueError):
            continue
    return NAME_MAX


def not_regular(path: Path) -> str | None:
    """What `path` is when it exists but is not a regular file (a FIFO would block a reader forever)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


# ---------------------------------------------------------------- overlaps

def files_read(path: Path, kind: str) -> Iterator[Path]:
    """The existing files a read param names: one file, a pattern's matches, or a folder's files."""
    try:
        if kind != "file" and has_frame_placeholder(path.name):
            regex = pattern_regex(path.name)
            for entry in path.parent.iterdir():
                if regex.fullmatch(entry.name):
                    yield entry
        elif path.is_dir():
            for entry in path.iterdir():
                if not entry.name.startswith("."):
                    yield entry
        elif path.exists():
            yield path
    except OSError:
        return


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def writes_over(out: Path, kind: str, target: Path) -> bool:
    """Whether a write param naming `out` would write over the existing file `target`.

    A file output overwrites the file itself (also through a link); a pattern
    overwrites the files of its folder whose names it matches; a folder output
    writes numbered files among everything already in that folder.
    """
    if kind != "file" and has_frame_placeholder(out.name):
        return _same(out.parent, target.parent) and bool(pattern_regex(out.name).fullmatch(target.name))
    if kind != "file" and (out.is_dir() or not out.suffix):
        return _same(out, target.parent)
    return _same(out, target)
