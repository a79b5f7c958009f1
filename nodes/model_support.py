"""What every model node shares: finding its checkpoint, and running in half precision.

A model node names the manifest entry its params ask for (`entry_for(params)`)
and gets two hooks for the engine: `preflight` reports a missing checkpoint
before anything runs (exit 2, with the fetch command), and `fingerprint`
puts the checkpoint file it will load into the node's cache key, so
replacing the file re-runs the node.
"""
from __future__ import annotations

from typing import Callable

from ..engine import BadInput
from ..engine import checkpoints as ck


def checkpoint_hooks(entry_for: Callable[[dict], str], param: str = "checkpoint",
                     extra: Callable[[dict], list[str]] | None = None):
    """(preflight, fingerprint) for a node whose checkpoint is `entry_for(params)`.

    `extra(params)` names more manifest entries or bundles the node needs
    (the text encoder folder of DetectText).
    """

    def names(params: dict) -> list[str]:
        return [entry_for(params)] + (extra(params) if extra else [])

    def preflight(params: dict) -> list[str]:
        problems = []
        for i, name in enumerate(names(params)):
            try:
                ck.find_checkpoint(name, params.get(param) if i == 0 else None, param=param)
            except BadInput as exc:
                problems.append(str(exc))
        return problems

    def fingerprint(params: dict):
        out = []
        for i, name in enumerate(names(params)):
            try:
                path = ck.find_checkpoint(name, params.get(param) if i == 0 else None, param=param)
            except BadInput:
                out.append([name, None])
                continue
            files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
            out.append([name] + [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
        return out

    return preflight, fingerprint


def resolve(name: str, value, param: str = "checkpoint"):
    """The checkpoint path for a render (BadInput with the fetch command if missing)."""
    return ck.find_checkpoint(name, value, param=param)


FP16_DOC = "half precision on CUDA (ignored on the CPU)"


def half_precision(device: str, fp16: bool):
    """A context in which CUDA work runs in float16 when `fp16` is set; a no-op on the CPU."""
    import torch

    enabled = bool(fp16) and str(device).startswith("cuda")
    return torch.autocast("cuda", dtype=torch.float16, enabled=enabled)
