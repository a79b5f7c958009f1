"""TrackDeAOT: carry keyframe masks through the whole clip (DeAOT).

Frames stream through one at a time: each is matched against DeAOT's
memory, its label map is written to the output clip, and the memory is
updated. The long-term memory keeps at most `long_term_mem_max` entries and
the short-term memory one, so memory does not grow with the clip.

Keyframes: the first one starts the tracker; frames before it have empty
masks. On a later keyframe, the objects it holds replace what the tracker
predicted for them there (a correction), objects it does not hold keep
their prediction, and objects seen for the first time join the tracker from
that frame on. Object ids are those of the keymasks; internally DeAOT
numbers objects 1..N and holds 10 per engine, so more objects run on
several engines that share one image encoding per frame.

The tracker works at a capped size (`max_long_edge`); masks come back at
the full size of the frames.

Frames in time: the node is causal (frame t needs frames 0..t and the
keyframes at or before t). After an edit at frame K it resumes instead of
starting over: every `state_every` frames the tracker's state (its
memories, object numbering and frame counters) is saved in the cache entry,
and a later render restores the newest state saved at or before K whose
frames and keyframes have not changed, tracks the frames between without
output and outputs frames K onwards. Restoring the exact tensors makes a
resumed run give the bytes of a cold run.

States are saved incrementally, so they can be close together. Most of a
state is DeAOT's long-term memory: up to `long_term_mem_max` entries, one
added every `long_term_mem_gap` frames, each of them shared by every state
saved while it is in the memory. Each entry is written once, as its own
file named by the frame that made it, and a state holds only the rest: the
short-term memory (the size of one entry), the positional embedding and
counters, and the names of its long-term entries. What a state does not need
to go on (the current frame's encoder features and attention outputs, which
the next frame recomputes) is left out. At the defaults (1040 px working
size: about 2,400 tokens; R50-DeAOT-L: 3 layers of 128 + 512 + 512 floats per
token) an entry is about 33 MB, so a state every 10 frames costs about
100 MB per 10 frames of the shot (its own 36 MB plus two new entries): about
1 GB per 100 frames, and a resume re-tracks at most 9 frames it does not
output. A whole state written at once would be up to about 1.1 GB each.
"""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np

from ..engine import BadInput, Input, Output, Param, causal, node
from ..engine.data import link_or_copy
from .model_support import FP16_DOC, checkpoint_hooks, half_precision, load_model

DEAOT_MODELS = ("r50_deaotl", "deaott", "deaots", "deaotb", "deaotl", "swinb_deaotl")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
STRIDE = 16
STATE_VERSION = 2
# Attributes of a DeAOT engine that are its network or settings, not what it has tracked.
_NOT_STATE = {"AOT", "cfg", "losses", "training", "aot_engines"}
# Attributes that hold the current frame's work only: every step recomputes them before reading
# them (match_propogate_one_frame, add_reference_frame), so a state need not carry them.
_TRANSIENT = {"curr_enc_embs", "curr_lstt_output", "pred_id_logits", "curr_one_hot_mask", "curr_id_embs"}


def _entry(params: dict) -> str:
    return params.get("model", "r50_deaotl")


_preflight, _fingerprint = checkpoint_hooks(_entry)


def working_size(h: int, w: int, max_long_edge: int, align_corners: bool) -> tuple[int, int]:
    """DeAOT's input size: long edge capped, then snapped to its stride (16, or 16k+1 with align_corners)."""
    sc = min(1.0, max_long_edge / max(h, w)) if max_long_edge > 0 else 1.0
    nh, nw = int(h * sc), int(w * sc)

    def snap(n: int) -> int:
        if align_corners:
            return max(STRIDE + 1, int(np.around((n - 1) / STRIDE) * STRIDE + 1))
        return max(STRIDE, int(np.around(n / STRIDE) * STRIDE))

    return snap(nh), snap(nw)


