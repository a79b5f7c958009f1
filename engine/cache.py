"""The on-disk result cache, shared by runs and processes.

Layout under the cache root:

    entries/ab/<key>/meta.json   a committed entry: metadata plus its data files
    lineage/ab/<key>.json        recent entry keys of one node lineage (what a partial re-render builds on)
    families/ab/<family>/<key>   one file per entry of a range family (partial entries a run may join)
    tmp/<key>.<host>+<pid>+<rand>/  an entry being written (host-aware sweep: engine/atomic.py)
    trash/                       entries on their way out

An entry is written in `tmp/` and committed by renaming its folder into
`entries/`; `meta.json` is written last inside it. A run killed at any point
leaves either a complete entry or a folder in `tmp/` that nothing trusts and
the next process removes. Eviction is least-recently-used under a byte
budget; each hit refreshes the entry's `meta.json` mtime.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .atomic import TAG, sweep, write_text_atomic, writer_tag

DEFAULT_BUDGET = 20 * 1024 ** 3
# Entries remembered per range family, newest first: one per frame range of a long shot, so many.
FAMILY_KEEP = 512
CACHE_ENV = "INPAINTERZ_CACHE"
CACHE_SIZE_ENV = "INPAINTERZ_CACHE_SIZE"

# An entry in progress: `tmp/KEY.HOST+PID+RAND` (see atomic.sweep for when it counts as left over).
_PENDING = re.compile(rf"[0-9a-f]+\.{TAG}")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def parse_size(text: str | int) -> int:
    """'20G', '512M', '1.5GiB' or a byte count -> bytes."""
    if isinstance(text, int):
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"cannot read {text!r} as a size; use e.g. 512M or 20G")
    return int(float(m.group(1)) * 1024 ** "_kmgt".index((m.group(2) or "_").lower()))


def default_cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inpainterz"


def _tree_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


@dataclass
class Entry:
    key: str
    path: Path
    meta: dict


@dataclass
class Pending:
    key: str
    path: Path


class Cache:
    def __init__(self, root: str | Path | None = None, budget: int | str | None = None):
        self.root = Path(root).expanduser() if root else default_cache_dir()
        budget = budget if budget is not None else os.environ.get(CACHE_SIZE_ENV, DEFAULT_BUDGET)
        self.budget = parse_size(budget)
        self.entries_dir = self.root / "entries"
        self.tmp_dir = self.root / "tmp"
        self.trash_dir = self.root / "trash"
        self.lineage_dir = self.root / "lineage"
        self.families_dir = self.root / "families"
        self._written_since_scan = 0
        for d in (self.entries_dir, self.tmp_dir, self.trash_dir, self.lineage_dir, self.families_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._sweep()

    def _entry_path(self, key: str) -> Path:
        return self.entries_dir / key[:2] / key

    def _sweep(self) -> None:
        """Remove what killed processes left behind: their tmp folders and trash."""
        sweep(self.tmp_dir, _PENDING)
        for d in self.trash_dir.iterdir():
            shutil.rmtree(d, ignore_errors=True)

    # ------------------------------------------------------------ entries

    def lookup(self, key: str) -> Entry | None:
        path = self._entry_path(key)
        meta_file = path / "meta.json"
        try:
            meta = json.loads(meta_file.read_text())
            os.utime(meta_file)  # least-recently-used bookkeeping
        except (OSError, ValueError):
            return None
        return Entry(key, path, meta)

    def begin(self, key: str) -> Pending:
        path = self.tmp_dir / f"{key}.{writer_tag()}"
        path.mkdir(parents=True)
        return Pending(key, path)

    def commit(self, pending: Pending, meta: dict, if_taken: str | None = None) -> Entry:
        """Write meta.json last, then rename the folder into place in one step.

        When another process commits the same key first, its entry stands and
        is returned. Without `if_taken` an entry already there is replaced (a
        forced re-run); with it, nothing is replaced and ours is committed
        under `if_taken` instead (a partial entry holding other frames), or
        dropped when that key is taken too (same key, same frames: same bytes).
        """
        scratch = pending.path / "scratch"
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
        meta = dict(meta, key=pending.key, size=_tree_size(pending.path), created=time.time())
        tmp_meta = pending.path / "meta.json.tmp"
        with open(tmp_meta, "w") as fh:
            json.dump(meta, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_meta, pending.path / "meta.json")
        final = self._entry_path(pending.key)
        final.parent.mkdir(parents=True, exist_ok=True)
        elsewhere = if_taken is not None and if_taken != pending.key
        if final.exists():
            if if_taken is None:  # a forced re-run replaces what was there
                self._remove(final)
            elif elsewhere:  # never replace: another run may be reading that entry's files by path
                return self.commit(Pending(if_taken, pending.path), meta, if_taken)
        try:
            os.rename(pending.path, final)
        except OSError:
            if elsewhere and final.exists():
                return self.commit(Pending(if_taken, pending.path), meta, if_taken)
            # Another process committed the same key first; its entry is as good.
            shutil.rmtree(pending.path, ignore_errors=True)
            existing = self.lookup(pending.key)
            if existing is not None:
                return existing
            raise
        self._written_since_scan += meta["size"]
        return Entry(pending.key, final, meta)

    def abort(self, pending: Pending) -> None:
        shutil.rmtree(pending.path, ignore_errors=True)

    def _remove(self, path: Path) -> None:
        # Rename first so a half-deleted folder is never seen as an entry.
        dest = self.trash_dir / f"{path.name}.{uuid.uuid4().hex[:8]}"
        try:
            os.rename(path, dest)
        except OSError:
            return
        shutil.rmtree(dest, ignore_errors=True)

    # ------------------------------------------------------------ lineage

    def _lineage_path(self, lineage: str) -> Path:
        return self.lineage_dir / lineage[:2] / f"{lineage}.json"

    def lineage(self, lineage: str) -> list[Entry]:
        """The committed entries recorded for a lineage, newest first (evicted ones drop out)."""
        try:
            keys = json.loads(self._lineage_path(lineage).read_text())
        except (OSError, ValueError):
            return []
        found = (self.lookup(k) for k in keys if isinstance(k, str))
        return [e for e in found if e is not None]

    def remember(self, lineage: str, key: str, keep: int) -> None:
        """Record `key` as the newest entry of a lineage. Two writers at once may lose one
        record: that costs a later run some reuse, never correctness."""
        path = self._lineage_path(lineage)
        try:
            keys = json.loads(path.read_text())
        except (OSError, ValueError):
            keys = []
        keys = [key] + [k for k in keys if k != key][: keep - 1]
        write_text_atomic(path, json.dumps(keys))

    # ------------------------------------------------------------ range families

    def _family_path(self, family: str) -> Path:
        return self.families_dir / family[:2] / family

    def _family_records(self, family: str) -> list[Path]:
        """Record files of a family, newest first (another writer may prune some meanwhile)."""
        records = []
        try:
            names = list(self._family_path(family).iterdir())
        except OSError:
            return []
        for f in names:
            try:
                records.append((f.stat().st_mtime, f.name, f))
            except OSError:
                pass
        return [f for _, _, f in sorted(records, reverse=True)]

    def family(self, family: str) -> list[Entry]:
        """The committed entries of a range family, newest first; records of evicted entries are dropped."""
        found = []
        for record in self._family_records(family):
            entry = self.lookup(record.name)
            if entry is None:
                record.unlink(missing_ok=True)
            else:
                found.append(entry)
        return found

    def add_to_family(self, family: str, key: str, keep: int = FAMILY_KEEP) -> None:
        """Record an entry in a range family. One file per entry, so writers on several hosts
        at once never lose each other's records."""
        record = self._family_path(family) / key
        record.parent.mkdir(parents=True, exist_ok=True)
        record.touch()
        os.utime(record)
        for old in self._family_records(family)[keep:]:
            old.unlink(missing_ok=True)

    # ------------------------------------------------------------ housekeeping

    def list(self) -> list[tuple[float, int, Path]]:
        """(last used, bytes, path) of every committed entry."""
        out = []
        for shard in self.entries_dir.iterdir():
            for path in shard.iterdir() if shard.is_dir() else ():
                meta_file = path / "meta.json"
                try:
                    st = meta_file.stat()
                    size = json.loads(meta_file.read_text()).get("size", 0)
                except (OSError, ValueError):
                    continue
                out.append((st.st_mtime, size, path))
        return out

    def maybe_evict(self, pinned: set[str] = frozenset()) -> None:
        # A full scan per commit would be quadratic in long runs; scan when a
        # tenth of the budget has been written since the last one.
        if self._written_since_scan > self.budget // 10:
            self.evict(pinned)

    def evict(self, pinned: set[str] = frozenset()) -> list[str]:
        """Remove least-recently-used entries until the cache fits its budget."""
        self._written_since_scan = 0
        entries = sorted(self.list())
        total = sum(size for _, size, _ in entries)
        removed = []
        for _, size, path in entries:
            if total <= self.budget:
                break
            if path.name in pinned:
                continue
            self._remove(path)
            total -= size
            removed.append(path.name)
        return removed

    def info(self) -> dict:
        entries = self.list()
        return {"path": str(self.root), "entries": len(entries), "bytes": sum(s for _, s, _ in entries),
                "budget": self.budget}

    def clear(self) -> int:
        n = 0
        for _, _, path in self.list():
            self._remove(path)
            n += 1
        for d in (self.lineage_dir, self.families_dir):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True, exist_ok=True)
        return n


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
