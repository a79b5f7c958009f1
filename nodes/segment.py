"""SegmentSAM: masks from boxes and clicks with Segment Anything.

Each prompted frame is embedded once (the ViT encoder at 1024 px is nearly
all the cost) and every object prompted on it is decoded from that
embedding. Embeddings are kept in the content cache, shared with the
editor's instant mask (`sam_embedding`): a frame clicked in the viewer is
not encoded again by a run, and the other way round. Prompts on several
frames give several keyframes; object ids pass through unchanged. Where two objects claim a pixel it goes to the object
whose mask logit is higher there (ties to the lower id), so the result does
not depend on prompt order.
"""
from __future__ import annotations

import numpy as np

from ..engine import BadInput, Input, KeyMasks, Output, Param, node, per_frame
from .model_support import FP16_DOC, checkpoint_hooks, half_precision, load_network, uses_half
from .sam_embedding import Decoder, cached_embedding

SAM_MODELS = ("vit_b", "vit_l", "vit_h")


def _entry(params: dict) -> str:
    return "sam_" + params.get("model", "vit_b")


_preflight, _fingerprint = checkpoint_hooks(_entry)


def load_sam(ctx, model: str, path):
    """The SAM model for `model` from `path`, through the run's model manager."""
    return sam_model(ctx.models, ctx.device, model, path, ctx.config.fetch_hint(_entry({"model": model})))


def sam_model(models, device: str, model: str, path, fetch_hint: str | None = None):
    """The SAM model for `model` from `path`, loaded once by the model manager `models`."""

    def build():
        from segment_anything import sam_model_registry

        return sam_model_registry[model]()

    return load_network(models, device, ("SegmentSAM", model), build, path, f"SAM {model}", fetch_hint)


def prompts_by_frame(boxes, points, n_frames: int) -> dict:
    """{frame: {object id: {"boxes": [...], "points": [...]}}}, checked against the clip."""
    out: dict = {}
    for kind, records in (("boxes", boxes or {}), ("points", points or {})):
        for f, recs in records.items():
            f = int(f)
            if not 0 <= f < n_frames:
                raise BadInput(f"input '{kind}': frame {f} is outside the clip (0..{n_frames - 1})")
            for r in recs:
                oid = int(r[6] if kind == "boxes" else r[3])
                if not 1 <= oid <= 255:
                    raise BadInput(f"input '{kind}': frame {f}: object id {oid} is outside 1..255")
                slot = out.setdefault(f, {}).setdefault(oid, {"boxes": [], "points": []})
                slot[kind].append(r)
    return out


def _clip_box(r, width: int, height: int, frame: int, oid: int) -> np.ndarray:
    x0, y0 = max(0.0, float(r[0])), max(0.0, float(r[1]))
    x1, y1 = min(float(width), float(r[2])), min(float(height), float(r[3]))
    if x1 <= x0 or y1 <= y0:
        raise BadInput(f"input 'boxes': frame {frame}, object {oid}: box {list(r[:4])} lies outside the "
                       f"{width}x{height} frame")
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def _object_logits(decoder, prompt: dict, multimask: str, width: int, height: int, frame: int, oid: int):
    """Best mask logits (H, W) for one object from its boxes and points."""
    pts = prompt["points"]
    coords = labels = None
    if pts:
        coords = np.array([[float(p[0]), float(p[1])] for p in pts], dtype=np.float32)
        coords[:, 0] = np.clip(coords[:, 0], 0, width - 1)
        coords[:, 1] = np.clip(coords[:, 1], 0, height - 1)
        labels = np.array([1 if p[2] else 0 for p in pts], dtype=np.int64)
    boxes = [_clip_box(b, width, height, frame, oid) for b in prompt["boxes"]] or [None]
    many = multimask == "always" or (multimask == "auto" and prompt["boxes"] == [] and len(pts) == 1)
    best = None
    for box in boxes:
        logits = decoder.object_logits(coords, labels, box, many)
        best = logits if best is None else np.maximum(best, logits)
    return best