def build_deaot(model: str):
    """A DeAOT network of the named variant with random weights (no files touched)."""
    from aot.configs.default import DefaultEngineConfig
    from aot.networks.models import build_vos_model

    # DefaultEngineConfig itself makes no folders (only the stage configs' init_dir does);
    # the layers print a notice when the optional correlation extension is absent.
    with contextlib.redirect_stdout(io.StringIO()):
        cfg = DefaultEngineConfig("inpainterz", model)
        return build_vos_model(cfg.MODEL_VOS, cfg)


def load_deaot(ctx, model: str, path):
    return load_model(ctx, ("TrackDeAOT", model), lambda: build_deaot(model), path, model, f"DeAOT {model}",
                      strict=False, min_overlap=0.9)


class Tracker:
    """One pass of DeAOT over a clip: our object ids outside, DeAOT's 1..N inside."""

    def __init__(self, net, device: str, size: tuple[int, int], work: tuple[int, int],
                 long_term_mem_gap: int, short_term_mem_skip: int, long_term_mem_max: int):
        self.net, self.device = net, device
        self.h, self.w = size
        self.wh, self.ww = work
        self.gap, self.skip, self.lt_max = long_term_mem_gap, short_term_mem_skip, long_term_mem_max
        self.align = bool(net.cfg.MODEL_ALIGN_CORNERS)
        self.engine = None
        self.to_inner = np.zeros(256, np.uint8)  # our id -> DeAOT id (0: not tracked)
        self.to_outer = np.zeros(256, np.uint8)  # DeAOT id -> our id
        self.count = 0
        self.stepped = 0  # frames this tracker object has been through (tracked, or started on)
        # Per DeAOT engine, what its long-term memory holds: the frames that added its entries
        # (newest first, as DeAOT concatenates them), the memory object last seen (a new object
        # means an entry was added) and whether it is a concatenation of entries yet.
        self.lt_frames: list[list[int]] = []
        self.lt_seen: list = []
        self.lt_joined: list[bool] = []

    @property
    def started(self) -> bool:
        return self.engine is not None

    def _new_engine(self, phase: str):
        from aot.networks.engines import build_engine

        kwargs = dict(aot_model=self.net, gpu_id=0, long_term_mem_gap=self.gap, short_term_mem_skip=self.skip,
                      max_len_long_term=self.lt_max)
        engine = build_engine(self.net.cfg.MODEL_ENGINE, phase=phase, **kwargs)
        engine.eval()
        return engine

    def _note_memory(self, t: int) -> None:
        """Record which frame added an entry to each engine's long-term memory during frame t."""
        for e, engine in enumerate(self.engine.aot_engines):
            if e == len(self.lt_seen):
                self.lt_seen.append(None)
                self.lt_frames.append([])
                self.lt_joined.append(False)
            memory = engine.long_term_memories
            if memory is self.lt_seen[e]:
                continue
            joined = self.lt_seen[e] is not None  # DeAOT assigns the first entry, then concatenates
            self.lt_frames[e] = ([t] + self.lt_frames[e]) if joined else [t]
            self.lt_joined[e] = joined or self.lt_joined[e]
            self.lt_seen[e] = memory
            self.lt_frames[e] = self.lt_frames[e][: _rows(memory) // engine.enc_hw]

    def snapshot(self, have=lambda name: False) -> tuple[dict, dict]:
        """(state, entries): what the tracker has accumulated, loadable with weights_only.

        Long-term memory entries are named, not held: `entries` gives {file name: entry} for
        those `have(name)` says are not stored yet. A memory that is not a concatenation of
        whole entries (the first one alone, as DeAOT assigned it) stays in the state as it is.
        """
        import torch

        def state_of(engine) -> dict:
            return {k: v for k, v in vars(engine).items()
                    if not k.startswith("_") and k not in _NOT_STATE and k not in _TRANSIENT}

        engines, entries = [], {}
        for e, engine in enumerate(self.engine.aot_engines):
            attrs = state_of(engine)
            memory, tokens = attrs["long_term_memories"], engine.enc_hw
            names = [entry_name(f, e) for f in self.lt_frames[e]]
            if self.lt_joined[e] and _rows(memory) == len(names) * tokens:
                del attrs["long_term_memories"]
                attrs["long_term_entries"] = names
                for j, name in enumerate(names):
                    if name not in entries and not have(name):
                        entries[name] = [[None if x is None else x[j * tokens:(j + 1) * tokens].clone() for x in layer]
                                         for layer in memory]
            engines.append(attrs)
        state = {"version": STATE_VERSION, "count": self.count,
                 "to_inner": torch.from_numpy(self.to_inner.copy()), "to_outer": torch.from_numpy(self.to_outer.copy()),
                 "lt_frames": [list(f) for f in self.lt_frames], "lt_joined": list(self.lt_joined),
                 "infer": state_of(self.engine), "engines": engines}
        return state, entries

    def restore(self, state: dict, load_entry) -> None:
        """Take up a `snapshot`; `load_entry(name)` gives a long-term memory entry back."""
        import torch

        self.count = int(state["count"])
        self.to_inner = state["to_inner"].numpy().copy()
        self.to_outer = state["to_outer"].numpy().copy()
        self.lt_frames = [list(f) for f in state["lt_frames"]]
        self.lt_joined = list(state["lt_joined"])
        self.engine = self._new_engine("eval")
        for k, v in state["infer"].items():
            setattr(self.engine, k, v)
        self.engine.aot_engines = []
        for attrs in state["engines"]:
            attrs = dict(attrs)
            names = attrs.pop("long_term_entries", None)
            if names is not None:
                parts = [load_entry(n) for n in names]
                # The same concatenation DeAOT made, newest first: the same contiguous tensor.
                attrs["long_term_memories"] = [
                    [None if slot is None else torch.cat([p[i][k] for p in parts], dim=0)
                     for k, slot in enumerate(layer)] for i, layer in enumerate(parts[0])]
            engine = self._new_engine("train")  # the class the inference engine keeps one of per 10 objects
            for k, v in attrs.items():
                setattr(engine, k, v)
            self.engine.aot_engines.append(engine)
        self.lt_seen = [e.long_term_memories for e in self.engine.aot_engines]

    def _image(self, frame: np.ndarray):
        import cv2
        import torch

        img = frame.astype(np.float32)
        if (self.wh, self.ww) != (self.h, self.w):
            img = cv2.resize(img, (self.ww, self.wh), interpolation=cv2.INTER_CUBIC)
        img = (img / 255.0 - MEAN) / STD
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None].to(self.device)

    def _small_label(self, inner: np.ndarray):
        import cv2
        import torch

        small = inner if (self.wh, self.ww) == (self.h, self.w) else cv2.resize(
            inner, (self.ww, self.wh), interpolation=cv2.INTER_NEAREST)
        return torch.from_numpy(small.astype(np.float32))[None, None].to(self.device)

    def _add_ids(self, ids) -> list[int]:
        new = [int(i) for i in ids if i and not self.to_inner[i]]
        for i in new:
            self.count += 1
            self.to_inner[i] = self.count
            self.to_outer[self.count] = i
        return new

    def start(self, frame: np.ndarray, t: int, key: np.ndarray) -> np.ndarray:
        self._add_ids(np.unique(key))
        self.engine = self._new_engine("eval")
        self.engine.add_reference_frame(self._image(frame), self._small_label(self.to_inner[key]),
                                        obj_nums=self.count, frame_step=0)
        self.stepped += 1
        self._note_memory(t)
        return key.copy()

    def _predict(self, img) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        self.engine.match_propogate_one_frame(img)
        logits = self.engine.decode_current_logits((self.wh, self.ww))[:, : self.count + 1]
        if (self.wh, self.ww) != (self.h, self.w):
            logits = F.interpolate(logits.float(), size=(self.h, self.w), mode="bilinear",
                                   align_corners=self.align)
        return torch.argmax(logits, dim=1)[0].to(torch.uint8).cpu().numpy()

    def step(self, frame: np.ndarray, t: int, key: np.ndarray | None = None) -> np.ndarray:
        """Track one frame (optionally a keyframe); returns its label map in our ids."""
        label = self._step(frame, t, key)
        self.stepped += 1
        self._note_memory(t)
        return label

    def _step(self, frame: np.ndarray, t: int, key: np.ndarray | None) -> np.ndarray:
        import torch

        img = self._image(frame)
        inner = self._predict(img)
        if key is None:
            self.engine.update_memory(torch.from_numpy(inner.astype(np.float32))[None, None].to(self.device))
            return self.to_outer[inner]
        present = [int(i) for i in np.unique(key) if i]
        known = [self.to_inner[i] for i in present if self.to_inner[i]]
        if known:
            inner[np.isin(inner, known)] = 0  # the keyframe's own masks replace the prediction
        new = self._add_ids(present)
        inner[key > 0] = self.to_inner[key[key > 0]]
        if new:
            self.engine.add_reference_frame(img, self._small_label(inner), obj_nums=self.count, frame_step=t)
        else:
            self.engine.update_memory(torch.from_numpy(inner.astype(np.float32))[None, None].to(self.device))
        return self.to_outer[inner]


