"""Re-run time after a one-frame edit, as a share of the cold run.

1. Weight-free: the demo scene (the synthetic pan, 600 frames at 640x360) through
   the demo graph ReadVideo, ReadMasks, DilateMask, InpaintFlow, WriteVideo. The
   mask file of frame 540 is corrected by hand (the object grown by 6 pixels) and
   the graph runs again on the same cache. Goal: re-run / cold <= 0.15.
2. Clicks: ReadImages, PointPrompt, SegmentSAM, TrackDeAOT (its default
   settings), DilateMask, InpaintOpenCV, WriteImages on 100 small frames with
   test weights (random SAM vit_b and R50-DeAOT-L made here). A click is added
   at frame 90, its instant mask computed as the editor's viewer does (which
   embeds frame 90 into the cache), and the graph runs again.

Each prints the cold and re-run seconds, every node's frames rendered / reused,
and the ratio, measured within one run of this script.

    python bench/partial_rerun.py                       # both
    python bench/partial_rerun.py --only flow --frames 200
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def timed_run(graph, cache):
    t0 = time.perf_counter()
    result = graph.run(cache=cache, device="cpu")
    seconds = time.perf_counter() - t0
    if not result.ok:
        raise SystemExit(f"the run failed: {[r.error for r in result.failed]}")
    return result, seconds


def show(label, cold, cold_s, warm, warm_s):
    print(f"\n{label}")
    print(f"  {'node':<10} {'type':<14} {'cold s':>8} {'re-run s':>9}  frames rendered / reused on the re-run")
    for n, rep in warm.nodes.items():
        f = rep.frames
        frames = f"{f['rendered']} / {f['reused']}" if f else "-"
        print(f"  {n:<10} {rep.type:<14} {cold.nodes[n].seconds:>8.2f} {rep.seconds:>9.2f}  {frames} ({rep.status})")
    print(f"  cold {cold_s:.1f}s, re-run {warm_s:.1f}s: re-run / cold = {warm_s / cold_s:.3f}")


def weight_free(frames: int, width: int, height: int, edit: int) -> None:
    from inpainterz.engine import Graph
    from inpainterz.engine.cache import Cache
    from inpainterz.app.synthetic import SceneSpec, iter_scene, write_video

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        masks = tmp / "masks"
        masks.mkdir()
        print(f"making the demo scene: {frames} frames at {width}x{height} ...", flush=True)

        def scene_frames():
            for t, (frame, mask, _) in enumerate(iter_scene(SceneSpec(width, height, frames, Fraction(25)))):
                cv2.imwrite(str(masks / f"{t:05d}.png"), mask)
                yield frame

        write_video(tmp / "clip.mp4", scene_frames(), Fraction(25))
        g = Graph.load(REPO / "graphs" / "demo_remove.json")
        g.apply_sets([f"read.path={tmp / 'clip.mp4'}", f"masks.path={masks}", f"write.path={tmp / 'clean.mp4'}"])
        cache = Cache(tmp / "cache")
        cold, cold_s = timed_run(g, cache)
        mask = cv2.imread(str(masks / f"{edit:05d}.png"), cv2.IMREAD_UNCHANGED)
        grown = cv2.dilate(mask, np.ones((13, 13), np.uint8))
        cv2.imwrite(str(masks / f"{edit:05d}.png"), grown)
        warm, warm_s = timed_run(g, cache)
        show(f"weight-free demo graph, mask of frame {edit} of {frames} changed", cold, cold_s, warm, warm_s)
        print(f"  goal: re-run / cold <= 0.15; InpaintFlow declares: "
              f"{g.registry.get('InpaintFlow').temporal_text()}")


def clicks(frames: int, edit: int) -> None:
    import torch
    from segment_anything import sam_model_registry

    from inpainterz.engine import Graph
    from inpainterz.engine import checkpoints as ck
    from inpainterz.engine.cache import Cache
    from inpainterz.app.synthetic import SceneSpec, iter_scene
    from inpainterz.nodes.track import build_deaot

    h, w = 64, 96
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "ckpt"
        ckpt.mkdir()
        torch.manual_seed(0)
        torch.save(sam_model_registry["vit_b"]().state_dict(), ckpt / "sam_vit_b_01ec64.pth")
        torch.save({"state_dict": build_deaot("r50_deaotl").state_dict()}, ckpt / "R50_DeAOTL_PRE_YTB_DAV.pth")
        os.environ[ck.CKPT_ENV] = str(ckpt)
        shot = tmp / "shot"
        shot.mkdir()
        for t, (frame, _, _) in enumerate(iter_scene(SceneSpec(w, h, frames, Fraction(25)))):
            cv2.imwrite(str(shot / f"{t:04d}.png"), frame[:, :, ::-1])

        def graph(prompts):
            g = Graph()
            g.add("ReadImages", id="read", path=str(shot / "%04d.png"))
            g.add("PointPrompt", id="clicks", frame=0, points=[[20, 30, True]], prompts=prompts)
            g.add("SegmentSAM", id="segment", frames="read.frames", points="clicks.points")
            g.add("TrackDeAOT", id="track", frames="read.frames", keymasks="segment.keymasks")  # the defaults
            g.add("DilateMask", id="grow", masks="track.masks", radius=2)
            g.add("InpaintOpenCV", id="fill", frames="read.frames", masks="grow.masks")
            g.add("WriteImages", id="write", frames="fill.frames", path=str(tmp / "out" / "%04d.png"))
            return g

        cache = Cache(tmp / "cache")
        every = next(p.default for p in graph([]).registry.get("TrackDeAOT").params if p.name == "state_every")
        print(f"\nclick graph: {frames} frames at {w}x{h}, test weights, TrackDeAOT's defaults "
              f"(a state every {every} frames) ...", flush=True)
        cold, cold_s = timed_run(graph([]), cache)
        click = [{"frame": edit, "points": [[60, 30, True]]}]
        # The click in the viewer: its instant mask embeds frame `edit` into the same cache.
        viewer_s = instant_mask(cache, ckpt / "sam_vit_b_01ec64.pth", graph(click), edit)
        warm, warm_s = timed_run(graph(click), cache)
        show(f"click graph, a click added at frame {edit} of {frames}", cold, cold_s, warm, warm_s)
        print(f"  the viewer's instant mask for the click took {viewer_s:.1f}s (SAM's encoder, once); the run "
              f"then read that embedding from the cache")
        print(f"  TrackDeAOT: {'; '.join(warm.nodes['track'].notes)}")
        sam = cold.nodes["segment"].seconds
        print(f"  without the cold run's SAM embedding of frame 0 ({sam:.1f}s): re-run / cold = "
              f"{(warm_s - warm.nodes['segment'].seconds) / (cold_s - sam):.3f}")


def instant_mask(cache, checkpoint, graph, frame) -> float:
    """What the editor does on a click: SAM's mask for the frame from its prompts, in the background worker."""
    from inpainterz.editor.sam_preview import PreviewWorker, Request

    frames = graph.run("read", cache=cache, device="cpu").value("read", "frames")
    image = np.asarray(frames[frame])
    t0 = time.perf_counter()
    worker = PreviewWorker(cache, device="cpu")
    worker.request(Request(frame, {1: {"boxes": [], "points": [[60, 30, True, 1]]}}, "vit_b", checkpoint, "auto",
                           lambda: image))
    worker.wait_idle(600)
    worker.close()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=("flow", "clicks"))
    ap.add_argument("--frames", type=int, default=600, help="weight-free scene length (default 600)")
    ap.add_argument("--size", default="640x360", help="weight-free frame size (default 640x360)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    if args.only != "clicks":
        weight_free(args.frames, width, height, edit=args.frames * 9 // 10)
    if args.only != "flow":
        import torch

        torch.set_num_threads(2)
        clicks(100, 90)


if __name__ == "__main__":
    main()