def frame_labels(decoder, frame_prompts: dict, multimask: str, width: int, height: int, frame: int,
                 threshold: float, note=None) -> np.ndarray:
    """The label map of one frame from its `sam_embedding.Decoder` and {object id: {"boxes", "points"}}."""
    label = np.zeros((height, width), np.uint8)
    best = np.full((height, width), -np.inf, np.float32)
    for oid in sorted(frame_prompts):
        logits = _object_logits(decoder, frame_prompts[oid], multimask, width, height, frame, oid)
        if not paint(label, best, oid, logits, threshold) and note is not None:
            note(f"frame {frame}: object {oid} came out empty")
    return label


def paint(label: np.ndarray, best: np.ndarray, oid: int, logits: np.ndarray, threshold: float) -> bool:
    """Give `oid` the pixels where its logit passes `threshold` and beats every object so far.

    Painting objects in ascending id order makes ties go to the lower id, so
    the label map does not depend on the order prompts arrived in.
    Returns whether the object got any pixel.
    """
    take = (logits > threshold) & (logits > best)
    label[take] = oid
    best[take] = logits[take]
    return bool(take.any())


@node("SegmentSAM", category="segment", version=1,
      doc="Masks of the prompted objects on their keyframes (Segment Anything).",
      inputs=[Input("frames", "Frames"),
              Input("boxes", "Boxes", optional=True, doc="from DetectText or BoxPrompt"),
              Input("points", "Points", optional=True, doc="from PointPrompt")],
      outputs=[Output("keymasks", "KeyMasks", doc="a label map per prompted frame, object ids kept")],
      params=[
          Param("model", "choice", "vit_b", choices=SAM_MODELS, doc="SAM size: vit_b is fastest, vit_h best"),
          Param("checkpoint", "path", "", io="read", kind="file",
                doc="checkpoint file; empty: the model's official file from the checkpoint folders"),
          Param("multimask", "choice", "auto", choices=("auto", "always", "never"),
                doc="decode 3 candidate masks and keep the best; auto: only for a single click"),
          Param("fp16", "bool", False, doc=FP16_DOC),
      ],
      gpu=True, preflight=_preflight, fingerprint=_fingerprint, temporal=per_frame())
def segment_sam(ctx, frames, boxes, points, model, checkpoint, multimask, fp16=False):
    if boxes is None and points is None:
        raise BadInput("connect 'boxes' (DetectText, BoxPrompt) or 'points' (PointPrompt): SAM needs a prompt")
    prompts = prompts_by_frame(boxes, points, len(frames))
    out = KeyMasks(height=frames.height, width=frames.width)
    if not prompts:
        ctx.note("no boxes or points arrived: no keyframes (nothing to track or remove)")
        return {"keymasks": out}

    import torch

    path = ctx.config.find_checkpoint(_entry({"model": model}), checkpoint)
    sam = load_sam(ctx, model, path)
    half = uses_half(ctx.device, fp16)
    # The editor's instant mask keeps frames' embeddings in the same cache under the same keys.
    cache = None if ctx.config.no_cache else ctx.config.cache
    h, w = frames.height, frames.width
    wanted = ctx.frames_wanted if ctx.frames_wanted is not None else ((0, len(frames)),)
    todo = [f for f in sorted(prompts) if any(a <= f < b for a, b in wanted)]  # a prompt at N changes N only
    for n, f in enumerate(todo):
        ctx.progress(n / len(todo), f"frame {f}: image embedding")
        image = np.ascontiguousarray(frames[f])

        def segment_frame():
            with torch.inference_mode(), half_precision(ctx.device, fp16):
                emb, _ = cached_embedding(cache, sam, image, model, path, half)
                return frame_labels(Decoder(sam, emb), prompts[f], multimask, w, h, f, sam.mask_threshold, ctx.note)

        out[f] = ctx.models.run(segment_frame, keep=(sam,))
    ctx.progress(1.0)
    return {"keymasks": out}