def _rows(memory) -> int:
    """Rows (tokens times entries) of a long-term memory: [[key, value, ...] per layer]."""
    return next(x.shape[0] for layer in memory for x in layer if x is not None)


def entry_name(frame: int, engine: int) -> str:
    """The file of the long-term memory entry that frame `frame` added to engine `engine`."""
    return f"memory{frame:07d}-{engine}.pt"


@node("TrackDeAOT", category="track", version=1,
      doc="Track the keyframe masks through every frame of the clip (DeAOT).",
      inputs=[Input("frames", "Frames"), Input("keymasks", "KeyMasks", doc="from SegmentSAM")],
      outputs=[Output("masks", "Masks", doc="a label map per frame at full size, object ids kept")],
      params=[
          Param("model", "choice", "r50_deaotl", choices=DEAOT_MODELS,
                doc="r50_deaotl is the usual pick; deaott is fastest, swinb_deaotl the most accurate"),
          Param("checkpoint", "path", "", io="read", kind="file",
                doc="checkpoint file; empty: the model's official file from the checkpoint folders"),
          Param("max_long_edge", "int", 1040, min=0, max=8192,
                doc="the tracker's working size: long edge in pixels (0: full size); masks come back at full size"),
          Param("long_term_mem_gap", "int", 5, min=1, max=10000,
                doc="add a frame to the long-term memory every this many frames"),
          Param("short_term_mem_skip", "int", 1, min=1, max=100, doc="short-term memory looks back this many frames"),
          Param("long_term_mem_max", "int", 32, min=1, max=10000,
                doc="long-term memory keeps at most this many frames (bounds memory and time per frame)"),
          Param("fp16", "bool", False, doc=FP16_DOC),
          Param("state_every", "int", 10, min=0, max=100000,
                doc="save the tracker's state in the cache every this many frames, so an edit at frame K "
                    "re-tracks from the last state at or before K (0: never; an edit re-tracks from the first "
                    "keyframe). States share their long-term memory entries: at the default sizes about "
                    "1 GB per 100 frames of the shot at 10"),
      ],
      gpu=True, preflight=_preflight, fingerprint=_fingerprint, temporal=causal())
