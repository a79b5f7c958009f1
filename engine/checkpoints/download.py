"""Downloading checkpoints: resumable, checked, and moved into place only when good.

`fetch` downloads over HTTP(S) into `FILE.part`, resumes with a Range
request, checks size and sha256, and only then moves the file into place, so a
killed or failed download never leaves a file that looks good. Progress goes
to an object with `start`, `update`, `finish` and `note` (the command line's
progress display; `Quiet` when nobody watches).
"""
from __future__ import annotations

import errno
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import InpainterzError
from ..fingerprint import file_sha256
from .manifest import Checkpoint, select
from .search import fetch_dir
from .verify import _remember, check_file

WEIGHTS_URL_ENV = "INPAINTERZ_WEIGHTS_URL"  # a mirror laid out like the checkpoint folder
CHUNK = 1 << 20


class FetchError(InpainterzError):
    """A download failed; the message says why and what to do."""


class Quiet:
    """Progress that shows nothing: what `fetch` reports to when no display is given."""

    def start(self, label: str, total: int | None, done: int = 0) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def finish(self, note: str = "done") -> None:
        pass

    def note(self, text: str) -> None:
        pass


def source_url(entry: Checkpoint, base_url: str | None = None) -> str:
    """The entry's official URL, or its place on a mirror laid out like the ckpt folder."""
    base = base_url or os.environ.get(WEIGHTS_URL_ENV)
    if not base:
        return entry.url
    return base.rstrip("/") + "/" + urllib.parse.quote(entry.file)


def _append(out, block: bytes) -> None:
    out.write(block)


def _download(url: str, part: Path, entry: Checkpoint, progress, timeout: float) -> None:
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
                                 f"Free some space and run the same command again: the download resumes from "
                                 f"{part.name}. Or fetch onto another disk with: {entry.fetch_hint('DIR')} "
                                 f"(and give runs the same --ckpt-dir)") from None
            raise FetchError(f"{entry.name}: cannot write {part}: {exc.strerror or exc}") from None
        if length is not None and written < int(length):
            raise FetchError(f"{entry.name}: the connection closed after {(have + written) / 1e6:.1f} MB; "
                             f"run the same command again to resume")


def fetch(name: str = "default", dest: Path | str | None = None, progress=None,
          base_url: str | None = None, timeout: float = 60.0, force: bool = False) -> list[Path]:
    """Download the named checkpoints (an entry, a bundle, "default" or "all") into `dest`
    (by default the user's checkpoint folder, which every run searches).

    A file already present and matching the manifest is left alone. Each file
    goes to FILE.part first and is moved into place (os.replace) only after
    its size and sha256 check out; a bad download is deleted and the good file
    that was there before, if any, is kept.
    """
    entries = select(name)
    dest = fetch_dir([dest] if dest else [])
    progress = progress or Quiet()
    done: list[Path] = []
    for entry in entries:
        target = dest / entry.file
        if target.is_file() and not force:
            st = check_file(entry, target, full=True)
            if st.ok:
                progress.note(f"{entry.file}: already present ({st.detail})")
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
            progress.note(f"{entry.file}: licence: {entry.licence}")
        done.append(target)
    return done
