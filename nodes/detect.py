"""DetectText: boxes around what a text prompt names (GroundingDINO).

Runs the official `groundingdino` package on the frames listed in `detect_on`
("0", "0,10,20", "every:10" or "all"; not called `frames`, which is the
input's name and inputs and params share one namespace). Its text encoder (bert-base-uncased)
is read from the `bert-base-uncased/` folder next to the checkpoints, never
from the network.

Object ids: detections on the first detected frame are numbered 1..n from
left to right. On each later detected frame a box keeps the id of the object
whose last box it overlaps most (same phrase, IoU >= `match_iou`); a box that
matches none is a new object with the next free id. So ids are stable across
keyframes and TrackDeAOT adds new objects from the frame they first appear.

If `groundingdino` is not installed, a Hugging Face Grounding DINO folder
(config.json, weights and processor files) given as `checkpoint` runs on
transformers' port instead.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import numpy as np

from ..engine import BadInput, Boxes, Input, Output, Param, node
from .model_support import FP16_DOC, checkpoint_hooks, half_precision, load_model

DINO_MODELS = {"swint_ogc": ("groundingdino_swint_ogc", "GroundingDINO_SwinT_OGC.py"),
               "swinb": ("groundingdino_swinb", "GroundingDINO_SwinB_cfg.py")}
TEXT_ENCODER = "bert-base-uncased"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def parse_frames(spec: str, count: int | None = None) -> list[int]:
    """Frame indices from "0", "0,10,20", "every:10", "every:10+5" or "all"."""
    text = str(spec).strip().lower().replace(" ", "")
    m = re.fullmatch(r"every:(\d+)(?:\+(\d+))?", text)
    if text == "all" or m:
        if count is None:
            return []
        step, start = (1, 0) if text == "all" else (int(m.group(1)), int(m.group(2) or 0))
        if step < 1:
            raise ValueError("every:N needs N >= 1")
        return list(range(start, count, step))
    if not re.fullmatch(r"\d+(,\d+)*", text):
        raise ValueError(f"{spec!r}: expected frame numbers like \"0\" or \"0,10,20\", \"every:10\" or \"all\"")
    return sorted({int(x) for x in text.split(",")})


def _check_frames(spec) -> str | None:
    try:
        parse_frames(spec)
    except ValueError as exc:
        return str(exc)
    return None


def _entry(params: dict) -> str:
    return DINO_MODELS[params.get("model", "swint_ogc")][0]


def _hf_folder(path) -> bool:
    return bool(path) and Path(path).is_dir() and (Path(path) / "config.json").is_file()


def _text_encoder(params: dict) -> list[str]:
    return [] if _hf_folder(params.get("checkpoint")) else [TEXT_ENCODER]


_preflight_files, _fingerprint = checkpoint_hooks(_entry, extra=_text_encoder)


def _preflight(params: dict, config) -> list[str]:
    if _hf_folder(params.get("checkpoint")):
        return []
    return _preflight_files(params, config)


def caption_of(prompt: str) -> str:
    """GroundingDINO's caption form: lower case, ending with a period."""
    text = prompt.strip().lower()
    return text if text.endswith(".") else text + "."


def resized_size(h: int, w: int, short: int, longest: int) -> tuple[int, int]:
    """(h, w) with the short side `short`, the long side at most `longest` (GroundingDINO's resize)."""
    lo, hi = min(h, w), max(h, w)
    if hi / lo * short > longest:
        short = int(round(longest * lo / hi))
    if w < h:
        return int(short * h / w), short
    return short, int(short * w / h)


