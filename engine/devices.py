"""Device selection and per-device locks.

torch is imported only when a node that wants the accelerator is about to
run, and only to ask whether CUDA is there.
"""
from __future__ import annotations

import re
import threading

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def check_device_spec(spec: str) -> str | None:
    if not _DEVICE.match(spec or ""):
        return f"--device {spec!r}: expected auto, cpu, cuda or cuda:N"
    return None


def resolve_device(spec: str = "auto") -> str:
    """'auto' -> 'cuda:0' when torch sees a GPU, else 'cpu'. 'cuda' -> 'cuda:0'."""
    err = check_device_spec(spec)
    if err:
        raise ValueError(err)
    if spec == "cpu":
        return "cpu"
    try:
        import torch
    except ImportError:
        if spec == "auto":
            return "cpu"
        raise ValueError(f"--device {spec}: torch is not installed (pip install 'inpainterz[models]')") from None
    if spec == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        raise ValueError(f"--device {spec}: torch sees no CUDA device here; use --device cpu or auto")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) here")
    return f"cuda:{index}"


def device_lock(device: str) -> threading.Lock:
    """One lock per device, process-wide: GPU-wanting nodes never overlap on it."""
    with _locks_guard:
        return _locks.setdefault(device, threading.Lock())
