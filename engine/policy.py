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

Runs of different frame ranges of the same graph (farm chunks, run side by
side) each leave a partial entry. Their inputs differ only in which frames
are present, so their keys differ; the *range family* of a node names what
they share (the node's lineage, and upstream the data of whole nodes and
the families of frame-aware ones), and a run that wants more frames joins
the clean frames of several such entries (`join_plan`) instead of
rendering them again.
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


def family_key(lineage: str, upstream: list[tuple[str, str, str]], identity: dict) -> str:
    """The range family of a node: the same for runs of any frame range of the same graph and sources.

    `identity[(src, out)]` is the source's family when the source is frame-aware
    (its data then depends on which frames a run asked for), else its data-version.
    """
    return digest("family", ENGINE_KEY_VERSION, lineage,
                  sorted((port, identity[(src, out)]) for port, src, out in upstream))


def range_key(key: str, done: fr.Ranges) -> str:
    """Where a frame-aware node's entry holding `done` goes when an entry under its key is there already.

    Runs of several frame ranges at once share keys; an entry another run may
    still be reading is never replaced, so each keeps its own. A complete one
    is found again by `range_key(key, all frames)`.
    """
    return digest("range", key, fr.to_json(done))


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
    """Which frames a frame-aware node renders now and which it takes from earlier entries.

    `keep` frames come from `base`, and `joined` adds (entry, frames) pieces
    from other entries of the same range family, disjoint from `keep`.
    """

    count: int
    wanted: fr.Ranges
    render: fr.Ranges
    keep: fr.Ranges = ()
    base: Any = None  # the cache Entry the kept frames come from
    clean_before: int = 0  # the base's state before this frame still holds (a causal node's memory)
    joined: tuple = ()  # ((Entry, frames), ...) taken from other entries

    @property
    def reused(self) -> fr.Ranges:
        """Every frame taken from an earlier entry."""
        return fr.union(self.keep, *(frames for _, frames in self.joined))

    @property
    def done(self) -> fr.Ranges:
        return fr.union(self.render, self.reused)

    @property
    def complete(self) -> bool:
        """Whether the entry holds every frame of the clip."""
        return self.done == fr.clamp(fr.ALL, self.count)

    def pieces(self) -> list[tuple[Any, fr.Ranges]]:
        """(entry, frames) for every entry some frames come from."""
        return ([(self.base, self.keep)] if self.keep else []) + [(e, f) for e, f in self.joined if f]

    def frames_report(self) -> dict:
        return {"rendered": fr.size(self.render), "reused": fr.size(fr.intersect(self.wanted, self.reused))}


def clean_frames(decl, params: dict, count: int, inputs: dict, base) -> fr.Ranges | None:
    """The frames of `base` that still hold for these inputs, or None when it cannot serve."""
    meta = base.meta
    if meta.get("count") != count or not usable(meta):
        return None
    changed = changed_frames(meta.get("inputs", {}), inputs)
    if changed is None:
        return None
    return fr.subtract(done_frames(meta), fr.affected(decl, params, changed, count))


def plan_frames(decl, params: dict, count: int, wanted: fr.Ranges, inputs: dict, base) -> Plan:
    """The frames to render given a base entry (or None: render every wanted frame)."""
    wanted = fr.clamp(wanted, count)
    cold = Plan(count, wanted, wanted)
    if base is None:
        return cold
    clean = clean_frames(decl, params, count, inputs, base)
    if clean is None:
        return cold
    missing = fr.subtract(wanted, clean)
    if not decl.partial and missing:
        return cold  # a node that cannot render part of its result renders all that is asked
    changed = changed_frames(base.meta.get("inputs", {}), inputs)
    return Plan(count, wanted, missing, clean, base, changed[0][0] if changed else count)


def join_plan(decl, params: dict, plan: Plan, inputs: dict, others: list) -> Plan:
    """`plan` with the frames it would render taken, where they still hold, from `others`
    (entries of other frame ranges). A causal node keeps its single base: its
    render resumes from that base's memory, so only a prefix can be reused."""
    if decl.kind not in ("frame", "window") or not plan.render:
        return plan
    have = plan.reused
    missing = plan.render
    joined = []
    seen = {plan.base.key} if plan.base is not None else set()
    for entry in others:
        if not missing or entry.key in seen:
            continue
        seen.add(entry.key)
        clean = clean_frames(decl, params, plan.count, inputs, entry)
        take = fr.subtract(clean, have) if clean else ()
        if fr.intersect(take, missing):
            joined.append((entry, take))
            have = fr.union(have, take)
            missing = fr.subtract(missing, take)
    if not joined or not decl.partial and missing:
        return plan
    return Plan(plan.count, plan.wanted, missing, plan.keep, plan.base, plan.clean_before, tuple(joined))


def best_plan(decl, params: dict, count: int, wanted: fr.Ranges, inputs: dict, bases: list) -> Plan:
    """The plan that renders the fewest frames: the best single base, then frames joined from the others."""
    best = plan_frames(decl, params, count, wanted, inputs, None)
    for base in bases:
        plan = plan_frames(decl, params, count, wanted, inputs, base)
        if fr.size(plan.render) < fr.size(best.render) or (
                fr.size(plan.render) == fr.size(best.render) and fr.size(plan.keep) > fr.size(best.keep)):
            best = plan
    return join_plan(decl, params, best, inputs, bases)


def covers(meta: dict, wanted: fr.Ranges) -> bool:
    """Whether an entry holds the wanted frames (a whole node's entry holds all)."""
    if "done" not in meta:
        return True
    return not fr.subtract(fr.clamp(wanted, meta.get("count", 0)), done_frames(meta))
