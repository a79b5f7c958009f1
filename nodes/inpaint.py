"""Weight-free inpainting nodes: per-frame OpenCV inpainting and a temporal
fill guided by optical flow (see nodes/flowfill).

Both give frames at the input's full resolution that equal the input exactly
outside the mask (mask > 0 is the hole).
"""

import cv2
import numpy as np

from inpainterz.engine import Input, Output, Param, Temporal, node, per_frame
from inpainterz.engine.data import digest

from .composite import FEATHER_DOC, paste
from .clips import check_same_clip, frames_total, paired_chunks
from .flowfill import DETAIL_REACH, FLOW_PRESETS, SPATIAL_METHODS, fill_range, frames_reach, working_size
from .flowfill.pairs import PairStore

OPENCV_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}

# What the flow fill keeps per working pixel of each frame in its reach:
# RGB, grey, hole, guard and clean maps and two moving maps (1 byte each but
# RGB), two float32 flows.
WINDOW_BYTES_PER_PIXEL = 3 + 1 + 1 + 1 + 1 + 2 + 16


def check_frames_and_masks(frames, masks):
    """Raise BadInput, naming both inputs, unless the masks fit the frames
    (same count and size). Shared by every inpaint node."""
    check_same_clip(masks, "masks", frames, "frames")


@node("InpaintOpenCV", category="inpaint", version=1,
      doc="Fill the masked pixels of each frame from their surroundings (OpenCV inpainting, frame by frame).",
      inputs=[Input("frames", "Frames"), Input("masks", "Masks", doc="label maps; every object id is a hole")],
      outputs=[Output("frames", "Frames")],
      params=[Param("method", "choice", "telea", choices=tuple(OPENCV_METHODS),
                    doc="telea (fast marching) or ns (Navier-Stokes)"),
              Param("radius", "int", 5, min=1, max=100, doc="neighbourhood each filled pixel draws from, in pixels"),
              Param("feather", "float", 0.0, min=0.0, max=256.0, doc=FEATHER_DOC)],
      temporal=per_frame())
def inpaint_opencv(ctx, frames, masks, method, radius, feather=0.0):
    check_frames_and_masks(frames, masks)
    out = ctx.new_frames(frames.height, frames.width, frames.fps, source=frames.source)
    flag = OPENCV_METHODS[method]
    total, done = frames_total(ctx, frames), 0
    for _, frame_chunk, mask_chunk in paired_chunks(frames, masks, ranges=ctx.frames_wanted):
        for frame, mask in zip(frame_chunk, mask_chunk):
            hole = (mask > 0).astype(np.uint8)
            if hole.any():
                frame = paste(frame, mask, cv2.inpaint(frame, hole, radius, flag), feather)
            out.append(frame)
            done += 1
            ctx.progress(done / total)
    return {"frames": out.close()}


def _kept_pairs(ctx, frames, masks, size, preset):
    """Where the fill keeps its flows: this render's cache entry, taking over
    those of the entry it builds on that still hold (flowfill.pairs). A pair
    is named by its two frames' and masks' data-versions and the settings its
    flow depends on; the node's version is in the lineage an earlier entry
    comes from, so a changed algorithm never meets older pairs."""
    if ctx.config.no_cache:
        return None  # nothing outlives this run
    frame_versions, mask_versions = frames.frame_versions, masks.frame_versions
    settings = digest("InpaintFlow pairs", size, preset)

    def key_of(index):
        parts = (frame_versions[index], frame_versions[index + 1], mask_versions[index], mask_versions[index + 1])
        return None if None in parts else digest(settings, *parts)[:40]

    earlier = ctx.earlier_state()
    return PairStore(ctx.state_dir / "pairs", key_of, len(frames), earlier[0] / "pairs" if earlier else None)


def _flow_reach(params: dict) -> int:
    """Filled frame t reads input frames within frames_reach(window) of t, so it is a window node."""
    return frames_reach(params["window"])


# The share of the hole that no frame shows, from which InpaintFlow says so
# in its report.
INVENTED_NOTE = 0.25


