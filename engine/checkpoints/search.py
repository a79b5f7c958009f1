"""Where checkpoint files are looked for, and the error that says how to get a missing one.

The folders, in order: those the run was given (`--ckpt-dir`, the editor's
setting), `$INPAINTERZ_CKPT`, `./ckpt`, and the user's checkpoint folder
(`$XDG_DATA_HOME/inpainterz/ckpt`, by default `~/.local/share/inpainterz/ckpt`),
which is where `inpainterz weights fetch` writes when given no folder. The
installed package's folder is never written to.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..errors import BadInput
from .manifest import Checkpoint, load_manifest, lookup

CKPT_ENV = "INPAINTERZ_CKPT"  # the user's own checkpoint folder(s), os.pathsep separated


def user_ckpt_dir() -> Path:
    """The user's checkpoint folder: where fetches land by default, and always searched."""
    data = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data).expanduser() if data and Path(data).expanduser().is_absolute() \
        else Path.home() / ".local" / "share"
    return (base / "inpainterz" / "ckpt").resolve()


def fetch_dir(ckpt_dirs: Iterable[Path | str] = ()) -> Path:
    """Where a fetch writes: the first folder the run was given, else the user's checkpoint folder."""
    first = next(iter(ckpt_dirs), None)
    return Path(first).expanduser().resolve() if first else user_ckpt_dir()


def search_dirs(ckpt_dirs: Iterable[Path | str] = ()) -> list[Path]:
    """Checkpoint folders in search order, without duplicates; `ckpt_dirs` come first."""
    dirs = [Path(d).expanduser() for d in ckpt_dirs]
    dirs += [Path(p.strip()).expanduser() for p in os.environ.get(CKPT_ENV, "").split(os.pathsep) if p.strip()]
    dirs += [Path.cwd() / "ckpt", user_ckpt_dir()]
    out: list[Path] = []
    for d in dirs:
        d = d.resolve()
        if d not in out:
            out.append(d)
    return out


def _missing_message(what: str, entry: Checkpoint | None, looked: list[Path], where: str, hint_dir) -> str:
    places = ", ".join(str(p) for p in looked)
    msg = f"{where}checkpoint '{what}' not found (looked in {places})."
    if entry is not None:
        parts = [e for e in load_manifest() if e.bundle == entry.bundle] if entry.bundle else [entry]
        total = sum(e.size or 0 for e in parts)
        size = f"{total / 1e6:.0f} MB, " if total and all(e.size for e in parts) else ""
        msg += (f" Get it with: {entry.fetch_hint(hint_dir)}  ({size}{entry.licence.split(':')[0].split(' (')[0]})"
                f" or set the node's 'checkpoint' param to the file's path.")
    else:
        msg += " Set the node's 'checkpoint' param to the file's path."
    return msg


def find_checkpoint(name_or_file: str, param_value: str | os.PathLike | None = None,
                    param: str = "checkpoint", ckpt_dirs: Iterable[Path | str] = ()) -> Path:
    """The path of a checkpoint file, or of a bundle's folder (all files present).

    `param_value` is the node's explicit path param: a file is used as it is; a
    folder is searched for the file. Otherwise the search folders are tried in
    order (`search_dirs(ckpt_dirs)`). Raises BadInput naming the file and the
    fetch command that puts it where this search will find it.
    """
    ckpt_dirs = list(ckpt_dirs)
    hint_dir = ckpt_dirs[0] if ckpt_dirs else None
    manifest = load_manifest()
    bundle = [e for e in manifest if e.bundle == name_or_file]
    entry = None if bundle else lookup(name_or_file, manifest)
    rel = name_or_file if bundle else (entry.file if entry else name_or_file)

    def present(folder: Path) -> Path | None:
        if bundle:
            target = folder / name_or_file
            ok = all((folder / e.file).is_file() for e in bundle)
            return target if ok else None
        target = folder / rel
        return target if target.is_file() else None

    if param_value not in (None, ""):
        given = Path(param_value).expanduser()
        if given.is_dir():
            hit = present(given)
            if hit is not None:
                return hit
            # The node looks only in this folder, so that is where the hint fetches to.
            raise BadInput(_missing_message(rel, entry or (bundle[0] if bundle else None), [given],
                                            f"param '{param}': ", given.resolve()))
        if given.is_file():
            return given
        raise BadInput(f"param '{param}': checkpoint file {given} does not exist. Correct the path"
                       + (f", or empty the param to use the official file, which you get with: "
                          f"{(entry or bundle[0]).fetch_hint(hint_dir)}" if (entry or bundle) else "."))
    looked = search_dirs(ckpt_dirs)
    for folder in looked:
        hit = present(folder)
        if hit is not None:
            return hit
    if bundle:
        missing = [e.file for e in bundle if not any((d / e.file).is_file() for d in looked)]
        raise BadInput(_missing_message(f"{name_or_file}/ ({', '.join(Path(m).name for m in missing)} missing)",
                                        bundle[0], looked, "", hint_dir))
    raise BadInput(_missing_message(rel, entry, looked, "", hint_dir))

