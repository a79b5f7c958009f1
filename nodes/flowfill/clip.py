"""Filling a clip: any range of frames, each from a bounded reach of input
frames, and the full-resolution paste."""

import cv2
import numpy as np

from ..composite import paste
from .consensus import agree
from .detail import DETAIL_REACH, DetailLayers, with_detail
from .propagate import carry_from, gather_sources
from .size import working_size
from .smooth import fill_membrane
from .window import FrameWindow

DEFAULTS = {
    "window": 30,
    "max_long_edge": 640,
    "preset": "medium",
    "spatial": "smooth",
    "spatial_radius": 5,
    "detail": True,
}

NO_SOURCES = (np.zeros(0, np.intp),) * 3 + (np.zeros(0, np.float32),) * 2

# Clean samples collected per hole pixel in each direction of time: enough
# for the background to outvote a passer-by, few enough to stay cheap.
SAMPLES = 4

# How much a colour seen only right beside the hole is trusted per unit of
# evidence its frames add up to (propagate.NEAR_EVIDENCE each): the two
# frames that are enough to take it give it 0.3 of the blend, about seven
# give it all. Fewer, and children standing at a hole's edge are drawn
# into it; more, and a hole that moves slowly loses what its trailing edge
# uncovers.
WEAK_TRUST = 0.3


def anchor_spacing(window):
    """Frames between the anchors where what no frame shows is invented.

    Each frame carries the inventions of the two anchors around it, so it
    depends on frames up to this far beyond its own window; the inventions
    are cross-faded over this many frames.
    """
    return max(1, min(window, 8))


def frames_reach(window):
    """r: filled frame t depends on input frames t - r .. t + r only.

    A frame looks `window` frames each way for background, its anchors lie
    up to anchor_spacing(window) away and look as far again, and whether a
    pixel shows still background is judged from its frame's two neighbours.
    """
    return window + anchor_spacing(window) + 1


