"""InpaintE2FGVI: remove masked objects with the E2FGVI / E2FGVI-HQ video inpainting networks.

The network runs at a working size (432x240 for e2fgvi, which only works at
that size; the input size for e2fgvi_hq, optionally capped). Its prediction
is scaled back to the input's full resolution and pasted only inside the
mask, so every pixel outside the mask equals the input exactly. With the
default settings and a working size equal to the input size, the result is
what the published inference loop gives.

The model code lives in nodes/e2fgvi; torch is imported only when rendering.

Frames in time: in `bounded` mode the node is a window node (frame t reads
frames within `loop.bounded_reach` of t), so an edit re-renders only the
frames around it, byte for byte as a whole pass. `exact` mode takes every
`ref_step`-th frame of the whole clip as a reference for every window, so it
declares *whole*: any change re-renders every frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..engine import Input, Output, Param, node, window
from ..engine.frames import WHOLE
from .composite import FEATHER_DOC, paste
from .clips import each_frame
from .e2fgvi import MODELS, MODES
from .inpaint import check_frames_and_masks
from .model_support import FP16_DOC, checkpoint_hooks

E2FGVI_SIZE = (240, 432)  # (height, width) the e2fgvi model requires

# Above this many frames, exact mode with references from the whole clip gets
# slow and memory-hungry; the render says so.
LONG_CLIP = 300


def _entry(params: dict) -> str:
    return params.get("model", "e2fgvi")


_preflight, _fingerprint = checkpoint_hooks(_entry)


def _check_num_ref(value):
    if value == 0:
        return "use -1 for references from the whole clip, or 1 or more"
    return None


def _frames(params: dict):
    """bounded mode: a window of neighbor_stride + max(neighbor_stride, the references' reach) frames; exact mode: whole (every ref_step-th frame of the clip is a reference)"""
    if params.get("mode") != "bounded":
        return WHOLE
    from .e2fgvi.loop import Settings, bounded_reach

    settings = Settings(neighbor_stride=params["neighbor_stride"], ref_step=params["ref_step"],
                        num_ref=params["num_ref"])
    return window(bounded_reach(settings))


def working_size(model: str, height: int, width: int, max_long_edge: int) -> tuple[int, int]:
    """(height, width) the network runs at."""
    if model == "e2fgvi":
        return E2FGVI_SIZE
    long_edge = max(height, width)
    if max_long_edge <= 0 or long_edge <= max_long_edge:
        return height, width
    scale = max_long_edge / long_edge
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_working(frames: np.ndarray, masks: np.ndarray, size: tuple[int, int]):
    """Scale full-resolution frames and masks to the working size.

    A working pixel is a hole if any part of it is: shrinking must not let the
    object leak into what the network sees.
    """
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames, (masks > 0).astype(np.uint8)
    shrink = h * w < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    small = np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])
    holes = [cv2.resize((m > 0).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
             for m in masks]
    return small, np.stack([(m > 0).astype(np.uint8) for m in holes])


def load_generator(ctx, model: str, path, fp16: bool):
    """The generator for ``model`` with the weights at ``path``, loaded once per process."""
    from .e2fgvi import checkpoint

    hint = ctx.config.fetch_hint(model)
    return ctx.models.get(("InpaintE2FGVI", model), lambda: checkpoint.load(path, model, hint=hint), ctx.device,
                          fp16=fp16, checkpoint=path)


@node("InpaintE2FGVI", category="inpaint", version=1,
      doc="Fill the masked objects with E2FGVI, a flow-guided video inpainting network "
          "(e2fgvi at 432x240, e2fgvi_hq at any size); pixels outside the mask stay exactly as they are.",
      inputs=[Input("frames", "Frames"),
              Input("masks", "Masks", doc="label maps; every pixel > 0 is a hole (grow them first with DilateMask)")],
      outputs=[Output("frames", "Frames", doc="the input with the holes filled, at full resolution")],
      params=[
          Param("model", "choice", "e2fgvi", choices=MODELS,
                doc="e2fgvi works at 432x240; e2fgvi_hq works at the input size (see max_long_edge)"),
          Param("checkpoint", "path", "", io="read", kind="file",
                doc="checkpoint file; empty: E2FGVI-CVPR22.pth / E2FGVI-HQ-CVPR22.pth from the checkpoint folders"),
          Param("neighbor_stride", "int", 5, min=1, max=50,
                doc="windows start every this many frames and hold this many frames on each side"),
          Param("ref_step", "int", 10, min=1, max=1000, doc="reference frames are this many frames apart"),
          Param("num_ref", "int", -1, min=-1, max=100, check=_check_num_ref,
                doc="reference frames per window; -1: every ref_step-th frame of the whole clip "
                    "(the published setting; bounded mode then takes 6 near the window)"),
          Param("mode", "choice", "exact", choices=MODES,
                doc="exact: the published procedure (whole: any change re-renders every frame); bounded: "
                    "references near each window and frames streamed, so memory does not grow with clip "
                    "length (use it for long clips), and an edit re-renders only the frames within reach "
                    "of it: neighbor_stride + max(neighbor_stride, ref_step * max(1, (refs + 1) // 2)), "
                    "refs = num_ref or 6"),
          Param("max_long_edge", "int", 0, min=0, max=8192,
                doc="e2fgvi_hq only: scale the working size down to this long edge (0: the input size); "
                    "e2fgvi always works at 432x240"),
          Param("fp16", "bool", False, doc=FP16_DOC),
          Param("feather", "float", 0.0, min=0.0, max=256.0, doc=FEATHER_DOC),
      ],
      gpu=True, preflight=_preflight, fingerprint=_fingerprint, temporal=_frames)
def inpaint_e2fgvi(ctx, frames, masks, model, checkpoint, neighbor_stride, ref_step, num_ref, mode,
                   max_long_edge, fp16, feather=0.0):
    check_frames_and_masks(frames, masks)
    n = len(frames)
    out = ctx.new_frames(frames.height, frames.width, frames.fps, source=frames.source)
    if n == 0:
        return {"frames": out.close()}

    from .e2fgvi import loop

    path = ctx.config.find_checkpoint(_entry({"model": model}), checkpoint)
    device = str(ctx.device)
    if fp16 and not device.startswith("cuda"):
        ctx.note("fp16 is only used on CUDA; running in float32 on the CPU")
        fp16 = False
    if mode == "exact" and num_ref == -1 and n > LONG_CLIP:
        ctx.note(f"exact mode with num_ref=-1 puts every {ref_step}th frame of all {n} frames into every "
                 f"window: time and memory grow with the clip; mode=bounded is meant for long clips")
    size = working_size(model, frames.height, frames.width, max_long_edge)
    if size != (frames.height, frames.width):
        ctx.note(f"{model} works at {size[1]}x{size[0]}; the fill is scaled to "
                 f"{frames.width}x{frames.height} inside the mask only")
    net = load_generator(ctx, model, path, fp16)

    def read(start, stop):
        return to_working(frames.read(start, stop), masks.read(start, stop), size)

    wanted = ctx.frames_wanted if ctx.frames_wanted is not None and mode == "bounded" else None
    full_frames = each_frame(frames)
    full_masks = each_frame(masks)
    same_size = size == (frames.height, frames.width)

    def write(index, filled):
        if same_size and not feather:  # already the input outside the hole
            out.append(filled)
        elif wanted is not None:  # some frames only: read the full-size ones by index
            out.append(paste(frames[index], masks[index], filled, feather, cv2.INTER_LINEAR))
        else:
            out.append(paste(next(full_frames), next(full_masks), filled, feather, cv2.INTER_LINEAR))

    settings = loop.Settings(neighbor_stride=neighbor_stride, ref_step=ref_step, num_ref=num_ref)
    loop.inpaint(net, read, n, size, write, settings, mode=mode, device=device, fp16=fp16,
                 progress=ctx.progress, wanted=wanted)
    return {"frames": out.close()}