def track_deaot(ctx, frames, keymasks, model, checkpoint, max_long_edge, long_term_mem_gap,
                short_term_mem_skip, long_term_mem_max, fp16, state_every=10):
    h, w = frames.height, frames.width
    if keymasks and (keymasks.height, keymasks.width) != (h, w):
        raise BadInput(f"input 'keymasks' is {keymasks.width}x{keymasks.height} but the frames are {w}x{h}")
    outside = [f for f in keymasks if not 0 <= f < len(frames)]
    if outside:
        raise BadInput(f"input 'keymasks': frame {outside[0]} is outside the clip (0..{len(frames) - 1})")
    out = ctx.new_masks(h, w)
    n = len(frames)
    wanted = list(ctx.frames_wanted) if ctx.frames_wanted is not None else [(0, n)]
    total = sum(b - a for a, b in wanted)
    if not total:
        return {"masks": out.close()}
    keys = {f: m for f, m in keymasks.items() if m.any()}
    empty = np.zeros((h, w), np.uint8)
    if not keys:
        ctx.note("no object in any keyframe: every mask is empty")
        for _ in range(total):
            out.append(empty)
        return {"masks": out.close()}

    import torch

    path = ctx.config.find_checkpoint(_entry({"model": model}), checkpoint)
    net = load_deaot(ctx, model, path)
    tracker = Tracker(net, ctx.device, (h, w), working_size(h, w, max_long_edge, net.cfg.MODEL_ALIGN_CORNERS),
                      long_term_mem_gap, short_term_mem_skip, long_term_mem_max)
    first = min(keys)
    if first > 0 and wanted[0][0] < first:
        ctx.note(f"frames 0..{first - 1} come before the first keyframe and have empty masks")
    resume = _resume_point(ctx, wanted[0][0], first)
    wanted_at = {t for a, b in wanted for t in range(a, b)}
    last = wanted[-1][1]
    done = 0
    for t in range(min(first, last)):
        if t in wanted_at:
            out.append(empty)
            done += 1
    begin = first
    with torch.inference_mode(), half_precision(ctx.device, fp16):
        if resume is not None:
            begin, state_file = resume
            ctx.note(f"resumed from the tracker's state saved before frame {begin}")

            def load(f):
                return torch.load(f, map_location=ctx.device, weights_only=True)

            ctx.models.run(tracker.restore, load(state_file), lambda name: load(state_file.parent / name), keep=(net,))
        stepped_from = tracker.stepped
        for start, chunk in frames.chunks(start=begin, stop=last):
            for j in range(len(chunk)):
                t = start + j
                if not tracker.started:
                    label = ctx.models.run(tracker.start, chunk[j], t, keys[t], keep=(net,))
                else:
                    label = ctx.models.run(tracker.step, chunk[j], t, keys.get(t), keep=(net,))
                if t in wanted_at:
                    out.append(label)
                    ctx.frame_done(t, label)
                    done += 1
                    ctx.progress(done / total)
                else:
                    ctx.check_cancelled()
                if state_every and (t + 1) % state_every == 0 and t + 1 < n:
                    _save_state(ctx, t + 1, tracker)
    if last > begin:
        ctx.note(f"tracked {tracker.stepped - stepped_from} frames ({begin}..{last - 1})")
    return {"masks": out.close()}


