"""Checkpoints: the manifest, where files are looked for, fetching and loading.

The manifest `ckpt/weights.json` lists every file a model node can load: its
official URL, size, sha256 (null where nobody publishes one), licence and the
node that uses it. A node asks `find_checkpoint` for a file; a missing file is
a `BadInput` that names the file and the exact `inpainterz weights fetch`
command. `fetch` downloads over HTTP(S) into `FILE.part`, resumes with a Range
request, checks size and sha256, and only then moves the file into place, so a
killed or failed download never leaves a file that looks good.

No torch at module level: `load_state_dict` imports it when called.
"""
from __future__ import annotations

import errno
import http.client
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping

from .atomic import write_text_atomic
from .fingerprint import file_sha256
from .errors import BadInput, InpainterzError

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROJECT_CKPT_DIR = PROJECT_DIR / "ckpt"
MANIFEST_PATH = PROJECT_CKPT_DIR / "weights.json"

CKPT_DIR_ENV = "INPAINTERZ_CKPT_DIR"   # what `--ckpt-dir` sets
CKPT_ENV = "INPAINTERZ_CKPT"           # the user's own checkpoint folder(s), os.pathsep separated
WEIGHTS_URL_ENV = "INPAINTERZ_WEIGHTS_URL"  # a mirror laid out like the checkpoint folder
VERIFIED_RECORD = ".verified.json"     # per folder: file -> size, mtime, sha256 already checked

CHUNK = 1 << 20

_ckpt_dir_option: Path | None = None


class FetchError(InpainterzError):
    """A download failed; the message says why and what to do."""


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

    @property
    def fetch_command(self) -> str:
        return f"inpainterz weights fetch {self.fetch_name}"


# ---------------------------------------------------------------- manifest

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


# ---------------------------------------------------------------- where files are

def set_ckpt_dir(path: Path | str | None) -> None:
    """What the CLI's `--ckpt-dir` sets: searched first, and where fetch writes."""
    global _ckpt_dir_option
    _ckpt_dir_option = Path(path).expanduser().resolve() if path else None


def search_dirs() -> list[Path]:
    """Checkpoint folders in search order, without duplicates."""
    dirs: list[Path] = []
    if _ckpt_dir_option is not None:
        dirs.append(_ckpt_dir_option)
    if os.environ.get(CKPT_DIR_ENV):
        dirs.append(Path(os.environ[CKPT_DIR_ENV]).expanduser())
    for part in os.environ.get(CKPT_ENV, "").split(os.pathsep):
        if part.strip():
            dirs.append(Path(part.strip()).expanduser())
    dirs.append(Path.cwd() / "ckpt")
    dirs.append(PROJECT_CKPT_DIR)
    out: list[Path] = []
    for d in dirs:
        d = d.resolve()
        if d not in out:
            out.append(d)
    return out


def default_fetch_dir() -> Path:
    """Where `fetch` writes when no destination is given."""
    if _ckpt_dir_option is not None:
        return _ckpt_dir_option
    if os.environ.get(CKPT_DIR_ENV):
        return Path(os.environ[CKPT_DIR_ENV]).expanduser().resolve()
    first = next((p for p in os.environ.get(CKPT_ENV, "").split(os.pathsep) if p.strip()), None)
    if first:
        return Path(first.strip()).expanduser().resolve()
    if os.access(PROJECT_CKPT_DIR, os.W_OK):
        return PROJECT_CKPT_DIR
    return (Path.cwd() / "ckpt").resolve()


def _missing_message(what: str, entry: Checkpoint | None, looked: list[Path], where: str) -> str:
    places = ", ".join(str(p) for p in looked)
    msg = f"{where}checkpoint '{what}' not found (looked in {places})."
    if entry is not None:
        parts = [e for e in load_manifest() if e.bundle == entry.bundle] if entry.bundle else [entry]
        total = sum(e.size or 0 for e in parts)
        size = f"{total / 1e6:.0f} MB, " if total and all(e.size for e in parts) else ""
        msg += (f" Get it with: {entry.fetch_command}  ({size}{entry.licence.split(':')[0].split(' (')[0]})"
                f" or set the node's 'checkpoint' param to the file's path.")
    else:
        msg += " Set the node's 'checkpoint' param to the file's path."
    return msg


