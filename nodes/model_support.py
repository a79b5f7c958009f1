"""What every model node shares: finding its checkpoint, loading its model once, half precision.

A model node names the manifest entry its params ask for (`entry_for(params)`)
and gets two hooks for the engine: `preflight` reports a missing checkpoint
before anything runs (exit 2, with the fetch command), and `fingerprint`
puts the checkpoint file it will load into the node's cache key, so
replacing the file re-runs the node. Both search the run's checkpoint
folders (its RunConfig). `load_model` builds a network, loads the checked
weights into it and keeps it in the run's model manager.
"""
from __future__ import annotations

from typing import Callable

from ..engine import BadInput


def checkpoint_hooks(entry_for: Callable[[dict], str], param: str = "checkpoint",
                     extra: Callable[[dict], list[str]] | None = None):
    """(preflight, fingerprint) for a node whose checkpoint is `entry_for(params)`.

    `extra(params)` names more manifest entries or bundles the node needs
    (the text encoder folder of DetectText).
    """

    def names(params: dict) -> list[str]:
        return [entry_for(params)] + (extra(params) if extra else [])

    def preflight(params: dict, config) -> list[str]:
        problems = []
        for i, name in enumerate(names(params)):
            try:
                config.find_checkpoint(name, params.get(param) if i == 0 else None, param=param)
            except BadInput as exc:
                problems.append(str(exc))
        return problems

    def fingerprint(params: dict, config):
        out = []
        for i, name in enumerate(names(params)):
            try:
                path = config.find_checkpoint(name, params.get(param) if i == 0 else None, param=param)
            except BadInput:
                out.append([name, None])
                continue
            files = [p for p in sorted(path.rglob("*")) if p.is_file()] if path.is_dir() else [path]
            out.append([name] + [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
        return out

    return preflight, fingerprint


def load_model(ctx, key: tuple, build: Callable, path, entry: str, label: str, strict: bool = True,
               min_overlap: float = 0.5):
    """The network `build()` makes, with the weights of `path`, from the run's model manager.

    A bad file names the command that fetches manifest entry `entry` again,
    to where this run looks for checkpoints.
    """
    return load_network(ctx.models, ctx.device, key, build, path, label, ctx.config.fetch_hint(entry),
                        strict=strict, min_overlap=min_overlap)


def load_network(models, device: str, key: tuple, build: Callable, path, label: str, fetch_hint: str | None = None,
                 strict: bool = True, min_overlap: float = 0.5):
    """`load_model` outside a render (the editor's instant mask): the model manager `models` keeps
    the network loaded for later calls (keyed by `key` and the file); the weights are checked to
    belong to the network first (`checkpoints.load_into`)."""
    from ..engine.checkpoints import load_into

    def make():
        net = build()
        load_into(net, path, label, strict=strict, min_overlap=min_overlap, fetch_hint=fetch_hint)
        return net

    return models.get(key, make, device, checkpoint=path)


FP16_DOC = "half precision on CUDA (ignored on the CPU)"


def uses_half(device: str, fp16: bool) -> bool:
    """Whether `half_precision(device, fp16)` computes in float16."""
    return bool(fp16) and str(device).startswith("cuda")


def half_precision(device: str, fp16: bool):
    """A context in which CUDA work runs in float16 when `fp16` is set; a no-op on the CPU."""
    import torch

    return torch.autocast("cuda", dtype=torch.float16, enabled=uses_half(device, fp16))
