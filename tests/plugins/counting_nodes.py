"""Small node types for engine tests. Each render appends a line to the file
named by $INPAINTERZ_TEST_LOG, so tests can count renders even across processes.
Loaded as a plugin file: the tests point INPAINTERZ_PLUGIN_PATH at this folder.
"""
import json
import os
import time
from fractions import Fraction

import numpy as np

from inpainterz.engine import BadInput, Input, KeyMasks, Output, Param, Points, causal, node, per_frame, window


def _log(node_id, **extra):
    path = os.environ.get("INPAINTERZ_TEST_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"node": node_id, "t": time.time(), **extra}) + "\n")


def _frames(ctx, values, h=4, w=6):
    out = ctx.new_frames(h, w, Fraction(25))
    for v in values:
        out.append(np.full((h, w, 3), int(v) % 256, np.uint8))
    return out.close()


@node("TSource", category="test", doc="Frames filled with a value.",
      outputs=[Output("frames", "Frames")],
      params=[Param("value", "int", 1, min=0, max=255), Param("n", "int", 3, min=1), Param("sleep", "float", 0.0, min=0)])
def t_source(ctx, value, n, sleep):
    t0 = time.time()
    steps = max(1, int(sleep / 0.05))
    for i in range(steps if sleep else 0):
        time.sleep(sleep / steps)
        ctx.progress((i + 1) / steps)
    _log(ctx.node_id, start=t0, end=time.time())
    return _frames(ctx, [value] * n)


@node("TReadNumber", category="test", doc="Frames filled with the number in a text file.",
      outputs=[Output("frames", "Frames")],
      params=[Param("path", "path", "", io="read", kind="file")])
def t_read_number(ctx, path):
    _log(ctx.node_id)
    try:
        value = int(path.read_text().strip())
    except ValueError:
        raise BadInput(f"file {path} does not hold a number") from None
    return _frames(ctx, [value] * 2)


@node("TOffset", category="test", doc="Add k to every pixel (mod 256).",
      inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("k", "int", 1), Param("salt", "str", "", doc="changes the key, not the output")])
def t_offset(ctx, frames, k, salt):
    _log(ctx.node_id)
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    for _, chunk in frames.chunks():
        out.append(((chunk.astype(np.int64) + k) % 256).astype(np.uint8))
    return out.close()


@node("TJoin", category="test", doc="Sum of two clips (b optional).",
      inputs=[Input("a", "Frames"), Input("b", "Frames", optional=True)], outputs=[Output("frames", "Frames")])
def t_join(ctx, a, b):
    _log(ctx.node_id)
    out = ctx.new_frames(a.height, a.width, a.fps)
    for start, chunk in a.chunks():
        if b is not None:
            chunk = ((chunk.astype(np.int64) + b.read(start, start + len(chunk))) % 256).astype(np.uint8)
        out.append(chunk)
    return out.close()


@node("TFail", category="test", doc="Always fails.",
      inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("bad_input", "bool", False)])
def t_fail(ctx, frames, bad_input):
    _log(ctx.node_id)
    if bad_input:
        raise BadInput("file nowhere.mp4 is not a video; check the path")
    raise RuntimeError("boom")


def _log_pid(seconds):
    """Lets a test find, and kill, the process rendering a node."""
    pids = os.environ.get("INPAINTERZ_TEST_PIDS")
    if pids:
        with open(pids, "a") as fh:
            fh.write(f"{os.getpid()} {seconds}\n")


@node("TSlow", category="test", doc="Sleeps in steps, reporting progress.",
      inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("seconds", "float", 1.0, min=0), Param("k", "int", 0)], gpu=False)
def t_slow(ctx, frames, seconds, k):
    t0 = time.time()
    _log_pid(seconds)
    steps = 20
    for i in range(steps):
        time.sleep(seconds / steps)
        ctx.progress((i + 1) / steps)
    _log(ctx.node_id, start=t0, end=time.time())
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    for _, chunk in frames.chunks():
        out.append(((chunk.astype(np.int64) + k) % 256).astype(np.uint8))
    return out.close()


@node("TGpu", category="test", doc="Wants the accelerator; sleeps.",
      inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("seconds", "float", 0.3, min=0)], gpu=True)
def t_gpu(ctx, frames, seconds):
    t0 = time.time()
    _log_pid(seconds)
    time.sleep(seconds)
    _log(ctx.node_id, start=t0, end=time.time(), device=ctx.device)
    return frames


@node("TSink", category="test", doc="Writes the first pixel of every frame to a text file.",
      inputs=[Input("frames", "Frames")],
      params=[Param("path", "path", "out.txt", io="write", kind="file")])
