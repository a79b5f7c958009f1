"""Writing files so that a reader never sees half of one, and sweeping what killed writers left.

Everything inpainterz writes for a user (videos, images, mattes, graphs,
reports, checkpoints) goes through `atomic_write` or `temp_path_for`: the data
is written to a temporary file in the same folder and renamed over the target
only when it is complete. A failed or interrupted write leaves the previous
file untouched.

A process killed mid-write cannot clean up, so every temporary name (output
files here, entries in progress in the cache) carries a tag naming its writer:
host name, process id and a random part. `sweep` removes a leftover when the
tag says it is this host's and that process is gone; another host's (a shared
cache or output folder on a network disk) is removed only once it is older
than `FOREIGN_AGE`, since from here there is no telling whether its writer
still runs.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# How old another host's leftover must be before it is removed: longer than any render.
FOREIGN_AGE = 24 * 3600

TAG = r"(?P<host>[A-Za-z0-9_-]+)\+(?P<pid>\d+)\+[0-9a-f]{8}"
# Hidden temporary output files: `.NAME.TAG.partial.EXT` (this program's own pattern).
PARTIAL_FILE = re.compile(rf"\..+\.{TAG}\.partial(\.[^.]*)?")
# Names earlier versions gave them, without a host: `.NAME.PID-RAND.partial.EXT` (videos) and
# `.NAME.EXT.RAND.partial` (image files, no pid at all). Swept as this host's, or by age.
LEGACY_PARTIAL_FILE = re.compile(r"\..+\.(?:(?P<pid>\d+)-[0-9a-f]{8}\.partial(\.[^.]*)?|[0-9a-f]{8}\.partial)")


def host_name() -> str:
    """This host's name as it appears in tags: no '.', so a tag parses the same inside any file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "localhost"


def writer_tag() -> str:
    return f"{host_name()}+{os.getpid()}+{uuid.uuid4().hex[:8]}"


def temp_path_for(path: Path) -> Path:
    """A hidden sibling of `path` that keeps its extension (encoders pick formats by it)."""
    return path.with_name(f".{path.stem}.{writer_tag()}.partial{path.suffix}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def is_leftover(match: re.Match, path: Path, now: float | None = None) -> bool:
    """Whether the writer named by a tag match is gone: dead here, or long silent elsewhere."""
    host = match.groupdict().get("host")
    if host is None and match.groupdict().get("pid") is None:
        host = ""  # no writer recorded: only its age can tell
    if host is None or host == host_name():
        pid = int(match.group("pid"))
        return pid != os.getpid() and not pid_alive(pid)
    try:
        age = (now or time.time()) - os.lstat(path).st_mtime
    except OSError:
        return False
    return age > FOREIGN_AGE


def sweep(folder: Path, pattern: re.Pattern = PARTIAL_FILE) -> int:
    """Remove the leftovers of dead writers in `folder` whose names fully match `pattern`."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None and pattern is PARTIAL_FILE:
            m = LEGACY_PARTIAL_FILE.fullmatch(entry.name)
        if m is None or not is_leftover(m, Path(entry.path)):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            removed += 1  # another sweeper was first
        except OSError:
            pass
    return removed


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> Path:
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
