"""Cache policy: keys, hits, early cutoff, and which frames of an earlier result to reuse.

A node's key is a hash of its type id and version, its params, the
fingerprints of the files it reads and the data-versions of its inputs. An
entry under that key is a hit when it holds every frame the run wants.

A frame-aware node (one whose declaration is not *whole*) that misses looks
for a *base*: an earlier entry of the same node (same type, params and
files, so the same lineage key) or a partial entry under its own key. The
base records its inputs' frame versions; the frames whose inputs changed,
spread by the node's declaration, are dirty. The node renders the wanted
frames the base does not hold cleanly and the entry is spliced from those
and the base's clean frames. Frame versions are content hashes, so a frame
that renders to the same bytes stops the spread there (early cutoff per
frame).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import frames as fr
from .data import digest, readers_known
from .fingerprint import fingerprint_path

ENGINE_KEY_VERSION = 2
LINEAGE_KEEP = 6  # earlier entries remembered per lineage (shots sharing a cache each keep theirs)


def _canonical(value):
    if isinstance(value, Path):
        return str(value)
    return value


def _read_files(nt, params: dict) -> dict:
    return {p.name: fingerprint_path(params[p.name]) for p in nt.params
            if p.type == "path" and p.io == "read" and params.get(p.name)}


def node_key(nt, params: dict, input_versions: dict, extra: Any) -> str:
    return digest("node", ENGINE_KEY_VERSION, nt.id, nt.version,
                  {k: _canonical(v) for k, v in sorted(params.items())},
                  dict(sorted(input_versions.items())), _read_files(nt, params), extra)


def key_for(nt, params: dict, upstream: list[tuple[str, str, str]], versions: dict, config) -> str:
    """A node's cache key, once the data-versions of its inputs are known; `config` is the
    run's RunConfig, which the node's fingerprint hook may read (its checkpoint folders)."""
    ins = {port: versions[(src, out)] for port, src, out in upstream}
    extra = nt.fingerprint(params, config) if nt.fingerprint else None
    return node_key(nt, params, ins, extra)


def lineage_key(nt, params: dict, upstream: list[tuple[str, str, str]], config) -> str:
    """What stays the same when only input frames change: the entries a node may build on."""
    extra = nt.fingerprint(params, config) if nt.fingerprint else None
    return digest("lineage", ENGINE_KEY_VERSION, nt.id, nt.version,
                  {k: _canonical(v) for k, v in sorted(params.items())},
                  sorted(port for port, _, _ in upstream), _read_files(nt, params), extra)


def writes_fingerprint(nt, params: dict) -> dict:
    out = {}
    for p in nt.params:
        if p.type == "path" and p.io == "write" and params.get(p.name):
            out[str(params[p.name])] = fingerprint_path(params[p.name], recursive=True)
    return out


def usable(meta: dict) -> bool:
    """Whether a cache entry may stand for a render: its files intact, its clips readable here."""
    return writes_intact(meta) and readers_known(meta)


def writes_intact(meta: dict) -> bool:
    """A sink's cached result counts only while the files it wrote are still there, unchanged."""
    for path, recorded in meta.get("writes", {}).items():
        if not recorded or fingerprint_path(path, recursive=True) != recorded:
            return False
    return True


# ---------------------------------------------------------------- frames

def input_frames(upstream: list[tuple[str, str, str]], output_meta) -> dict:
    """{port: {"count": n, "frames": [...]}} for clip inputs, {port: {"keyed": {frame: v}}} for the rest.

    `output_meta(src, out)` gives the metadata of an upstream output.
    """
    out = {}
    for port, src, name in upstream:
        meta = output_meta(src, name)
        if meta["type"] in ("Frames", "Masks"):
            out[port] = {"count": meta["count"], "frames": meta["frames"]}
        else:
            out[port] = {"keyed": meta["frames"]}
    return out


def clip_count(nt, inputs: dict) -> int:
    """A frame-aware node's output length: that of its first connected clip input."""
    for p in nt.inputs:
        if p.name in inputs and "count" in inputs[p.name]:
            return inputs[p.name]["count"]
    raise ValueError(f"{nt.id}: no clip input is connected")


def changed_frames(old: dict, new: dict) -> fr.Ranges | None:
    """Input frames whose versions differ; None when the two cannot be compared."""
    if set(old) != set(new):
        return None
    changed = []
    for port, now in new.items():
        before = old[port]
        if "count" in now:
            if before.get("count") != now["count"]:
                return None
            changed.append(fr.differing(before["frames"], now["frames"]))
        else:
            a, b = before.get("keyed", {}), now["keyed"]
            changed.append(fr.from_frames(int(f) for f in set(a) | set(b) if a.get(f) != b.get(f)))
    return fr.union(*changed)


def done_frames(meta: dict) -> fr.Ranges:
    """The output frames an entry holds (a frame-range run leaves the others out)."""
    if "done" in meta:
        return fr.from_json(meta["done"])
    return fr.clamp(fr.ALL, meta.get("count", 0))


@dataclass
class Plan:
    """Which frames a frame-aware node renders now and which it takes from `base`."""

    count: int
    wanted: fr.Ranges
    render: fr.Ranges
    keep: fr.Ranges = ()
    base: Any = None  # the cache Entry the kept frames come from
    clean_before: int = 0  # the base's state before this frame still holds (a causal node's memory)

    @property
    def done(self) -> fr.Ranges:
        return fr.union(self.render, self.keep)

    @property
    def complete(self) -> bool:
        """Whether the entry holds every frame of the clip."""
        return self.done == fr.clamp(fr.ALL, self.count)

    def frames_report(self) -> dict:
        return {"rendered": fr.size(self.render), "reused": fr.size(fr.intersect(self.wanted, self.keep))}


def plan_frames(decl, params: dict, count: int, wanted: fr.Ranges, inputs: dict, base) -> Plan:
    """The frames to render given a base entry (or None: render every wanted frame)."""
    wanted = fr.clamp(wanted, count)
    cold = Plan(count, wanted, wanted)
    if base is None:
        return cold
    meta = base.meta
    if meta.get("count") != count or not usable(meta):
        return cold
    changed = changed_frames(meta.get("inputs", {}), inputs)
    if changed is None:
        return cold
    dirty = fr.affected(decl, params, changed, count)
    clean = fr.subtract(done_frames(meta), dirty)
    missing = fr.subtract(wanted, clean)
    if not decl.partial and missing:
        return cold  # a node that cannot render part of its result renders all that is asked
    return Plan(count, wanted, missing, clean, base, changed[0][0] if changed else count)


def best_plan(decl, params: dict, count: int, wanted: fr.Ranges, inputs: dict, bases: list) -> Plan:
    """The plan that renders the fewest frames over the candidate bases."""
    best = plan_frames(decl, params, count, wanted, inputs, None)
    for base in bases:
        plan = plan_frames(decl, params, count, wanted, inputs, base)
        if fr.size(plan.render) < fr.size(best.render) or (
                fr.size(plan.render) == fr.size(best.render) and fr.size(plan.keep) > fr.size(best.keep)):
            best = plan
    return best


def covers(meta: dict, wanted: fr.Ranges) -> bool:
    """Whether an entry holds the wanted frames (a whole node's entry holds all)."""
    if "done" not in meta:
        return True
    return not fr.subtract(fr.clamp(wanted, meta.get("count", 0)), done_frames(meta))