def find_checkpoint(name_or_file: str, param_value: str | os.PathLike | None = None,
                    param: str = "checkpoint") -> Path:
    """The path of a checkpoint file, or of a bundle's folder (all files present).

    `param_value` is the node's explicit path param: a file is used as it is; a
    folder is searched for the file. Otherwise the search folders are tried in
    order (`search_dirs`). Raises BadInput naming the file and the fetch command.
    """
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
            raise BadInput(_missing_message(rel, entry or (bundle[0] if bundle else None), [given],
                                            f"param '{param}': "))
        if given.is_file():
            return given
        raise BadInput(f"param '{param}': checkpoint file {given} does not exist."
                       + (f" Get the official file with: {(entry or bundle[0]).fetch_command}"
                          if (entry or bundle) else ""))
    looked = search_dirs()
    for folder in looked:
        hit = present(folder)
        if hit is not None:
            return hit
    if bundle:
        missing = [e.file for e in bundle if not any((d / e.file).is_file() for d in looked)]
        raise BadInput(_missing_message(f"{name_or_file}/ ({', '.join(Path(m).name for m in missing)} missing)",
                                        bundle[0], looked, ""))
    raise BadInput(_missing_message(rel, entry, looked, ""))


# ---------------------------------------------------------------- verification

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
        return Status(entry, path, "present", "size ok, not hashed yet (run: inpainterz weights verify)")
    if sha != entry.sha256:
        return Status(entry, path, "sha256 mismatch", f"sha256 {sha}, expected {entry.sha256}")
    return Status(entry, path, "verified", "sha256")


def status(entries: Iterable[Checkpoint] | None = None, full: bool = False,
           progress: Callable[[Checkpoint, int], None] | None = None) -> list[Status]:
    """Where each checkpoint is and whether it checks out (first hit in `search_dirs`)."""
    entries = list(entries) if entries is not None else load_manifest()
    dirs = search_dirs()
    out = []
    for e in entries:
        path = next((d / e.file for d in dirs if (d / e.file).is_file()), None)
        if path is None:
            out.append(Status(e, None, "missing", e.fetch_command))
        else:
            cb = (lambda n, e=e: progress(e, n)) if progress else None
            out.append(check_file(e, path, full, cb))
    return out


def verify(names: Iterable[str] | None = None,
           progress: Callable[[Checkpoint, int], None] | None = None) -> list[Status]:
    """Hash every present checkpoint (or the named ones) against the manifest."""
    manifest = load_manifest()
    if names:
        entries: list[Checkpoint] = []
        for n in names:
            entries.extend(e for e in select(n, manifest) if e not in entries)
    else:
        entries = manifest
    return status(entries, full=True, progress=progress)


def list_status() -> list[Status]:
    """Every manifest entry: missing, present, or verified (by size or a recorded hash)."""
    return status(full=False)


# ---------------------------------------------------------------- download