def t_sink(ctx, frames, path):
    _log(ctx.node_id)
    values = [int(chunk[i, 0, 0, 0]) for _, chunk in frames.chunks() for i in range(len(chunk))]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(" ".join(map(str, values)) + "\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------- frame-aware test nodes
# Each logs the frames it rendered, so tests can check a render against its declaration.

def _log_frames(ctx):
    wanted = ctx.frames_wanted
    _log(ctx.node_id, frames=[list(r) for r in wanted] if wanted is not None else None)


def _wanted_frames(ctx):
    for a, b in ctx.frames_wanted:
        yield from range(a, b)


@node("TReadFrames", category="test", doc="Frames filled with the number in each text file of a folder (one per frame).",
      outputs=[Output("frames", "Frames")],
      params=[Param("path", "path", "", io="read", kind="dir")])
def t_read_frames(ctx, path):
    _log(ctx.node_id)
    values = [int(f.read_text().strip()) for f in sorted(path.glob("*.txt"))]
    out = ctx.new_frames(4, 6, Fraction(25))
    for t, v in enumerate(values):
        frame = np.full((4, 6, 3), v % 256, np.uint8)
        frame[0, 0, 1] = t % 256  # frames differ even where the files agree
        out.append(frame)
    return out.close()


@node("TPrompts", category="test", doc="Points from a frame-keyed list of values.",
      outputs=[Output("points", "Points")],
      params=[Param("prompts", "list", [], doc='[{"frame": N, "value": V}, ...]')])
def t_prompts(ctx, prompts):
    _log(ctx.node_id)
    out = {}
    for p in prompts:
        out.setdefault(int(p["frame"]), []).append([float(p["value"]), 0.0, True, 1])
    return Points(out)


def _prompt_value(points, t):
    return int(sum(r[0] for r in points.get(t, []))) if points is not None else 0


@node("TPerFrame", category="test", doc="Frame t plus k plus the prompts at t.", temporal=per_frame(),
      inputs=[Input("frames", "Frames"), Input("points", "Points", optional=True)],
      outputs=[Output("frames", "Frames")], params=[Param("k", "int", 1)])
def t_per_frame(ctx, frames, points, k):
    _log_frames(ctx)
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    pause = float(os.environ.get("INPAINTERZ_TEST_SLEEP", 0))  # per frame: lets a test kill a render midway
    for t in _wanted_frames(ctx):
        time.sleep(pause)
        ctx.progress(0.5)
        out.append(((frames[t].astype(np.int64) + k + _prompt_value(points, t)) % 256).astype(np.uint8))
    return out.close()


@node("TWindow", category="test", doc="Sum of frames t-r..t+r.", temporal=window(lambda p: p["r"]),
      inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("r", "int", 1, min=0, max=5)])
def t_window(ctx, frames, r):
    _log_frames(ctx)
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    for t in _wanted_frames(ctx):
        block = frames.read(t - r, t + r + 1).astype(np.int64)
        out.append((block.sum(axis=0) % 256).astype(np.uint8))
    return out.close()


@node("TCausal", category="test", doc="Running sum of frames 0..t and the prompts at or before t.", temporal=causal(),
      inputs=[Input("frames", "Frames"), Input("points", "Points", optional=True)],
      outputs=[Output("frames", "Frames")])
def t_causal(ctx, frames, points):
    _log_frames(ctx)
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    wanted = list(_wanted_frames(ctx))
    if not wanted:
        return out.close()
    # The state at the first wanted frame is recomputed from the frames before it: exact, if slow.
    total = np.zeros(frames.frame_shape, np.int64)
    for t in range(wanted[0]):
        total += frames[t].astype(np.int64) + _prompt_value(points, t)
    wanted_set = set(wanted)
    for t in range(wanted[0], wanted[-1] + 1):
        total += frames[t].astype(np.int64) + _prompt_value(points, t)
        if t in wanted_set:
            out.append((total % 256).astype(np.uint8))
    return out.close()


@node("TFrameSink", category="test", doc="Writes one text file per frame (its first pixel).", temporal=per_frame(),
      inputs=[Input("frames", "Frames")],
      params=[Param("path", "path", "out", io="write", kind="dir")])
def t_frame_sink(ctx, frames, path):
    _log_frames(ctx)
    path.mkdir(parents=True, exist_ok=True)
    for t in _wanted_frames(ctx):
        tmp = path / f".{t:04d}.tmp"
        tmp.write_text(f"{int(frames[t][0, 0, 0])}\n")
        os.replace(tmp, path / f"{t:04d}.txt")


@node("TKeyMasks", category="test", doc="Rectangles as keyframe masks: a frame-keyed list of boxes.",
      outputs=[Output("keymasks", "KeyMasks")],
      params=[Param("height", "int", 64), Param("width", "int", 96),
              Param("prompts", "list", [], doc='[{"frame": N, "box": [x0, y0, x1, y1], "id": I}, ...]')])
def t_keymasks(ctx, height, width, prompts):
    _log(ctx.node_id)
    out = KeyMasks(height=height, width=width)
    for p in prompts:
        m = out[p["frame"]] if p["frame"] in out else np.zeros((height, width), np.uint8)
        x0, y0, x1, y1 = p["box"]
        m[y0:y1, x0:x1] = p["id"]
        out[p["frame"]] = m
    return out


@node("TKeyed", category="test", doc="Per frame: each prompt's value plus the frame's first pixel.",
      temporal=per_frame(), inputs=[Input("frames", "Frames"), Input("points", "Points")],
      outputs=[Output("points", "Points")])
def t_keyed(ctx, frames, points):
    _log_frames(ctx)
    out = {}
    for a, b in ctx.frames_wanted:
        for t in sorted(f for f in points if a <= f < b):
            out[t] = [[r[0] + int(frames[t][0, 0, 0]), r[1], r[2], r[3]] for r in points[t]]
    return Points(out)


@node("TSlowFrames", category="test", doc="Per frame: frame t plus k; sleeps per range; fails on one frame.",
      temporal=per_frame(), inputs=[Input("frames", "Frames")], outputs=[Output("frames", "Frames")],
      params=[Param("seconds", "float", 0.0, min=0), Param("k", "int", 1),
              Param("fail_at", "int", -1, doc="a frame this node cannot render (-1: none)")])
def t_slow_frames(ctx, frames, seconds, k, fail_at):
    _log_frames(ctx)
    wanted = list(_wanted_frames(ctx))
    if fail_at in wanted:
        raise BadInput(f"frame {fail_at} of the input is unreadable; replace it")
    _log_pid(seconds)
    for i in range(10):
        time.sleep(seconds / 10)
        ctx.progress((i + 1) / 10)
    out = ctx.new_frames(frames.height, frames.width, frames.fps)
    for t in wanted:
        out.append(((frames[t].astype(np.int64) + k) % 256).astype(np.uint8))
    return out.close()