def fill_range(read_frame, read_mask, count, start, stop, window=DEFAULTS["window"],
               max_long_edge=DEFAULTS["max_long_edge"], preset=DEFAULTS["preset"],
               spatial=DEFAULTS["spatial"], spatial_radius=DEFAULTS["spatial_radius"], detail=DEFAULTS["detail"],
               flow_margin=None, pairs=None, read_holdout=None, tally=None):
    """Fill frames start .. stop - 1 of a clip of `count` frames.

    read_frame(i) gives the full-size (H, W, 3) uint8 RGB frame i and
    read_mask(i) its (H, W) label map (> 0 is the hole); only indices in
    [start - r, stop - 1 + r] (r = frames_reach(window), clamped to the clip)
    are asked for. Yields (t, filled) in order, where filled is frame t at
    working size with its hole filled (composite.paste puts it into the
    full-size frame); or, with `detail` and frames larger than the working
    size, frame t at full size with its hole filled and the detail of the
    frames it was filled from brought back (see detail.py). Frame t comes
    out with the same bytes whatever start and stop are. At most about
    2 r + 1 working frames, their flows, two anchor fills and the detail of
    2 DETAIL_REACH + 1 full-size frames are held at once. `pairs`, a
    pairs.PairStore, keeps the flows between neighbouring frames for later
    renders and gives those an earlier render kept. read_holdout(i), if
    given, is frame i's holdout matte ((H, W), > 0 marks people or things
    that stay in the shot): nothing it marks is taken into a hole.
    `tally`, a dict if given, has "hole" and "invented" added up over the
    frames filled: their hole pixels at working size, and those of them
    that no frame within the window shows (invented from the border).
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if spatial not in SPATIAL_METHODS:
        raise ValueError(f"spatial must be one of {', '.join(SPATIAL_METHODS)}, got {spatial!r}")
    invention = (spatial, spatial_radius)
    if not 0 <= start <= stop <= count:
        raise ValueError(f"frames {start}..{stop - 1} are not inside a clip of {count} frames")
    if start == stop:
        return
    reach = frames_reach(window)
    low = max(0, start - reach)
    first = [np.asarray(read_frame(low))]

    def read(index):
        # The first frame was read for its size; hand it over once.
        return first.pop() if index == low and first else read_frame(index)

    first_shape = first[0].shape[:2]
    size = working_size(first_shape[0], first_shape[1], max_long_edge)
    margin = flow_margin if flow_margin is not None else default_flow_margin(size)
    frames = FrameWindow(read, read_mask, count, size, preset, margin, pairs, read_holdout)
    spacing = anchor_spacing(window)
    plates = {}

    def plate(anchor):
        """Anchor frame filled from its window alone, with what no frame
        shows inpainted spatially: the invention the frames around carry."""
        if anchor not in plates:
            plates[anchor] = fill_frame(frames, anchor, window, invention, None)
        return plates[anchor]

    layers = DetailLayers(read_frame, size) if detail and size != first_shape else None
    # A video decodes forwards, from its keyframes, and the fill asks for the
    # frames before `start` backwards, nearest first: read them in order
    # once, or a partial render decodes from a keyframe for each of them.
    for index in range(low, start):
        frames.frame(index)
    if layers is not None:
        # Sources lie within the window of the frame filled: no layer further back is asked for.
        for index in range(max(0, start - min(DETAIL_REACH, window)), start):
            layers.layer(index)

    for t in range(start, stop):
        if t % spacing == 0:
            filled, sources, invented = plate(t)
        else:
            before = t - t % spacing
            anchors = [(before, (before + spacing - t) / spacing)]
            if before + spacing < count:
                anchors.append((before + spacing, (t - before) / spacing))
            filled, sources, invented = fill_frame(frames, t, window, invention, (anchors, plate))
        if tally is not None:
            tally["hole"] = tally.get("hole", 0) + int(np.count_nonzero(frames.hole(t)))
            tally["invented"] = tally.get("invented", 0) + invented
        if layers is not None:
            layers.drop_outside(t - DETAIL_REACH, t + DETAIL_REACH)
            filled = with_detail(np.asarray(read_frame(t)), np.asarray(read_mask(t)), filled, sources, layers)
        yield t, filled
        frames.drop_before(t + 1 - reach)
        for anchor in [a for a in plates if a <= t - spacing]:
            del plates[anchor]


def fill_frame(frames, t, window, invention, anchors):
    """(frame t at working size with its hole filled, sources for detail,
    how many of its hole pixels no frame within the window shows).

    Each hole pixel takes the background that the nearest frames showing it
    cleanly agree on, forward and backward in time (see consensus.agree).
    What no frame within the window shows is carried from the anchors'
    inventions, cross-faded by nearness in time, when `anchors` is given as
    ([(anchor, weight)], plate); what is left after that is inpainted
    spatially, invention being (method, radius) for invent. A colour that
    only frames right beside the hole show is blended with what the pixel
    would get were it not seen (WEAK_TRUST). sources (see
    detail.with_detail) names, for the pixels filled from a frame at most
    DETAIL_REACH away, the nearest agreeing one and where in it.
    """
    frame = frames.frame(t)
    hole = frames.hole(t)
    if not hole.any():
        return frame, NO_SOURCES, 0
    ys, xs = np.nonzero(hole)
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    after = gather_sources(frames, t, points, +1, window, SAMPLES)
    before = gather_sources(frames, t, points, -1, window, SAMPLES)
    samples, weight, where, source, evidence = (np.concatenate(pair, axis=1) for pair in zip(after, before))
    colours, found, lead, backing = agree(samples, weight, evidence)
    rows = np.flatnonzero(found)
    lead_frame, lead_where = source[rows, lead[rows]], where[rows, lead[rows]]
    near = np.abs(lead_frame - t) <= DETAIL_REACH
    rows, lead_frame, lead_where = rows[near], lead_frame[near], lead_where[near]
    sources = (ys[rows], xs[rows], lead_frame, lead_where[:, 0], lead_where[:, 1])
    # What only frames right beside the hole show may be someone who stood
    # at its edge as well as the background: it is blended with what the
    # frame would get were it not seen at all, the more so the fewer frames
    # agree on it.
    weak = found & np.isfinite(backing)
    seen_weakly = colours[weak]
    trust = np.minimum(1.0, WEAK_TRUST * backing[weak])[:, None]
    missing = ~found | weak
    if missing.any() and anchors is not None:
        index = np.flatnonzero(missing)
        invented, weight = np.zeros((len(index), 3), np.float32), np.zeros(len(index), np.float32)
        chosen, plate = anchors
        for anchor, share in chosen:
            anchor_plate = plate(anchor)[0]
            carried, carried_found = carry_from(frames, t, points[index], anchor, anchor_plate, frames.hole(anchor))
            invented += carried * (share * carried_found)[:, None]
            weight += share * carried_found
        reached = weight > 0
        colours[index[reached]] = invented[reached] / weight[reached, None]
        missing[index[reached]] = False

    filled = frame.copy()
    filled[ys, xs] = np.clip(np.rint(colours), 0, 255).astype(np.uint8)
    if weak.any():
        # The hedge is what the anchors carry there, else what the border
        # gives; the rest of the invention is still hung from the colours
        # seen weakly, which a slow hole's trailing edge mostly shows right.
        unseen = weak & missing
        if unseen.any():
            unknown = np.zeros(hole.shape, bool)
            unknown[ys[missing], xs[missing]] = True
            colours[unseen] = invent(filled, unknown, *invention)[ys[unseen], xs[unseen]]
        filled[ys[weak], xs[weak]] = np.clip(np.rint(seen_weakly), 0, 255).astype(np.uint8)
        missing &= ~weak
    if missing.any():
        unknown = np.zeros(hole.shape, bool)
        unknown[ys[missing], xs[missing]] = True
        filled = invent(filled, unknown, *invention)
    if weak.any():
        hedged = trust * seen_weakly + (1 - trust) * colours[weak]
        filled[ys[weak], xs[weak]] = np.clip(np.rint(hedged), 0, 255).astype(np.uint8)
    return filled, sources, int(len(found) - np.count_nonzero(found))


# How what no frame shows is invented from the pixels around it. "smooth" is
# the membrane hung from the hole's border (smooth.fill_membrane): on the
# real-footage cases, filling each frame from its own border, it scores
# about 1 dB better in the hole than TELEA (bench/inpaint_quality.py) and
# draws none of TELEA's streaks from edges that touch the hole. "telea" is
# OpenCV's fast marching inpainting over a neighbourhood of
# `spatial_radius` pixels: it keeps more of the colour right at the border,
# and so also of a passer-by standing at it.
SPATIAL_METHODS = ("smooth", "telea")


def invent(frame, unknown, method, radius):
    """frame with its unknown pixels inpainted from the pixels around them."""
    if method == "telea":
        return cv2.inpaint(frame, unknown.astype(np.uint8), radius, cv2.INPAINT_TELEA)
    membrane = fill_membrane(frame.astype(np.float32), ~unknown)
    return np.clip(np.rint(membrane), 0, 255).astype(np.uint8)


def fill_clip(frames, masks, holdout=None, **settings):
    """Fill a clip held in memory (sequences of full-size arrays; holdout,
    if given, the holdout mattes); for tests and scripts. Returns a list of
    full-size filled frames."""
    if len(frames) != len(masks) or (holdout is not None and len(holdout) != len(frames)):
        extra = "" if holdout is None else f", holdout {len(holdout)}"
        raise ValueError(f"frames and masks differ in count ({len(frames)} and {len(masks)}{extra})")
    read_holdout = None if holdout is None else holdout.__getitem__
    filled = fill_range(frames.__getitem__, masks.__getitem__, len(frames), 0, len(frames),
                        read_holdout=read_holdout, **settings)
    return [paste(frames[t], masks[t], fill) for t, fill in filled]


def default_flow_margin(size):
    """How far past a hole the estimated flow is distrusted, in working pixels.

    DIS matches patches, so the object's motion leaks several pixels into the
    background around it; trusting that leak biases the completed flow, and
    the bias adds up over every frame a point is carried.
    """
    return max(4, round(max(size) / 20))
