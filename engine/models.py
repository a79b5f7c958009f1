"""The process-wide model manager: load each model once, keep it under a budget.

Model nodes ask `manager.get(key, loader, device)` for a model instead of
building it. A model stays loaded between runs (the editor re-runs graphs in
one process) under a memory budget per device: when loading one more would
pass the budget, the least recently used models are dropped first. A model's
size is the bytes of its parameters and buffers. `manager.run(fn)` retries a
call once after freeing everything when CUDA runs out of memory.

torch is imported only inside the functions that need it.
"""
from __future__ import annotations

import gc
import os
import sys
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable

from .cache import parse_size

BUDGET_ENV = "INPAINTERZ_MODEL_BUDGET"  # bytes, or with a suffix: "6G", "512M"


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def model_bytes(model) -> int:
    """Bytes of a module's parameters and buffers (what it holds on its device)."""
    total = 0
    for t in list(model.parameters()) + list(model.buffers()):
        total += t.numel() * t.element_size()
    return total


def checkpoint_id(path: Path | str | None) -> tuple | None:
    """Part of a model key that changes when the checkpoint file changes."""
    if path is None:
        return None
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return (str(p), None)
    return (str(p.resolve()), st.st_mtime_ns, st.st_size)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA out-of-memory errors (torch's class, or its older RuntimeError)."""
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if type(exc).__name__ == "OutOfMemoryError":
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _default_budget(device: str) -> int | None:
    env = os.environ.get(BUDGET_ENV)
    if env:
        return parse_size(env)
    if is_cuda(device):
        import torch

        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return int(0.8 * torch.cuda.get_device_properties(index).total_memory)
    try:
        return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class Loaded:
    key: tuple
    model: Any
    device: str
    dtype: str
    nbytes: int


class ModelManager:
    """Models loaded once per process, dropped least-recently-used under a budget.

    `budget` is bytes per device (None: 80% of a CUDA device's memory, half
    the RAM for the CPU, or INPAINTERZ_MODEL_BUDGET).
    """

    def __init__(self, budget: int | str | None = None):
        self.budget = parse_size(budget) if budget is not None else None
        self._models: OrderedDict[tuple, Loaded] = OrderedDict()
        self._lock = threading.RLock()
        self.log: list[str] = []  # what was loaded and dropped, for notes and tests

    # -- queries

    def budget_for(self, device: str) -> int | None:
        return self.budget if self.budget is not None else _default_budget(device)

    def used(self, device: str) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._models.values() if m.device == device)

    def loaded(self) -> list[Loaded]:
        """Loaded models, least recently used first."""
        with self._lock:
            return list(self._models.values())

    def __contains__(self, key) -> bool:
        with self._lock:
            return any(m.key[0] == key or m.key == key for m in self._models.values())

    # -- loading

    def get(self, key: Hashable, loader: Callable[[], Any], device: str = "cpu", fp16: bool = False,
            checkpoint: Path | str | None = None):
        """The model for `key` on `device`, loading it with `loader()` if needed.

        The full key is (key, checkpoint file id, device, dtype), so a changed
        checkpoint file or another device loads anew. `loader` builds the
        module (on the CPU is fine); it is moved to `device`, put in eval
        mode, and cast to fp16 on CUDA when asked (fp16 is ignored on the CPU).
        """
        device = str(device)
        half = bool(fp16) and is_cuda(device)
        dtype = "float16" if half else "float32"
        full = (key, checkpoint_id(checkpoint), device, dtype)
        with self._lock:
            hit = self._models.get(full)
            if hit is not None:
                self._models.move_to_end(full)
                return hit.model
            # A stale entry for the same model (older checkpoint file) goes first.
            for old in [k for k, m in self._models.items() if m.key[0] == key and m.key[2:] == full[2:]]:
                self._drop(old, "its checkpoint changed")
            model = loader()
            model.eval()
            if half:
                model.half()
            nbytes = model_bytes(model)
            self._make_room(device, nbytes)
            try:
                model = model.to(device)
            except BaseException as exc:
                if not is_out_of_memory(exc):
                    raise
                self.unload_all()
                model = model.to(device)
            self._models[full] = Loaded(full, model, device, dtype, nbytes)
            self.log.append(f"load {key} on {device} ({nbytes / 1e6:.1f} MB)")
            return model

    def _make_room(self, device: str, nbytes: int) -> None:
        budget = self.budget_for(device)
        if budget is None:
            return
        while self._models and self.used(device) + nbytes > budget:
            victim = next((k for k, m in self._models.items() if m.device == device), None)
            if victim is None:
                break
            self._drop(victim, "over the memory budget")
        if nbytes > budget:
            self.log.append(f"note: a model of {nbytes / 1e6:.1f} MB is larger than the budget "
                            f"{budget / 1e6:.1f} MB on {device}; loaded anyway")

    def _drop(self, full: tuple, why: str) -> None:
        entry = self._models.pop(full, None)
        if entry is None:
            return
        self.log.append(f"unload {entry.key[0]} from {entry.device} ({why})")
        was_cuda = is_cuda(entry.device)
        del entry
        gc.collect()
        if was_cuda:
            _empty_cuda_cache()

    def unload(self, key: Hashable) -> None:
        with self._lock:
            for full in [k for k in self._models if k[0] == key or k == key]:
                self._drop(full, "asked")

    def unload_all(self, keep: tuple = ()) -> None:
        """Drop every model except those in `keep` (model objects)."""
        with self._lock:
            keep_ids = {id(m) for m in keep}
            for full in [k for k, m in self._models.items() if id(m.model) not in keep_ids]:
                self._drop(full, "freeing memory")
            gc.collect()
            _empty_cuda_cache()

    # -- running

    def run(self, fn: Callable, *args, keep: tuple = (), **kwargs):
        """Call fn(*args, **kwargs); on CUDA out-of-memory free models and retry once.

        Models named in `keep` (the ones `fn` uses) stay loaded; every other
        model is dropped before the retry. A second out-of-memory is raised
        as it is.
        """
        try:
            return fn(*args, **kwargs)
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
            self.log.append(f"out of memory: freeing models and retrying once ({str(exc).splitlines()[0][:80]})")
        self.unload_all(keep=keep)
        return fn(*args, **kwargs)


def _empty_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


_manager: ModelManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> ModelManager:
    """The one manager of this process (what the engine hands nodes as ctx.models)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = ModelManager()
        return _manager