class Progress:
    """A download progress bar on a terminal, plain lines otherwise."""

    def __init__(self, stream=None, tty: bool | None = None, every: float = 5.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = every
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._t0 = 0.0
        self._last = 0.0

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        self._label, self._total, self._done = label, total, done
        self._t0 = self._last = time.monotonic()
        self._start_done = done
        if not self.tty:
            resumed = f", resuming at {done / 1e6:.1f} MB" if done else ""
            size = f"{total / 1e6:.1f} MB" if total else "size unknown"
            print(f"{label}: downloading ({size}{resumed})", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if self.tty:
            if now - self._last >= 0.1:
                self._last = now
                self._draw(now)
        elif now - self._last >= self.every:
            self._last = now
            print(f"{self._label}: {self._text(now)}", file=self.stream, flush=True)

    def finish(self, note: str = "done") -> None:
        now = time.monotonic()
        if self.tty:
            self._draw(now)
            self.stream.write("\n")
        print(f"{self._label}: {note}", file=self.stream, flush=True)

    def _text(self, now: float) -> str:
        rate = (self._done - self._start_done) / max(now - self._t0, 1e-6)
        if self._total:
            pct = 100.0 * self._done / self._total
            return f"{pct:5.1f}% {self._done / 1e6:8.1f}/{self._total / 1e6:.1f} MB {rate / 1e6:6.1f} MB/s"
        return f"{self._done / 1e6:8.1f} MB {rate / 1e6:6.1f} MB/s"

    def _draw(self, now: float) -> None:
        bar = ""
        if self._total:
            filled = int(30 * min(self._done / self._total, 1.0))
            bar = "[" + "#" * filled + "." * (30 - filled) + "] "
        self.stream.write(f"\r{self._label} {bar}{self._text(now)}")
        self.stream.flush()


def source_url(entry: Checkpoint, base_url: str | None = None) -> str:
    """The entry's official URL, or its place on a mirror laid out like the ckpt folder."""
    base = base_url or os.environ.get(WEIGHTS_URL_ENV)
    if not base:
        return entry.url
    return base.rstrip("/") + "/" + urllib.parse.quote(entry.file)


def _append(out, block: bytes) -> None:
    out.write(block)


def _download(url: str, part: Path, entry: Checkpoint, progress: Progress, timeout: float) -> None:
    """Fill `part` with the whole file at `url`, resuming what is already there."""
    have = part.stat().st_size if part.exists() else 0
    if entry.size is not None and have > entry.size:
        part.unlink()
        have = 0
    if entry.size is not None and have == entry.size:
        progress.start(entry.file, entry.size, have)
        return
    headers = {"User-Agent": "inpainterz-weights/1"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # The server has nothing past what we hold: the part is complete, or stale.
            if entry.size is None:
                part.unlink()  # no size to tell which: start over
                return _download(url, part, entry, progress, timeout)
            progress.start(entry.file, entry.size, have)
            return
        raise FetchError(f"{entry.name}: HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{entry.name}: cannot reach {urllib.parse.urlsplit(url).netloc or url}: {exc.reason}. "
                         f"Without internet, download {entry.url} by hand and put it in a checkpoint folder "
                         f"as {entry.file}") from None
    with resp:
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html") and not entry.file.endswith((".html", ".htm")):
            raise FetchError(f"{entry.name}: {url} sent a web page instead of the file (a sign-in or "
                             f"confirmation page?). Download it in a browser from {entry.page or entry.url} "
                             f"and put it in a checkpoint folder as {entry.file}")
        if have and resp.status != 206:
            have = 0  # the server ignored the Range request: start over
        total = None
        length = resp.headers.get("Content-Length")
        if length is not None:
            total = have + int(length)
        if entry.size is not None:
            total = entry.size
        progress.start(entry.file, total, have)
        mode = "ab" if have else "wb"
        written = 0
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = resp.read(CHUNK)
                    except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                        out.flush()
                        raise FetchError(f"{entry.name}: the connection broke after {(have + written) / 1e6:.1f} MB "
                                         f"({type(exc).__name__}); run the same command again to resume") from None
                    if not block:
                        break
                    _append(out, block)
                    written += len(block)
                    progress.update(len(block))
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise FetchError(f"{entry.name}: disk full in {part.parent} after {(have + written) / 1e6:.1f} MB. "
                                 f"Free some space (or fetch into another folder with --dest) and run the same "
                                 f"command again: the download resumes from {part.name}") from None
            raise FetchError(f"{entry.name}: cannot write {part}: {exc.strerror or exc}") from None
        if length is not None and written < int(length):
            raise FetchError(f"{entry.name}: the connection closed after {(have + written) / 1e6:.1f} MB; "
                             f"run the same command again to resume")


def fetch(name: str = "default", dest: Path | str | None = None, progress: Progress | None = None,
          base_url: str | None = None, timeout: float = 60.0, force: bool = False) -> list[Path]:
    """Download the named checkpoints (an entry, a bundle, "default" or "all") into `dest`.

    A file already present and matching the manifest is left alone. Each file
    goes to FILE.part first and is moved into place (os.replace) only after
    its size and sha256 check out; a bad download is deleted and the good file
    that was there before, if any, is kept.
    """
    entries = select(name)
    dest = Path(dest).expanduser().resolve() if dest else default_fetch_dir()
    progress = progress or Progress()
    done: list[Path] = []
    for entry in entries:
        target = dest / entry.file
        if target.is_file() and not force:
            st = check_file(entry, target, full=True)
            if st.ok:
                print(f"{entry.file}: already present ({st.detail})", file=progress.stream, flush=True)
                done.append(target)
                continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FetchError(f"cannot create the checkpoint folder {target.parent}: {exc.strerror or exc}") from None
        part = target.with_name(target.name + ".part")
        _download(source_url(entry, base_url), part, entry, progress, timeout)
        size = part.stat().st_size
        if entry.size is not None and size != entry.size:
            if size > entry.size:
                part.unlink()
            raise FetchError(f"{entry.name}: got {size} bytes, expected {entry.size}; nothing was installed"
                             + ("" if size > entry.size else "; run the same command again to resume"))
        if entry.sha256:
            sha = file_sha256(part)
            if sha != entry.sha256:
                part.unlink()
                raise FetchError(f"{entry.name}: sha256 mismatch (got {sha}, expected {entry.sha256}); the "
                                 f"download was deleted and nothing was installed. Try again, or check the mirror")
        os.replace(part, target)
        if entry.sha256:
            _remember(dest, entry, target, entry.sha256)
        progress.finish(f"installed {target} ({entry.check} checked)" if entry.check != "none"
                        else f"installed {target} (no size or sha256 published: not verified)")
        if "non-commercial" in entry.licence.lower():
            print(f"{entry.file}: licence: {entry.licence}", file=progress.stream, flush=True)
        done.append(target)
    return done


# ---------------------------------------------------------------- loading

# Key patterns that identify well-known checkpoints, to name what a wrong file looks like.
SIGNATURES: list[tuple[str, tuple[str, ...]]] = [
    ("a SAM (segment-anything) checkpoint", ("image_encoder.", "prompt_encoder.", "mask_decoder.")),
    ("a GroundingDINO checkpoint", ("bert.", "transformer.", "backbone.")),
    ("a DeAOT/AOT tracker checkpoint", ("encoder.", "LSTT.", "decoder.")),
    ("an E2FGVI inpainting checkpoint", ("encoder.", "decoder.", "feat_prop_module.")),
    ("a BERT text encoder", ("embeddings.word_embeddings.", "encoder.layer.")),
]

WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net", "params_ema", "params")


def describe_keys(keys: Iterable[str]) -> str | None:
    """What a set of state_dict keys looks like, from `SIGNATURES`, or None."""
    keys = list(keys)
    for label, prefixes in SIGNATURES:
        if all(any(k.startswith(p) for k in keys) for p in prefixes):
            return label
    return None


def _is_tensor_dict(value) -> bool:
    import torch

    return isinstance(value, Mapping) and bool(value) and all(
        isinstance(v, torch.Tensor) for v in value.values())


def unwrap_state_dict(obj) -> dict:
    """The tensor dict inside a checkpoint: bare, or under "model", "state_dict", ..."""
    if _is_tensor_dict(obj):
        sd = dict(obj)
    else:
        sd = None
        if isinstance(obj, Mapping):
            for key in WRAPPER_KEYS:
                if key in obj and _is_tensor_dict(obj[key]):
                    sd = dict(obj[key])
                    break
        if sd is None:
            return {}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}  # saved from DataParallel
    return sd


def load_state_dict(path: Path | str, model_name: str, expected_keys=None,
                    min_overlap: float = 0.5, fetch_hint: str | None = None) -> dict:
    """Load a checkpoint's tensors safely and check it is the model it should be.

    torch.load runs with weights_only=True (safetensors files load with
    safetensors). The state dict is unwrapped from {"model": ...} or
    {"state_dict": ...}. With `expected_keys` (the model's own state_dict, or
    its keys) a file whose keys barely overlap, or whose shapes differ, is
    refused with a message saying what the file looks like instead.
    """
    import pickle

    import torch

    path = Path(path)
    again = f" Fetch it again with: {fetch_hint}" if fetch_hint else ""
    if not path.is_file():
        raise BadInput(f"checkpoint {path} does not exist.{again}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            raise BadInput(f"{path} (param 'checkpoint') holds Python objects besides tensors ({found.group(1)}), "
                           f"which are never loaded, for safety. It is not a {model_name} checkpoint as published."
                           f"{again}") from None
        # torch's own text advises loading with weights_only=False; that would run code from the file.
        detail = re.search(r"Unpickler error:\s*([^\n]+)", text)
        reason = detail.group(1).strip() if detail and "weights_only" not in detail.group(1) else "not a tensor file"
        raise BadInput(f"{path} (param 'checkpoint') is not a readable {model_name} checkpoint (corrupt or cut "
                       f"short?): {reason}.{again}") from None
    except Exception as exc:  # torch, zipfile and safetensors each fail their own way on a damaged file
        first = str(exc).splitlines()[0] if str(exc) else ""
        if "weights_only" in first:
            first = ""
        raise BadInput(f"{path} (param 'checkpoint') is not a readable {model_name} checkpoint (corrupt, cut "
                       f"short, or another kind of file?): {type(exc).__name__}"
                       f"{': ' + first if first else ''}.{again}") from None
    sd = unwrap_state_dict(obj)
    if not sd:
        top = ", ".join(map(str, list(obj)[:6])) if isinstance(obj, Mapping) else type(obj).__name__
        raise BadInput(f"{path} holds no tensors where a {model_name} checkpoint keeps them (found: {top}).{again}")
    if expected_keys is not None:
        check_state_dict(sd, expected_keys, model_name, path, min_overlap)
    return sd


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, "shape") else tuple(value)


def check_state_dict(sd: Mapping, expected, model_name: str, path: Path | str, min_overlap: float = 0.5) -> None:
    """Refuse a state dict that is not for this model: key overlap and shapes."""
    want = list(expected.keys()) if isinstance(expected, Mapping) else list(expected)
    if not want:
        return
    got = set(sd)
    common = [k for k in want if k in got]
    looks = describe_keys(got)
    looks_text = f"; it looks like {looks}" if looks else ""
    if len(common) < min_overlap * len(want):
        raise BadInput(f"{path} is not a {model_name} checkpoint: only {len(common)} of the model's {len(want)} "
                       f"tensors are in it{looks_text}. Set the node's 'checkpoint' param to a {model_name} file.")
    if isinstance(expected, Mapping):
        bad = []
        for k in common:
            have, need = _shape(sd[k]), _shape(expected[k])
            if have != need:
                bad.append(f"{k} {list(have)} vs {list(need)}")
        if bad:
            raise BadInput(f"{path} does not fit the {model_name} model: {len(bad)} tensors have other shapes "
                           f"(e.g. {bad[0]}){looks_text}; it is probably another size of this model. Pick the "
                           f"model that matches the file, or the file that matches the model.")


def load_into(model, path: Path | str, model_name: str, strict: bool = True,
              fetch_hint: str | None = None, min_overlap: float = 0.5):
    """Load a checkpoint into `model` after checking it belongs to it.

    With strict=False, keys the model lacks (training-only extras) are ignored
    but every model tensor the file does hold must fit.
    """
    own = model.state_dict()
    sd = load_state_dict(path, model_name, expected_keys=own, min_overlap=min_overlap, fetch_hint=fetch_hint)
    if strict:
        missing = [k for k in own if k not in sd]
        if missing:
            raise BadInput(f"{path} lacks {len(missing)} of the {model_name} model's tensors "
                           f"(e.g. {missing[0]}); it is not a complete {model_name} checkpoint.")
        sd = {k: v for k, v in sd.items() if k in own}
    return model.load_state_dict(sd, strict=False)
