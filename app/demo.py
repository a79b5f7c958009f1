"""`inpainterz demo`: make a sample shot and remove its moving object.

No weights and no media needed: the shot is the synthetic pan of
app/synthetic.py, whose clean background is known, so the demo can say how
close the result comes. It runs the shipped graph graphs/demo_remove.json
(ReadVideo, ReadMasks, DilateMask, InpaintFlow, WriteVideo) through the
engine, like `inpainterz run` would, with the paths pointed at its folder.
"""
from __future__ import annotations

import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..engine.atomic import atomic_write
from ..engine.palette import PALETTE

DEMO_GRAPH = Path(__file__).resolve().parents[1] / "graphs" / "demo_remove.json"

# 90 frames at 640x360 and 25 fps: long enough to see the fill track the pan,
# short enough to run in well under a minute on two cores.
WIDTH, HEIGHT, FRAMES, FPS = 640, 360, 90, Fraction(25)
SHEET_FRAMES = 4


def main(out_dir: str | os.PathLike = "demo-out", cache_dir: str | os.PathLike | None = None,
         width: int = WIDTH, height: int = HEIGHT, frames: int = FRAMES) -> int:
    """Make the shot in out_dir/input, clean it into out_dir/clean.mp4, write
    out_dir/contact_sheet.png and print how close the result is to the truth.
    The cache lives in out_dir/cache unless cache_dir is given. Returns the
    exit code (0 done, 1 a node failed, 2 bad input)."""
    from ..engine.cache import Cache
    from ..engine.errors import GraphError
    from ..engine.graph import Graph
    from .progress import progress_printer
    from .scoring import psnr
    from .synthetic import make_scene, write_scene

    started = time.perf_counter()
    out = Path(out_dir).resolve()
    print(f"making a {width}x{height} shot of {frames} frames in {out / 'input'} ...", flush=True)
    scene = make_scene(width, height, frames, fps=FPS, seed=0)
    shot = write_scene(out / "input", scene)
    clean = out / "clean.mp4"

    graph = Graph.load(DEMO_GRAPH)
    graph.apply_sets([f"read.path={shot['video']}", f"masks.path={shot['masks']}", f"write.path={clean}"])
    printer = progress_printer()
    try:
        result = graph.run(cache=Cache(cache_dir if cache_dir is not None else out / "cache"), on_event=printer)
    except GraphError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 2
    finally:
        printer.close()
    for report in result.failed:
        print(f"error: {report.error}", file=sys.stderr)
    if not result.ok:
        return result.exit_code() or 1

    filled = _decode(clean)
    labels = result.value("grow", "masks").read(0, frames)
    holes = labels > 0
    sheet = write_contact_sheet(out / "contact_sheet.png", scene.frames, labels, filled, scene.backgrounds)
    hole_db = psnr(filled, scene.backgrounds, holes)
    frame_db = psnr(filled, scene.backgrounds)
    input_db = psnr(scene.frames, scene.backgrounds, holes)
    # Both videos are lossy H.264: the input outside the hole shows how far
    # the coding alone keeps any result from the truth.
    coded_db = psnr(_decode(shot["video"]), scene.backgrounds, ~holes)
    seconds = time.perf_counter() - started
    fill_seconds = result.nodes["fill"].seconds
    print(f"\nclean plate:   {clean}\ncontact sheet: {sheet}")
    print(f"PSNR against the clean background: {hole_db:.2f} dB in the hole, {frame_db:.2f} dB over whole frames")
    print(f"  for scale: the input with the object still in scores {input_db:.2f} dB in the hole; "
          f"H.264 coding alone allows {coded_db:.2f} dB (input video outside the hole)")
    print(f"InpaintFlow took {fill_seconds:.1f}s ({fill_seconds / frames:.3f} s/frame); "
          f"the demo took {seconds:.1f}s in all")
    return 0


def write_contact_sheet(path: Path, frames, labels, results, truths, count: int = SHEET_FRAMES) -> Path:
    """Before/after sheet: a column per sampled frame; rows are the input with
    each object's mask tinted in its palette colour, the result, and the truth.
    Written atomically."""
    import cv2

    picks = np.linspace(0, len(frames) - 1, count + 2)[1:-1].round().astype(int)
    rows = [("input + mask", [_overlay(frames[i], labels[i]) for i in picks]),
            ("InpaintFlow result", [results[i] for i in picks]),
            ("truth (clean background)", [truths[i] for i in picks])]
    tile_w = 320
    tile_h = round(frames.shape[1] * tile_w / frames.shape[2])
    band = 24
    sheet = np.full((len(rows) * (tile_h + band), count * tile_w, 3), 24, np.uint8)
    for r, (label, tiles) in enumerate(rows):
        top = r * (tile_h + band)
        cv2.putText(sheet, label, (8, top + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
        for c, tile in enumerate(tiles):
            small = cv2.resize(tile, (tile_w, tile_h), interpolation=cv2.INTER_AREA)
            sheet[top + band:top + band + tile_h, c * tile_w:(c + 1) * tile_w] = small
            if r == 0:
                cv2.putText(sheet, f"frame {picks[c]}", (c * tile_w + 8, top + band + 18),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return save_png(path, sheet)


def save_png(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB picture (a contact sheet) as a PNG, atomically."""
    import cv2

    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_write(path) as partial:
        partial.write_bytes(png.tobytes())
    return path


def _overlay(frame: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each object tinted and outlined in its palette colour (the editor's and OverlayMasks' colours)."""
    import cv2

    out = frame.astype(np.float32)
    hole = labels > 0
    out[hole] = 0.55 * out[hole] + 0.45 * PALETTE[labels[hole]].astype(np.float32)
    out = out.astype(np.uint8)
    for object_id in np.unique(labels[hole]):
        contours, _ = cv2.findContours((labels == object_id).astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in PALETTE[object_id]), 2, cv2.LINE_AA)
    return out


def _decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])])
