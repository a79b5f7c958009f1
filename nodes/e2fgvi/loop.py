"""Inference loops: run a generator over a clip in overlapping windows.

All loops follow the published inference procedure: windows of local frames
centred every ``neighbor_stride`` frames, plus reference frames every
``ref_step`` frames; frames mirror-padded to multiples of 60x108; the
prediction cast to uint8 by truncation and composited inside the mask; a
frame predicted by several windows averaged as ``comp * 0.5 + new * 0.5`` in
window order, truncated to uint8 at the end.

- ``reference_loop``: that procedure as published, whole clip in memory, every
  window recomputing everything. The baseline for parity and speed.
- ``inpaint``: the same results computed once per frame (encoder features)
  and once per frame pair (flows) and reused across windows; frames are read
  on demand and results handed out as soon as they are final.
  ``mode="exact"`` picks references like the published loop (the whole clip
  for ``num_ref=-1``); ``mode="bounded"`` takes them from a window around the
  current frames, so memory does not grow with clip length.

In bounded mode a frame depends only on frames within ``bounded_reach`` of
it, and any span of frames can be rendered alone (``wanted``) with exactly
the bytes of a whole pass: only the windows holding wanted frames run, and
each frame is encoded (and each pair's flow computed) on its own, so no
result depends on which other frames shared its batch.

Frames are (H, W, 3) uint8 RGB; masks (H, W) with 1 (or anything > 0) for holes.
"""
import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import MODES
from .generator import SIZE_MULTIPLE

# References per window in bounded mode when num_ref is -1 (the whole clip).
BOUNDED_DEFAULT_REFS = 6


@dataclass(frozen=True)
class Settings:
    neighbor_stride: int = 5
    ref_step: int = 10
    num_ref: int = -1

    def __post_init__(self):
        if self.neighbor_stride < 1 or self.ref_step < 1:
            raise ValueError("neighbor_stride and ref_step must be at least 1")
        if self.num_ref == 0 or self.num_ref < -1:
            raise ValueError("num_ref must be -1 (whole clip) or at least 1")


# -- window schedule -------------------------------------------------------

def local_ids(f, n, stride):
    return list(range(max(0, f - stride), min(n, f + stride + 1)))


