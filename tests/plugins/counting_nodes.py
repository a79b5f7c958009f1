"""Small node types for engine tests. Each render appends a line to the file
named by $INPAINTERZ_TEST_LOG, so tests can count renders even across processes.
Loaded as a plugin file: the tests point INPAINTERZ_PLUGIN_PATH at this folder.
"""
import json
import os
import time
from fractions import Fraction

import numpy as np

from inpainterz.engine import BadInput, Input, Output, Param, node


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