def _state_name(t: int) -> str:
    return f"state{t:07d}.pt"


def _save_state(ctx, t: int, tracker: Tracker) -> None:
    """Save the state before frame t, and the long-term memory entries not saved yet."""
    import torch

    folder = ctx.state_dir
    target = folder / _state_name(t)
    if target.exists():
        return
    state, entries = tracker.snapshot(lambda name: (folder / name).exists())
    for name, entry in entries.items():
        torch.save(entry, folder / name)
    torch.save(state, target)


def _frame_of(name: str) -> int:
    """The frame in a state or memory entry file name (state0000100.pt, memory0000095-0.pt)."""
    return int(re.match(r"[a-z]+(\d+)", name).group(1))


def _resume_point(ctx, first_wanted: int, first_key: int) -> tuple[int, object] | None:
    """(frame, state file) to resume from: the newest state saved before a frame that has not
    changed since, at or before the first frame wanted and after the first keyframe. The
    states and memory entries that still hold are kept in this render's entry too (hard links)."""
    earlier = ctx.earlier_state()
    if earlier is None:
        return None
    folder, clean_before = earlier
    best = None
    for f in sorted(folder.glob("memory*.pt")) + sorted(folder.glob("state*.pt")):
        t = _frame_of(f.name)
        # A state before frame t, and an entry made by frame t, depend on the frames before t or up to t.
        if (t > clean_before) if f.name.startswith("state") else (t >= clean_before):
            continue
        target = ctx.state_dir / f.name
        if not target.exists():
            link_or_copy(f, target)
        if f.name.startswith("state") and first_key < t <= first_wanted:
            best = (t, f)
    return best