def published_ref_ids(f, neighbors, n, ref_step, num_ref):
    """Reference frames as the published loop picks them.

    num_ref=-1: every ref_step-th frame of the clip. Otherwise frames ref_step
    apart starting num_ref//2 steps before f (not aligned to multiples of
    ref_step), stopping after num_ref + 1 of them. Unlike the published code,
    indices past the end of the clip are skipped instead of failing.
    """
    if num_ref == -1:
        return [i for i in range(0, n, ref_step) if i not in neighbors]
    refs = []
    start = max(0, f - ref_step * (num_ref // 2))
    end = min(n, f + ref_step * (num_ref // 2))
    for i in range(start, end + 1, ref_step):
        if i not in neighbors and i < n:
            if len(refs) > num_ref:
                break
            refs.append(i)
    return refs


def bounded_ref_ids(f, neighbors, n, ref_step, num_ref):
    """Multiples of ref_step within num_ref//2 steps of f (about num_ref of them).

    Aligned to multiples so consecutive windows share references (and their
    cached features).
    """
    count = BOUNDED_DEFAULT_REFS if num_ref == -1 else num_ref
    reach = ref_step * max(1, (count + 1) // 2)
    lo = max(0, f - reach)
    hi = min(n - 1, f + reach)
    first = -(-lo // ref_step) * ref_step
    refs = [i for i in range(first, hi + 1, ref_step) if i not in neighbors]
    # Keep the nearest ones if the range holds more than asked for.
    refs.sort(key=lambda i: (abs(i - f), i))
    return sorted(refs[:count])


def bounded_reach(settings):
    """How far from frame t the frames bounded mode reads for it lie: t is local to the windows
    centred within neighbor_stride of it, and each reads its locals and references around it."""
    count = BOUNDED_DEFAULT_REFS if settings.num_ref == -1 else settings.num_ref
    refs = settings.ref_step * max(1, (count + 1) // 2)
    return settings.neighbor_stride + max(settings.neighbor_stride, refs)


def schedule(n, settings, mode="exact"):
    """[(f, local ids, reference ids)] for every window, in order."""
    pick = published_ref_ids if mode == "exact" else bounded_ref_ids
    out = []
    for f in range(0, n, settings.neighbor_stride):
        neighbors = local_ids(f, n, settings.neighbor_stride)
        out.append((f, neighbors, pick(f, neighbors, n, settings.ref_step, settings.num_ref)))
    return out


# -- tensors ---------------------------------------------------------------

def pad_size(h, w):
    mh, mw = SIZE_MULTIPLE
    return h + (mh - h % mh) % mh, w + (mw - w % mw) % mw


def mirror_pad(x, height, width):
    """Pad (..., h, w) to (height, width) by appending flipped copies (as published)."""
    import torch

    while x.shape[-2] < height:
        x = torch.cat([x, torch.flip(x, [-2])], -2)
    while x.shape[-1] < width:
        x = torch.cat([x, torch.flip(x, [-1])], -1)
    return x[..., :height, :width]


def masked_input(frames, masks):
    """uint8 frames (k, H, W, 3) and masks (k, H, W) -> (k, 3, H, W) in [-1, 1] with holes zeroed."""
    import torch

    img = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(255) * 2 - 1
    hole = torch.from_numpy((np.asarray(masks) > 0).astype(np.float32))[:, None]
    return img * (1 - hole)


def to_uint8_prediction(pred, h, w):
    """Network output (k, 3, Hp, Wp) in [-1, 1] -> (k, h, w, 3) uint8, truncated as published."""
    pred = (pred[:, :, :h, :w].float() + 1) / 2
    return (pred.cpu().permute(0, 2, 3, 1).numpy() * 255).astype(np.uint8)


# Decode just the hole's bounding box when it covers less than this share of the frame.
BOX_DECODE_BELOW = 0.6


def hole_box(hole):
    """((y0, y1), (x0, x1)) around the hole pixels, or None when there are none."""
    rows = np.flatnonzero(hole.any(1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(hole.any(0))
    return (int(rows[0]), int(rows[-1]) + 1), (int(cols[0]), int(cols[-1]) + 1)


def predict_holes(net, feat, holes):
    """uint8 predictions (k, h, w, 3) for completed features ``feat`` (k, c, Hp/4, Wp/4).

    Only pixels inside a frame's hole are used, so a frame without a hole is
    not decoded and a small hole only around its bounding box (same values as
    a full decode); the rest of the prediction stays zero.
    """
    k, (h, w) = len(holes), holes.shape[1:]
    out = np.zeros((k, h, w, 3), np.uint8)
    whole = []
    for i in range(k):
        box = hole_box(holes[i])
        if box is None:
            continue
        (y0, y1), (x0, x1) = box
        if (y1 - y0) * (x1 - x0) >= BOX_DECODE_BELOW * h * w:
            whole.append(i)
            continue
        pred = net.decode_box(feat[i:i + 1], box)
        out[i, y0:y1, x0:x1] = to_uint8_prediction(pred, y1 - y0, x1 - x0)[0]
    if whole:
        out[whole] = to_uint8_prediction(net.decode(feat[whole]), h, w)
    return out


def composite(pred, frame, hole):
    """Prediction inside the hole, the frame outside (uint8 arithmetic, as published)."""
    hole = hole[..., None]
    return pred * hole + frame * (1 - hole)


def blend(previous, new):
    """Running average of a frame predicted by several windows, in window order."""
    if previous is None:
        return new
    return previous.astype(np.float32) * 0.5 + new.astype(np.float32) * 0.5


def binary(masks):
    return (np.asarray(masks) > 0).astype(np.uint8)


@contextmanager
def cpu_threads(device, threads=None):
    """Run with ``threads`` intra-op threads on the CPU (default: the CPUs we may use)."""
    import torch

    if str(device).startswith("cuda"):
        yield
        return
    if threads is None:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _autocast(net, device, fp16):
    """Mixed precision on CUDA when asked for and the model is still float32."""
    import torch

    if fp16 and str(device).startswith("cuda") and next(net.parameters()).dtype == torch.float32:
        return torch.autocast("cuda", dtype=torch.float16)
    from contextlib import nullcontext

    return nullcontext()


# -- the published loop ----------------------------------------------------

def reference_loop(net, frames, masks, settings=Settings(), device="cpu", threads=None, fast=False):
    """The published inference loop: whole clip in memory, each window computed from scratch.

    frames (N, H, W, 3) uint8, masks (N, H, W). Returns (N, H, W, 3) uint8.
    ``fast=False`` also computes attention and deformable convs as published.
    """
    import torch

    n, h, w = frames.shape[:3]
    hp, wp = pad_size(h, w)
    holes = binary(masks)
    comp = [None] * n
    dtype = next(net.parameters()).dtype
    with cpu_threads(device, threads), torch.inference_mode():
        inputs = masked_input(frames, holes)
        for f, neighbors, refs in schedule(n, settings, "exact"):
            ids = neighbors + refs
            x = mirror_pad(inputs[ids].to(device, dtype), hp, wp)[None]
            pred, _ = net(x, len(neighbors), fast=fast)
            pred = to_uint8_prediction(pred, h, w)
            for i, idx in enumerate(neighbors):
                comp[idx] = blend(comp[idx], composite(pred[i], frames[idx], holes[idx]))
    return np.stack([c.astype(np.uint8) for c in comp])


# -- the reusing, streaming loop -------------------------------------------

@dataclass
class Stats:
    """What a run held at most at once (frames with cached tensors, pending outputs)."""
    peak_cached_frames: int = 0
    peak_pending_outputs: int = 0
    encoded_frames: int = 0
    flow_pairs: int = 0
    windows: int = 0


class _Clip:
    """Per-frame inputs and network results, read and computed on demand, dropped after last use."""

    def __init__(self, net, read, n, size, device, plan, stats, one_by_one=False):
        self.net, self.read, self.n = net, read, n
        self.one_by_one = one_by_one  # no result may depend on the batch it was computed in
        self.h, self.w = size
        self.hp, self.wp = pad_size(*size)
        self.device = device
        self.dtype = next(net.parameters()).dtype  # float16 when the model was cast for CUDA
        self.stats = stats
        self.frames = {}  # idx -> (frame uint8 (H, W, 3), hole uint8 (H, W))
        self.feats = {}  # idx -> encoder features (c, h/4, w/4)
        self.small = {}  # idx -> quarter-size frame for flows
        self.flows = {}  # idx -> (flow idx->idx+1, flow idx+1->idx)
        # Last window each frame / pair is used in, so it can be dropped after.
        # Pixels and flow inputs are only needed while a frame is local;
        # encoder features also while it serves as a reference.
        self.last_use = {}
        self.last_local_use = {}
        self.last_pair_use = {}
        for wi, (_, neighbors, refs) in enumerate(plan):
            for i in neighbors + refs:
                self.last_use[i] = wi
            for i in neighbors:
                self.last_local_use[i] = wi
            for i in neighbors[:-1]:
                self.last_pair_use[i] = wi

    def _load(self, ids):
        """Read frames ``ids`` (sorted) that are not in memory yet; reads contiguous runs at once."""
        missing = [i for i in ids if i not in self.frames]
        runs = []
        for i in missing:
            if runs and runs[-1][1] == i:
                runs[-1][1] = i + 1
            else:
                runs.append([i, i + 1])
        for start, stop in runs:
            frames, masks = self.read(start, stop)
            for k, i in enumerate(range(start, stop)):
                self.frames[i] = (np.ascontiguousarray(frames[k]), binary(masks[k]))

    def ensure(self, ids, local):
        import torch

        self._load(sorted(set(ids)))
        new = [i for i in ids if i not in self.feats]
        for batch in ([[i] for i in new] if self.one_by_one else [new] if new else []):
            x = masked_input(np.stack([self.frames[i][0] for i in batch]), np.stack([self.frames[i][1] for i in batch]))
            x = mirror_pad(x.to(self.device, self.dtype), self.hp, self.wp)
            feats = self.net.encode(x)
            # Copies, so one long-lived reference does not keep its whole batch alive.
            for k, i in enumerate(batch):
                self.feats[i] = feats[k].clone()
            self.stats.encoded_frames += len(batch)
            need_small = [k for k, i in enumerate(batch) if i in local]
            if need_small:
                small = self.net.flow_frames(x[need_small])
                for k, s in zip(need_small, small):
                    self.small[batch[k]] = s.clone()
        for i in local:
            if i not in self.small:  # encoded earlier as a reference only
                x = masked_input(self.frames[i][0][None], self.frames[i][1][None])
                x = mirror_pad(x.to(self.device, self.dtype), self.hp, self.wp)
                self.small[i] = self.net.flow_frames(x)[0]
        pairs = [i for i in local[:-1] if i not in self.flows]
        for batch in ([[i] for i in pairs] if self.one_by_one else [pairs] if pairs else []):
            a = torch.stack([self.small[i] for i in batch])
            z = torch.stack([self.small[i + 1] for i in batch])
            fwd = self.net.flow(a, z)
            bwd = self.net.flow(z, a)
            for k, i in enumerate(batch):
                self.flows[i] = (fwd[k].clone(), bwd[k].clone())
            self.stats.flow_pairs += len(batch)
        held = len(set(self.frames) | set(self.feats) | set(self.small))
        self.stats.peak_cached_frames = max(self.stats.peak_cached_frames, held)

    def release(self, window_index):
        for store, last in ((self.frames, self.last_local_use), (self.small, self.last_local_use),
                            (self.feats, self.last_use)):
            for i in [i for i in store if last.get(i, -1) <= window_index]:
                del store[i]
        for i in [i for i in self.flows if self.last_pair_use.get(i, -1) <= window_index]:
            del self.flows[i]


def inpaint(net, read, n, size, write, settings=Settings(), mode="exact", device="cpu",
            fp16=False, threads=None, progress=None, wanted=None):
    """Inpaint a clip of ``n`` frames of ``size`` (h, w), reusing work across windows.

    read(start, stop) -> (frames (k, h, w, 3) uint8, masks (k, h, w)).
    write(index, frame) is called once per frame, in order, as soon as the
    frame is final. progress(fraction), if given, is called after each window.
    wanted (bounded mode only): sorted (start, stop) ranges; only those frames
    are computed and written. Returns Stats.
    """
    import torch

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if wanted is not None and mode != "bounded":
        raise ValueError("a span of frames can be rendered alone in bounded mode only")
    h, w = size
    net.check_size(*pad_size(h, w))
    plan = schedule(n, settings, mode)
    keep = None
    if wanted is not None:
        keep = {i for a, b in wanted for i in range(a, min(b, n))}
        plan = [window for window in plan if keep.intersection(window[1])]
    stats = Stats()
    clip = _Clip(net, read, n, size, device, plan, stats, one_by_one=mode == "bounded")
    pending = {}  # idx -> composite being averaged
    written = 0
    with cpu_threads(device, threads), torch.inference_mode(), _autocast(net, device, fp16):
        for wi, (f, neighbors, refs) in enumerate(plan):
            clip.ensure(neighbors + refs, neighbors)
            local = torch.stack([clip.feats[i] for i in neighbors])[None]
            ref = torch.stack([clip.feats[i] for i in refs])[None] if refs else local[:, :0]
            if len(neighbors) > 1:
                fwd = torch.stack([clip.flows[i][0] for i in neighbors[:-1]])[None]
                bwd = torch.stack([clip.flows[i][1] for i in neighbors[:-1]])[None]
            else:
                fwd = bwd = local.new_zeros(1, 0, 2, *clip.small[neighbors[0]].shape[-2:])
            feat = net.complete(local, ref, fwd, bwd)
            pred = predict_holes(net, feat, np.stack([clip.frames[i][1] for i in neighbors]))
            for k, idx in enumerate(neighbors):
                frame, hole = clip.frames[idx]
                pending[idx] = blend(pending.get(idx), composite(pred[k], frame, hole))
            stats.windows += 1
            stats.peak_pending_outputs = max(stats.peak_pending_outputs, len(pending))
            # Frames before the next window's first local frame are final.
            final_below = plan[wi + 1][1][0] if wi + 1 < len(plan) else n
            if keep is None:
                while written < final_below:
                    write(written, pending.pop(written).astype(np.uint8))
                    written += 1
            else:  # windows left out hold no wanted frame: what they would add is dropped too
                for idx in sorted(i for i in pending if i < final_below):
                    frame = pending.pop(idx)
                    if idx in keep:
                        write(idx, frame.astype(np.uint8))
            clip.release(wi)
            if progress is not None:
                progress((wi + 1) / len(plan))
    return stats