@node("InpaintFlow", category="inpaint", version=7,
      doc="Fill the masked pixels with the background other frames show, carried along optical flow; "
          "only frames that show still background there are used, so people passing by are not copied "
          "in; what no frame shows is inpainted at anchor frames and carried along, so it does not "
          "flicker. No weights.",
      inputs=[Input("frames", "Frames"), Input("masks", "Masks", doc="label maps; every object id is a hole"),
              Input("holdout", "Masks", optional=True,
                    doc="people or things that stay in the shot (any id): never copied into the hole; "
                        "connect one (a tracked matte of the people) when someone stands still where "
                        "the background should show, and gets copied into the hole")],
      outputs=[Output("frames", "Frames")],
      params=[Param("window", "int", 30, min=1, max=500,
                    doc="frames looked at on each side of the one being filled for background (a frame "
                        "depends on up to window + 9 frames each side); more finds more background for "
                        "slow objects, at more memory and time (about 0.5 GB at 640x360 and 30)"),
              Param("max_long_edge", "int", 640, min=0,
                    check=lambda v: None if v == 0 or v >= 32 else "use 0 (full size) or at least 32",
                    doc="flow and fill are computed with the long edge scaled down to this (0: full size); "
                        "pixels outside the mask keep the full resolution"),
              Param("flow", "choice", "medium", choices=tuple(FLOW_PRESETS),
                    doc="optical flow preset (DIS): ultrafast, fast, medium, or fine (about twice "
                        "medium's time, a little more accurate)"),
              Param("spatial", "choice", "smooth", choices=SPATIAL_METHODS,
                    doc="how what no frame shows is invented: smooth (a smooth membrane from the hole's "
                        "border, no streaks) or telea (OpenCV's TELEA, sharper at the border)"),
              Param("spatial_radius", "int", 5, min=1, max=100,
                    doc="radius of the TELEA inpainting when spatial is telea"),
              Param("detail", "bool", True,
                    doc="when the frames are larger than max_long_edge, bring back their full-resolution "
                        "detail inside the hole from the frames it was filled from (about a tenth more time)"),
              Param("feather", "float", 0.0, min=0.0, max=256.0, doc=FEATHER_DOC),
              Param("keep_flows", "bool", True,
                    doc="keep the flows between neighbouring frames in the cache (about 2 MB a frame at "
                        "the working size 640x360), so that after an edit (a corrected mask) only the "
                        "frames around it are filled again, without estimating their flow again")],
      temporal=Temporal("window", _flow_reach))
def inpaint_flow(ctx, frames, masks, window, max_long_edge, flow, spatial_radius, detail=True, feather=0.0,
                 spatial="smooth", keep_flows=True, holdout=None):
    check_frames_and_masks(frames, masks)
    if holdout is not None:
        check_same_clip(holdout, "holdout", frames, "frames")
    height, width = working_size(frames.height, frames.width, max_long_edge)
    if (height, width) != (frames.height, frames.width) and not detail:
        ctx.note(f"the hole is filled at {width}x{height} and scaled up to {frames.width}x{frames.height}; "
                 f"turn 'detail' on or raise 'max_long_edge' (0: full size) for more detail inside the hole")
    held = (2 * min(frames_reach(window), len(frames)) + 1) * height * width * WINDOW_BYTES_PER_PIXEL
    if detail and (height, width) != (frames.height, frames.width):
        held += (2 * DETAIL_REACH + 1) * frames.height * frames.width * 3
    if held > 2 * 1024 ** 3:
        ctx.note(f"the fill holds about {held / 1024 ** 3:.1f} GB of frames and flows at {width}x{height}; "
                 f"lower 'window' or 'max_long_edge', or turn 'detail' off, if memory runs short")
    out = ctx.new_frames(frames.height, frames.width, frames.fps, source=frames.source)
    # Frames are read by index as the fill asks for them (a bounded reach
    # around the frame being filled); the full-size frame each fill is pasted
    # into is read again, so no full-size frame is held for long. Each span
    # the engine asks for comes out as it would in a pass over the whole clip.
    total, done, tally = frames_total(ctx, frames), 0, {}
    pairs = _kept_pairs(ctx, frames, masks, (height, width), flow) if keep_flows else None
    for start, stop in ctx.frames_wanted if ctx.frames_wanted is not None else ((0, len(frames)),):
        for index, filled in fill_range(frames.__getitem__, masks.__getitem__, len(frames), start, stop,
                                        window=window, max_long_edge=max_long_edge, preset=flow,
                                        spatial=spatial, spatial_radius=spatial_radius, detail=detail,
                                        pairs=pairs, tally=tally,
                                        read_holdout=None if holdout is None else holdout.__getitem__):
            out.append(paste(frames[index], masks[index], filled, feather))
            done += 1
            ctx.progress(done / total)
    if tally.get("hole") and tally["invented"] >= INVENTED_NOTE * tally["hole"]:
        ctx.note(f"{tally['invented'] / tally['hole']:.0%} of the hole in the {done} frames filled was invented "
                 f"from its border (no frame within {window} frames shows the background there), so it is smooth; "
                 f"raise 'window' if the object moves slowly, and connect a 'holdout' matte if people stand "
                 f"or walk where the background should show")
    return {"frames": out.close()}
