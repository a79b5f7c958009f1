"""Writing files so that a reader never sees half of one.

Everything inpainterz writes for a user (videos, images, mattes, graphs,
reports, checkpoints) goes through `atomic_write`: the data is written to a
temporary file in the same folder and renamed over the target only when it is
complete. A failed or interrupted write leaves the previous file untouched.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def temp_path_for(path: Path) -> Path:
    """A hidden sibling of `path` that keeps its extension (encoders pick formats by it)."""
    return path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{path.suffix}")


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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
