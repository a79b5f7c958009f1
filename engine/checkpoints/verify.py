"""Whether checkpoint files are what the manifest says: size, then sha256.

A full hash of a large file is slow, so each checkpoint folder keeps a record
(`.verified.json`: file -> size, mtime, sha256) of what has already been
hashed; a file whose size and mtime still match is not hashed again.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..atomic import write_text_atomic
from ..fingerprint import file_sha256
from .manifest import Checkpoint, load_manifest, select
from .search import search_dirs

VERIFIED_RECORD = ".verified.json"


def _read_record(folder: Path) -> dict:
    try:
        with open(folder / VERIFIED_RECORD, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _write_record(folder: Path, record: dict) -> None:
    try:
        write_text_atomic(folder / VERIFIED_RECORD, json.dumps(record, indent=1, sort_keys=True))
    except OSError:
        pass  # the record only saves re-hashing; a read-only folder just means hashing again


def _remember(folder: Path, entry: Checkpoint, path: Path, sha: str) -> None:
    st = path.stat()
    record = _read_record(folder)
    record[entry.file] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    _write_record(folder, record)


def _remembered_sha(folder: Path, entry: Checkpoint, path: Path) -> str | None:
    rec = _read_record(folder).get(entry.file)
    if not rec:
        return None
    st = path.stat()
    if rec.get("size") == st.st_size and rec.get("mtime_ns") == st.st_mtime_ns:
        return rec.get("sha256")
    return None


@dataclass
class Status:
    entry: Checkpoint
    path: Path | None   # where it was found, None when missing
    state: str          # "missing", "present", "verified", "size mismatch", "sha256 mismatch"
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state in ("present", "verified")


def check_file(entry: Checkpoint, path: Path, full: bool,
               progress: Callable[[int], None] | None = None) -> Status:
    """Check one file against the manifest. `full` hashes it; else a past hash is reused."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return Status(entry, path, "size mismatch", f"{size} bytes, expected {entry.size}")
    if not entry.sha256:
        state = "verified" if entry.size is not None else "present"
        return Status(entry, path, state, "by size (no published sha256)" if entry.size else "no size or sha256 published")
    folder = path.parent
    for _ in Path(entry.file).parts[:-1]:
        folder = folder.parent
    sha = _remembered_sha(folder, entry, path)
    if sha is None and full:
        sha = file_sha256(path, progress)
        if sha == entry.sha256:
            _remember(folder, entry, path, sha)
    if sha is None:
        return Status(entry, path, "present", f"size ok, not hashed yet (run: inpainterz weights verify "
                                              f"{shlex.quote(entry.fetch_name)} --ckpt-dir {shlex.quote(str(folder))})")
    if sha != entry.sha256:
        return Status(entry, path, "sha256 mismatch", f"sha256 {sha}, expected {entry.sha256}")
    return Status(entry, path, "verified", "sha256")


def status(entries: Iterable[Checkpoint] | None = None, full: bool = False,
           progress: Callable[[Checkpoint, int], None] | None = None, ckpt_dirs: Iterable = ()) -> list[Status]:
    """Where each checkpoint is and whether it checks out (first hit in `search_dirs(ckpt_dirs)`)."""
    entries = list(entries) if entries is not None else load_manifest()
    ckpt_dirs = list(ckpt_dirs)
    dirs = search_dirs(ckpt_dirs)
    out = []
    for e in entries:
        path = next((d / e.file for d in dirs if (d / e.file).is_file()), None)
        if path is None:
            out.append(Status(e, None, "missing", e.fetch_hint(next(iter(ckpt_dirs), None))))
        else:
            cb = (lambda n, e=e: progress(e, n)) if progress else None
            out.append(check_file(e, path, full, cb))
    return out


def verify(names: Iterable[str] | None = None, progress: Callable[[Checkpoint, int], None] | None = None,
           ckpt_dirs: Iterable = ()) -> list[Status]:
    """Hash every present checkpoint (or the named ones) against the manifest."""
    manifest = load_manifest()
    if names:
        entries: list[Checkpoint] = []
        for n in names:
            entries.extend(e for e in select(n, manifest) if e not in entries)
    else:
        entries = manifest
    return status(entries, full=True, progress=progress, ckpt_dirs=list(ckpt_dirs))


def list_status(ckpt_dirs: Iterable = ()) -> list[Status]:
    """Every manifest entry: missing, present, or verified (by size or a recorded hash)."""
    return status(full=False, ckpt_dirs=list(ckpt_dirs))