def _image_tensor(frame: np.ndarray, short: int, longest: int, device: str):
    import torch
    from PIL import Image

    h, w = frame.shape[:2]
    nh, nw = resized_size(h, w, short, longest)
    img = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.BILINEAR), np.float32) / 255.0
    img = (img - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(device)


def build_groundingdino(model: str, bert_folder):
    """The official GroundingDINO network with random weights, its text encoder read from `bert_folder`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import groundingdino
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    cfg_file = Path(groundingdino.__file__).parent / "config" / DINO_MODELS[model][1]
    args = SLConfig.fromfile(str(cfg_file))
    args.device = "cpu"
    args.text_encoder_type = str(bert_folder)
    args.use_checkpoint = False  # activation checkpointing only matters for training
    args.use_transformer_ckpt = False
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints its settings
        return build_model(args)


def load_groundingdino(ctx, model: str, path, bert_folder):
    """The official GroundingDINO model from `path`, through the process-wide model manager."""

    return load_model(ctx, ("DetectText", model, str(bert_folder)), lambda: build_groundingdino(model, bert_folder),
                      path, DINO_MODELS[model][0], f"GroundingDINO {model}", strict=False, min_overlap=0.9)


def detect_official(net, frame: np.ndarray, caption: str, box_threshold: float, text_threshold: float,
                    short: int, longest: int, device: str):
    """[(x0, y0, x1, y1, score, phrase)] in frame pixels."""
    import torch
    from groundingdino.util.utils import get_phrases_from_posmap

    h, w = frame.shape[:2]
    image = _image_tensor(frame, short, longest, device)
    with torch.inference_mode():
        out = net(image[None], captions=[caption])
    logits = out["pred_logits"].float().sigmoid()[0].cpu()
    boxes = out["pred_boxes"].float()[0].cpu()
    keep = logits.max(dim=1)[0] > box_threshold
    logits, boxes = logits[keep], boxes[keep]
    tokenized = net.tokenizer(caption)
    ids = torch.tensor(tokenized["input_ids"])
    # [CLS], [SEP] and the separating periods name nothing: keep them out of phrases.
    words = ~torch.isin(ids, torch.tensor(net.tokenizer.all_special_ids + net.tokenizer.convert_tokens_to_ids(["."])))
    found = []
    for logit, (cx, cy, bw, bh) in zip(logits, boxes.tolist()):
        posmap = (logit[: len(ids)] > text_threshold) & words
        phrase = get_phrases_from_posmap(posmap, tokenized, net.tokenizer).replace(".", "").strip()
        x0, y0 = max(0.0, (cx - bw / 2) * w), max(0.0, (cy - bh / 2) * h)
        x1, y1 = min(float(w), (cx + bw / 2) * w), min(float(h), (cy + bh / 2) * h)
        if x1 > x0 and y1 > y0:
            found.append((x0, y0, x1, y1, float(logit.max()), phrase))
    return found


def load_hf(ctx, folder):
    """transformers' Grounding DINO port from a local folder (used without `groundingdino`)."""

    def build():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        processor = AutoProcessor.from_pretrained(str(folder), local_files_only=True)
        net = AutoModelForZeroShotObjectDetection.from_pretrained(str(folder), local_files_only=True)
        net.processor = processor
        return net

    return ctx.models.get(("DetectText", "hf"), build, ctx.device, checkpoint=Path(folder) / "config.json")


def detect_hf(net, frame: np.ndarray, caption: str, box_threshold: float, text_threshold: float, device: str):
    import inspect

    import torch

    h, w = frame.shape[:2]
    inputs = net.processor(images=frame, text=caption, return_tensors="pt").to(device)
    with torch.inference_mode():
        out = net(**inputs)
    post = net.processor.post_process_grounded_object_detection
    names = inspect.signature(post).parameters
    kwargs = {"text_threshold": text_threshold, "target_sizes": [(h, w)]}
    kwargs["threshold" if "threshold" in names else "box_threshold"] = box_threshold
    res = post(out, inputs["input_ids"], **kwargs)[0]
    labels = res["text_labels"] if "text_labels" in res else res["labels"]
    special = set(net.processor.tokenizer.all_special_tokens)
    found = []
    for (x0, y0, x1, y1), score, label in zip(res["boxes"].tolist(), res["scores"].tolist(), labels):
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
        if x1 > x0 and y1 > y0:
            words = [t for t in str(label).replace(".", " ").split() if t not in special]
            found.append((x0, y0, x1, y1, float(score), " ".join(words)))
    return found


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def suppress(found: list, iou: float) -> list:
    """Greedy non-maximum suppression within one phrase; highest score first."""
    if iou >= 1.0:
        return list(found)
    kept: list = []
    for d in sorted(found, key=lambda d: -d[4]):
        if all(k[5] != d[5] or box_iou(k, d) <= iou for k in kept):
            kept.append(d)
    return kept


class IdAssigner:
    """Stable object ids across detected frames: phrase + overlap with each object's last box."""

    def __init__(self, match_iou: float):
        self.match_iou = match_iou
        self.last: dict[int, tuple] = {}  # id -> last box (x0, y0, x1, y1, score, phrase)
        self.next_id = 1
        self.dropped = 0

    def assign(self, found: list) -> list[tuple[tuple, int]]:
        pairs = []
        for i, d in enumerate(found):
            for oid, prev in self.last.items():
                if prev[5] == d[5]:
                    iou = box_iou(prev, d)
                    if iou >= self.match_iou:
                        pairs.append((iou, i, oid))
        taken_d, taken_id, ids = set(), set(), {}
        for iou, i, oid in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
            if i not in taken_d and oid not in taken_id:
                taken_d.add(i)
                taken_id.add(oid)
                ids[i] = oid
        # New objects are numbered left to right (then top to bottom): stable and easy to read.
        for i in sorted((i for i in range(len(found)) if i not in ids), key=lambda i: (found[i][0], found[i][1])):
            if self.next_id > 255:
                self.dropped += 1
                continue
            ids[i] = self.next_id
            self.next_id += 1
        out = []
        for i in sorted(ids, key=lambda i: ids[i]):
            self.last[ids[i]] = found[i]
            out.append((found[i], ids[i]))
        return out


@node("DetectText", category="detect", version=1,
      doc="Boxes around what a text prompt names, on chosen frames (GroundingDINO).",
      inputs=[Input("frames", "Frames")],
      outputs=[Output("boxes", "Boxes", doc="[x0, y0, x1, y1, score, phrase, object id] per detection")],
      params=[
          Param("prompt", "str", "person .", doc='what to find, e.g. "person . dog ."',
                check=lambda v: None if v.strip(" .") else "give something to look for"),
          Param("box_threshold", "float", 0.35, min=0.0, max=1.0, doc="keep boxes scoring above this"),
          Param("text_threshold", "float", 0.25, min=0.0, max=1.0, doc="words of the prompt a box is labelled with"),
          Param("detect_on", "str", "0", check=_check_frames,
                doc='frames to detect on: "0", "0,10,20", "every:10" or "all"'),
          Param("model", "choice", "swint_ogc", choices=tuple(DINO_MODELS), doc="swint_ogc is faster, swinb better"),
          Param("checkpoint", "path", "", io="read", kind="any",
                doc="checkpoint file (or a Hugging Face Grounding DINO folder); empty: the official file"),
          Param("image_size", "int", 800, min=256, max=2048,
                doc="short side the detector sees (long side <= 1333); below 256 it has fewer features than queries"),
          Param("nms_iou", "float", 0.7, min=0.0, max=1.0, doc="drop a box overlapping a better one of the same phrase this much; 1 keeps all"),
          Param("match_iou", "float", 0.3, min=0.0, max=1.0, doc="overlap that keeps an object's id from one detected frame to the next"),
          Param("max_objects", "int", 20, min=1, max=255, doc="keep at most this many boxes per frame, best first"),
          Param("fp16", "bool", False, doc=FP16_DOC),
      ],
      gpu=True, preflight=_preflight, fingerprint=_fingerprint)
def detect_text(ctx, frames, prompt, box_threshold, text_threshold, detect_on, model, checkpoint,
                image_size, nms_iou, match_iou, max_objects, fp16=False):
    try:
        todo = parse_frames(detect_on, len(frames))
    except ValueError as exc:
        raise BadInput(f"param 'detect_on': {exc}") from None
    outside = [f for f in todo if f >= len(frames)]
    if outside:
        raise BadInput(f"param 'detect_on': frame {outside[0]} is outside the clip (0..{len(frames) - 1})")
    caption = caption_of(prompt)

    use_hf = _hf_folder(checkpoint)
    if not use_hf:
        try:
            import groundingdino  # noqa: F401
        except ImportError:
            raise BadInput("the groundingdino package is not installed: pip install 'inpainterz[models]' "
                           "(see README), or set param 'checkpoint' to a local Hugging Face Grounding DINO "
                           "folder to run transformers' port instead") from None
    if use_hf:
        net = load_hf(ctx, checkpoint)

        def detect(frame):
            return detect_hf(net, frame, caption, box_threshold, text_threshold, ctx.device)
    else:
        path = ctx.config.find_checkpoint(_entry({"model": model}), checkpoint)
        bert = ctx.config.find_checkpoint(TEXT_ENCODER, None)
        net = load_groundingdino(ctx, model, path, bert)

        def detect(frame):
            return detect_official(net, frame, caption, box_threshold, text_threshold,
                                   image_size, 1333, ctx.device)

    ids = IdAssigner(match_iou)
    out = Boxes()
    total = 0
    for n, f in enumerate(todo):
        ctx.progress(n / max(1, len(todo)), f"frame {f}")
        frame = np.ascontiguousarray(frames[f])
        with half_precision(ctx.device, fp16):
            found = ctx.models.run(detect, frame, keep=(net,))
        found = suppress(found, nms_iou)
        found = sorted(found, key=lambda d: -d[4])[:max_objects]
        records = [[round(d[0], 2), round(d[1], 2), round(d[2], 2), round(d[3], 2), round(d[4], 4), d[5], oid]
                   for d, oid in ids.assign(found)]
        if records:
            out[f] = records
            total += len(records)
    if ids.dropped:
        ctx.note(f"{ids.dropped} boxes were dropped: object ids only go up to 255")
    ctx.note(f"{total} boxes on {len(out)} of {len(todo)} frames for {caption!r}")
    ctx.progress(1.0)
    return {"boxes": out}
