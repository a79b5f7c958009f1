"""The checkpoint manifest `ckpt/weights.json`: every file a model node can load.

Each entry has its official URL, size, sha256 (null where nobody publishes
one), licence and the node that uses it, and gives the one command that
fetches it (`fetch_hint`).
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import BadInput

MANIFEST_PATH = Path(__file__).resolve().parents[2] / "ckpt" / "weights.json"


@dataclass(frozen=True)
class Checkpoint:
    """One file of the manifest."""

    name: str
    file: str               # relative to a checkpoint folder ("bert-base-uncased/vocab.txt")
    url: str
    size: int | None
    sha256: str | None
    licence: str
    node: str
    model: str
    default: bool = False
    bundle: str | None = None   # files fetched and found together (the bert folder)
    page: str | None = None
    notes: str = ""
    format: str = ""
    checksum_source: str | None = None

    @property
    def check(self) -> str:
        """How a downloaded copy is verified: "sha256", "size" or "none"."""
        return "sha256" if self.sha256 else ("size" if self.size else "none")

    @property
    def fetch_name(self) -> str:
        return self.bundle or self.name

    def fetch_hint(self, ckpt_dir: Path | str | None = None) -> str:
        """The command that downloads this file to where a run looks for it.

        With no folder it fetches into the user's checkpoint folder, which
        every run searches; a run given --ckpt-dir gets that folder back.
        """
        return _fetch_command(self.fetch_name, ckpt_dir)



_manifest_cache: dict[Path, tuple[float, list[Checkpoint]]] = {}


def load_manifest(path: Path | str | None = None) -> list[Checkpoint]:
    """The checkpoints listed in the manifest, in file order."""
    path = Path(path) if path else MANIFEST_PATH
    mtime = path.stat().st_mtime
    cached = _manifest_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format") != "inpainterz-weights":
        raise ValueError(f"{path}: not an inpainterz weights manifest")
    fields = set(Checkpoint.__dataclass_fields__)
    entries = [Checkpoint(**{k: v for k, v in item.items() if k in fields}) for item in doc["checkpoints"]]
    _manifest_cache[path] = (mtime, entries)
    return entries


def lookup(name_or_file: str, manifest: list[Checkpoint] | None = None) -> Checkpoint | None:
    """The entry named `name_or_file`, or whose file (or file name) it is."""
    manifest = manifest if manifest is not None else load_manifest()
    for key in ("name", "file"):
        for e in manifest:
            if getattr(e, key) == name_or_file:
                return e
    base = Path(name_or_file).name
    return next((e for e in manifest if Path(e.file).name == base and e.bundle is None), None)


def select(name: str, manifest: list[Checkpoint] | None = None) -> list[Checkpoint]:
    """Entries for a fetch/verify argument: an entry, a bundle, "default" or "all"."""
    manifest = manifest if manifest is not None else load_manifest()
    if name == "all":
        return list(manifest)
    if name == "default":
        return [e for e in manifest if e.default]
    bundle = [e for e in manifest if e.bundle == name]
    if bundle:
        return bundle
    e = lookup(name, manifest)
    if e is None:
        names = sorted({x.fetch_name for x in manifest})
        raise BadInput(f"no checkpoint named '{name}' in the manifest; known: {', '.join(names)}, default, all")
    return [e]



def fetch_hint(name: str, ckpt_dir: Path | str | None = None) -> str:
    """The fetch command for a manifest entry, file or bundle, or the set "default" or "all"
    (see `Checkpoint.fetch_hint`). An unknown name is a BadInput listing the known ones."""
    if name in ("default", "all"):
        return _fetch_command(name, ckpt_dir)
    return select(name)[0].fetch_hint(ckpt_dir)


def _fetch_command(name: str, ckpt_dir) -> str:
    command = f"inpainterz weights fetch {shlex.quote(name)}"
    return command + (f" --ckpt-dir {shlex.quote(str(ckpt_dir))}" if ckpt_dir else "")
