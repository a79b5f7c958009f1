"""Inpainting quality in the hole: InpaintFlow against InpaintOpenCV.

Two shots where the truth behind the hole is known:
  (a) the synthetic pan (app/synthetic.py), object mask grown by 4 pixels;
  (b) the DAVIS tennis frames in the shared media folder, with synthetic
      textured blobs sliding across the background, kept off the player.

Prints PSNR (dB, pooled over every hole pixel of the clip), SSIM
(gaussian window, mean over hole pixels) and flicker (mean difference
between the result's and the truth's frame-to-frame change in the holes, in
8-bit levels) for both methods, and seconds per frame: wall clock, and CPU
time of the process (steadier on a shared machine).
Run: .venv/bin/python bench/inpaint_quality.py
"""

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from inpainterz.nodes.flowfill import fill_clip
from inpainterz.app.scoring import flicker, psnr, ssim
from inpainterz.app.synthetic import make_object_sprite, make_scene


def shared_folder():
    env = os.environ.get("INPAINTERZ_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def inpaint_opencv(frames, masks, radius=5):
    out = []
    for frame, mask in zip(frames, masks):
        hole = (mask > 0).astype(np.uint8)
        filled = frame.copy()
        if hole.any():
            filled[hole > 0] = cv2.inpaint(frame, hole, radius, cv2.INPAINT_TELEA)[hole > 0]
        out.append(filled)
    return np.stack(out)


def grow(mask, radius):
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def synthetic_shot():
    scene = make_scene(640, 360, 90, seed=0)
    masks = np.stack([grow(m, 4) for m in scene.masks])
    return scene.frames, masks, scene.backgrounds


def tennis_shot(folder):
    """Tennis frames with textured blobs composited over the background.

    Returns (frames with blobs, hole masks, original frames as truth).
    """
    names = sorted((folder / "tennis").glob("*.png"))
    truth = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in names])
    players = np.stack([cv2.imread(str(folder / "tennis_mask" / p.name), cv2.IMREAD_GRAYSCALE) for p in names])
    count, height, width = truth.shape[:3]
    rng = np.random.default_rng(1)
    sprite, alpha = make_object_sprite(46, rng)
    sprite_h, sprite_w = alpha.shape
    # Two blobs: one over the banner and fence, one over the clay, crossing
    # the frame in opposite directions at about 4 pixels a frame.
    paths = [(lambda t: 30 + 4.0 * t, lambda t: 40 + 6 * np.sin(t / 9)),
             (lambda t: width - 30 - 4.2 * t, lambda t: 214 + 5 * np.sin(t / 7))]
    frames, holes = truth.copy(), np.zeros((count, height, width), np.uint8)
    for t in range(count):
        keep_off = grow((players[t] > 0).astype(np.uint8), 12) > 0
        for path_x, path_y in paths:
            shift = np.float32([[1, 0, path_x(t) - sprite_w / 2], [0, 1, path_y(t) - sprite_h / 2]])
            colour = cv2.warpAffine(sprite, shift, (width, height), flags=cv2.INTER_LINEAR)
            cover = cv2.warpAffine(alpha, shift, (width, height), flags=cv2.INTER_LINEAR)
            cover[keep_off] = 0.0
            a = cover[..., None]
            frames[t] = np.clip(np.rint(frames[t] * (1 - a) + colour * a), 0, 255).astype(np.uint8)
            holes[t] |= (cover > 1.0 / 255).astype(np.uint8)
        # The hole covers the blob and its soft edge, never the player: where
        # the blob was cut away the frame is the truth, so it is no hole.
        holes[t] = grow(holes[t], 3)
        holes[t][keep_off] = 0
    return frames, holes, truth


def timed(work, frames):
    """(result, (wall seconds, CPU seconds of this process) per frame). On a
    shared machine the CPU figure is the steadier of the two."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, ((time.perf_counter() - wall) / frames, (time.process_time() - cpu) / frames)


def score(name, frames, masks, truth):
    hole = masks > 0
    runs = [("InpaintFlow", lambda: np.stack(fill_clip(list(frames), list(masks)))),
            ("InpaintFlow fine", lambda: np.stack(fill_clip(list(frames), list(masks), preset="fine"))),
            ("InpaintOpenCV", lambda: inpaint_opencv(frames, masks))]
    height, width = frames.shape[1:3]
    print(f"{name}: {len(frames)} frames {width}x{height}, hole {hole.mean() * 100:.1f}% of pixels")
    scores = {}
    for method, work in runs:
        result, (wall, cpu) = timed(work, len(frames))
        assert np.array_equal(result[~hole], frames[~hole]), f"{method} changed pixels outside the hole"
        scores[method] = psnr(result, truth, hole)
        print(f"  {method:<17} PSNR in hole {scores[method]:6.2f} dB   SSIM {ssim(result, truth, hole):.4f}   "
              f"flicker {flicker(result, truth, hole):5.2f}   {wall:.3f} s/frame ({cpu:.3f} CPU s/frame)")
    gain = scores["InpaintFlow"] - scores["InpaintOpenCV"]
    print(f"  InpaintFlow (default flow preset) gains {gain:+.2f} dB in the hole over InpaintOpenCV")
    return scores


def main():
    cv2.setNumThreads(2)
    score("synthetic pan", *synthetic_shot())
    folder = shared_folder()
    if not (folder / "media" / "tennis").is_dir():
        print(f"tennis: skipped, no media at {folder / 'media' / 'tennis'} (set INPAINTERZ_SHARED)")
        return 0
    score("tennis + sliding blobs", *tennis_shot(folder / "media"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
