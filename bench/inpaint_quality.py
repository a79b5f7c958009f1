"""Inpainting quality in the hole: InpaintFlow against InpaintOpenCV (TELEA).

Shots where the truth behind the hole is known:
  - the synthetic pan (app/synthetic.py), object mask grown by 4 pixels,
    640x360: quality and speed;
  - the DAVIS tennis frames with synthetic textured blobs sliding across the
    background, kept off the player;
  - real footage with holes on background only, while the unmasked people
    walk across or beside them (app/footage_cases.py): tennis with a
    moving camera and a hole crossing the player's path; schoolgirls with a
    static camera, a fixed hole the children walk through, a hole sliding
    between them, a hole creeping beside them at about a pixel a frame, a
    hole fixed for the whole shot beside where they stand (no frame shows
    what is behind it: the spatial invention decides), and a hole beside
    children standing and waiting for the second half of the shot; tennis
    again with a hole fixed in the picture for the whole shot on the
    player's path (only the camera's pan shows what is behind it), and a hole
    carried with the court under it while the player runs across it.

Prints PSNR (dB, pooled over every hole pixel of the clip), SSIM (gaussian
window, mean over hole pixels) and flicker (mean difference between the
result's and the truth's frame-to-frame change in the holes, in 8-bit
levels) for both methods, seconds per frame (wall clock, and CPU time of the
process, the steadier of the two on a shared machine), the gain of
InpaintFlow over TELEA on each real-footage case and the worst of them. For
each real-footage case it writes a contact sheet (plate with hole /
InpaintFlow / TELEA / truth, zoomed on the hole, at the frames where people
come nearest the hole and the frame InpaintFlow does worst on).

It then fills each real case's holes frame by frame from that frame's own
border alone, as InpaintFlow invents what no frame shows: by the solved
membrane it uses, by the push-pull estimate that starts it, and by OpenCV's
TELEA and Navier-Stokes, and prints PSNR in the hole for each.

With --random N it also scores N hole placements drawn at random near the
people of both clips (footage_cases.random_case: fixed for part of the
shot, sliding, fixed for the whole shot, carried with the ground), prints
the gain on each, the share of each hole's background that some frame
shows bare (footage_cases.seen_share: no fill from other frames can do
better than that), the spread of gains by kind and by that share, and
writes contact sheets for the three worst, and the three worst of those
where frames show 60% or more. Real-footage cases are also filled with the people's
own masks as InpaintFlow's holdout matte, as a user would connect a
tracked matte of the people who stay in the shot.

With --full-size it also fills the synthetic pan at 1280x720 at the default
working size (640) without and with the full-resolution detail, and at full
size, and prints what each costs and gains in the hole.

Run: .venv/bin/python bench/inpaint_quality.py [--sheets DIR] [--full-size]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from inpainterz.nodes.flowfill import fill_clip
from inpainterz.nodes.flowfill.smooth import fill_membrane, fill_smooth
from inpainterz.app.demo import save_png
from inpainterz.app.scoring import flicker, psnr, ssim
from inpainterz.app.footage_cases import CASES, random_case, seen_share
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


def synthetic_shot(width=640, height=360):
    scene = make_scene(width, height, 90, seed=0)
    masks = np.stack([grow(m, 4) for m in scene.masks])
    return scene.frames, masks, scene.backgrounds


def tennis_blobs_shot(folder):
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


def score(name, frames, masks, truth, extra_runs=()):
    """Print the scores of each method; returns ({method: PSNR}, {method: result})."""
    hole = masks > 0
    runs = [("InpaintFlow", lambda: np.stack(fill_clip(frames, masks))), *extra_runs,
            ("InpaintOpenCV", lambda: inpaint_opencv(frames, masks))]
    height, width = frames.shape[1:3]
    print(f"{name}: {len(frames)} frames {width}x{height}, hole {hole.mean() * 100:.1f}% of pixels")
    scores, results = {}, {}
    for method, work in runs:
        result, (wall, cpu) = timed(work, len(frames))
        assert np.array_equal(result[~hole], frames[~hole]), f"{method} changed pixels outside the hole"
        scores[method], results[method] = psnr(result, truth, hole), result
        print(f"  {method:<17} PSNR in hole {scores[method]:6.2f} dB   SSIM {ssim(result, truth, hole):.4f}   "
              f"flicker {flicker(result, truth, hole):5.2f}   {wall:.3f} s/frame ({cpu:.3f} CPU s/frame)")
    for method in scores:
        if method.startswith("InpaintFlow"):
            print(f"  {method} gains {scores[method] - scores['InpaintOpenCV']:+.2f} dB in the hole over InpaintOpenCV")
    return scores, results


def sheet_frames(case, flow, count=4):
    """Frames worth looking at: where people come nearest the hole, and the
    one InpaintFlow does worst on."""
    near = []
    for t in range(len(case.masks)):
        hole = case.masks[t] > 0
        if not hole.any():
            near.append(-1)
            continue
        around = grow(hole.astype(np.uint8), max(3, case.masks.shape[2] // 40)) > 0
        near.append(int((around & case.people[t]).sum()))
    picks = [int(t) for t in np.argsort(near)[::-1] if near[t] > 0]
    chosen = []
    for t in picks:  # spread out: no two picks within 5 frames
        if all(abs(t - c) > 5 for c in chosen):
            chosen.append(t)
        if len(chosen) == count - 1:
            break
    with_hole = [t for t in range(len(flow)) if case.masks[t].any()]
    worst = min(with_hole, key=lambda t: psnr(flow[t:t + 1], case.truth[t:t + 1], case.masks[t:t + 1] > 0))
    return sorted(set(chosen + [worst]))


def write_sheet(path, case, results, picks, zoom=2):
    """Rows of frames; columns plate with the hole outlined, each result,
    truth; each tile cropped around the hole and zoomed. Written atomically."""
    columns = [("plate + hole", case.frames), *results.items(), ("truth", case.truth)]
    height, width = case.frames.shape[1:3]
    crop_h, crop_w = min(height, 120 * height // 240), min(width, 160 * width // 432)
    band = 22
    tile_h, tile_w = crop_h * zoom, crop_w * zoom
    sheet = np.full((len(picks) * (tile_h + band), len(columns) * tile_w, 3), 24, np.uint8)
    for row, t in enumerate(picks):
        ys, xs = np.nonzero(case.masks[t])
        y0 = int(np.clip(ys.mean() - crop_h / 2, 0, height - crop_h))
        x0 = int(np.clip(xs.mean() - crop_w / 2, 0, width - crop_w))
        contours, _ = cv2.findContours(case.masks[t][y0:y0 + crop_h, x0:x0 + crop_w].copy(),
                                       cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        top = row * (tile_h + band)
        for column, (label, clip) in enumerate(columns):
            tile = cv2.resize(clip[t][y0:y0 + crop_h, x0:x0 + crop_w], (tile_w, tile_h),
                              interpolation=cv2.INTER_NEAREST)
            outline = [c * zoom + zoom // 2 for c in contours]
            cv2.drawContours(tile, outline, -1, (255, 230, 0), 1, cv2.LINE_AA)
            sheet[top + band:top + band + tile_h, column * tile_w:(column + 1) * tile_w] = tile
            cv2.putText(sheet, f"{label}, frame {t}", (column * tile_w + 6, top + 16), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (235, 235, 235), 1, cv2.LINE_AA)
    return save_png(path, sheet)


def full_size_cost():
    """Cost and gain of filling at full resolution instead of the working size."""
    frames, masks, truth = synthetic_shot(1280, 720)
    frames, masks, truth = frames[:30], masks[:30], truth[:30]
    hole = masks > 0
    print(f"full resolution: synthetic pan, {len(frames)} frames 1280x720")
    for label, settings in (("640, no detail", {"detail": False}), ("640 + detail", {}),
                            ("full size", {"max_long_edge": 0})):
        result, (wall, cpu) = timed(lambda: np.stack(fill_clip(frames, masks, **settings)), len(frames))
        print(f"  {label:<17} PSNR in hole {psnr(result, truth, hole):6.2f} dB   SSIM {ssim(result, truth, hole):.4f}"
              f"   {wall:.3f} s/frame ({cpu:.3f} CPU s/frame)")


def spatial_only(cases):
    """What no frame shows is invented from the hole's border: each of the
    real `cases`' holes filled frame by frame from that frame alone, by the solved
    membrane InpaintFlow uses (smooth.fill_membrane), its push-pull start
    (smooth.fill_smooth), and OpenCV's TELEA and Navier-Stokes."""
    methods = {
        "membrane": lambda f, m: fill_membrane(f.astype(np.float32), ~m),
        "push-pull": lambda f, m: fill_smooth(f.astype(np.float32), ~m),
        "TELEA": lambda f, m: cv2.inpaint(f, m.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        "Navier-Stokes": lambda f, m: cv2.inpaint(f, m.astype(np.uint8), 5, cv2.INPAINT_NS),
    }
    print("spatial invention alone, each frame from its own border (PSNR in the hole, dB):")
    print("  " + "".join(f"{name:>15}" for name in methods) + "   case")
    squared, count = dict.fromkeys(methods, 0.0), 0
    for case in cases:
        hole = case.masks > 0
        row = []
        for name, invent in methods.items():
            result = case.frames.copy()
            for t in np.flatnonzero(hole.any(axis=(1, 2))):
                filled = invent(case.frames[t], hole[t])
                result[t][hole[t]] = np.clip(np.rint(filled[hole[t]]), 0, 255).astype(np.uint8)
            squared[name] += float(np.square(result[hole].astype(np.float64) - case.truth[hole]).sum())
            row.append(psnr(result, case.truth, hole))
        count += int(hole.sum()) * 3
        print("  " + "".join(f"{v:15.2f}" for v in row) + f"   {case.name}", flush=True)
    print("  " + "".join(f"{10 * np.log10(255 ** 2 * count / squared[name]):15.2f}" for name in methods)
          + "   all cases, pooled")


def random_placements(media, count, sheets):
    """Score `count` random placements; print each gain, the spread by kind
    and the worst, and write sheets for the three worst overall and where
    frames show 60% or more."""
    print(f"random placements: {count}")
    print("  gain over TELEA in the hole: InpaintFlow / with the people's matte as holdout; share of the hole "
          "that some frame within 30 shows bare")
    gains, held_gains, cases, seen = {}, {}, {}, {}
    for seed in range(count):
        kind, case = random_case(media, seed)
        hole = case.masks > 0
        telea_db = psnr(inpaint_opencv(case.frames, case.masks), case.truth, hole)
        for table, holdout in ((gains, None), (held_gains, case.people)):
            flow = np.stack(fill_clip(case.frames, case.masks, holdout=holdout))
            assert np.array_equal(flow[~hole], case.frames[~hole]), f"{case.name}: InpaintFlow changed pixels outside the hole"
            table[seed] = psnr(flow, case.truth, hole) - telea_db
        cases[seed], seen[seed] = (kind, case.name), seen_share(case)
        print(f"  {gains[seed]:+6.2f} / {held_gains[seed]:+6.2f} dB  seen {seen[seed]:4.0%}  {case.name}", flush=True)
    for kind in sorted({kind for kind, _ in cases.values()}):
        for label, table in (("", gains), (" + holdout", held_gains)):
            values = sorted(table[s] for s in table if cases[s][0] == kind)
            print(f"  {kind + label:<18} {len(values):3d} cases: gain min {values[0]:+.2f}, median "
                  f"{values[len(values) // 2]:+.2f}, max {values[-1]:+.2f} dB; below +2 dB: {sum(v < 2 for v in values)}")
    for low, high in ((0.0, 0.05), (0.05, 0.6), (0.6, 0.9), (0.9, 1.01)):
        group = [s for s in seen if low <= seen[s] < high]
        if group:
            below = [s for s in group if gains[s] < 2]
            held_below = [s for s in group if held_gains[s] < 2]
            print(f"  seen {low:.0%} to {min(high, 1.0):.0%}: {len(group)} cases, below +2 dB: {len(below)} "
                  f"({len(held_below)} with holdout); worst {min(gains[s] for s in group):+.2f} dB")
    worst = sorted(gains, key=gains.get)[:3]
    print(f"  worst: {cases[worst[0]][1]}: {gains[worst[0]]:+.2f} dB")
    worst_seen = sorted((s for s in gains if seen[s] >= 0.6), key=gains.get)[:3]
    if worst_seen:
        print(f"  worst where frames show 60% or more: {cases[worst_seen[0]][1]}: {gains[worst_seen[0]]:+.2f} dB")
    for seed in dict.fromkeys(worst + worst_seen):
        kind, case = random_case(media, seed)
        flow = np.stack(fill_clip(case.frames, case.masks))
        held = np.stack(fill_clip(case.frames, case.masks, holdout=case.people))
        sheet = write_sheet(sheets / f"random_{seed}.png", case,
                            {"InpaintFlow": flow, "+ holdout": held, "TELEA": inpaint_opencv(case.frames, case.masks)},
                            sheet_frames(case, flow))
        print(f"  contact sheet: {sheet}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sheets", type=Path, default=Path("inpaint-quality"),
                        help="folder for the contact sheets (default: ./inpaint-quality)")
    parser.add_argument("--full-size", action="store_true", help="also measure filling at full resolution")
    parser.add_argument("--random", type=int, default=0, metavar="N",
                        help="also score N random hole placements near the people of both clips")
    args = parser.parse_args(argv)
    cv2.setNumThreads(2)
    fine = ("InpaintFlow fine", lambda: np.stack(fill_clip(frames, masks, preset="fine")))
    frames, masks, truth = synthetic_shot()
    score("synthetic pan", frames, masks, truth, extra_runs=[fine])
    if args.full_size:
        full_size_cost()
    media = shared_folder() / "media"
    if not (media / "tennis").is_dir():
        print(f"real footage: skipped, no media at {media} (set INPAINTERZ_SHARED)")
        return 0
    score("tennis + sliding blobs", *tennis_blobs_shot(media))
    gains, held_gains, cases = {}, {}, []
    for make_case in CASES:
        case = make_case(media)
        cases.append(case)
        holdout = ("InpaintFlow + holdout", lambda: np.stack(fill_clip(case.frames, case.masks, holdout=case.people)))
        scores, results = score(case.name, case.frames, case.masks, case.truth, extra_runs=[holdout])
        gains[case.name] = scores["InpaintFlow"] - scores["InpaintOpenCV"]
        held_gains[case.name] = scores["InpaintFlow + holdout"] - scores["InpaintOpenCV"]
        picks = sheet_frames(case, results["InpaintFlow"])
        sheet = write_sheet(args.sheets / f"{make_case.__name__}.png", case,
                            {"InpaintFlow": results["InpaintFlow"], "+ holdout": results["InpaintFlow + holdout"],
                             "TELEA": results["InpaintOpenCV"]}, picks)
        print(f"  contact sheet: {sheet}")
    worst = min(gains, key=gains.get)
    print(f"worst real-footage case: {worst}: InpaintFlow {gains[worst]:+.2f} dB over TELEA in the hole")
    worst = min(held_gains, key=held_gains.get)
    print(f"worst with the people's matte as holdout: {worst}: {held_gains[worst]:+.2f} dB")
    spatial_only(cases)
    if args.random:
        random_placements(media, args.random, args.sheets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
