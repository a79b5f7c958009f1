"""E2FGVI inference speed on the CPU: the published loop vs our exact and bounded loops.

Seconds per frame at 432x240 over 20 tennis frames (masks dilated as the
published demo does: 3x3 cross, 4 iterations), 2 threads, with the
deterministic stand-in weights of the parity kit (speed does not depend on
the weight values). Prints the figures, the ratios, and whether the outputs
agree with the published loop's under the kit's pass criterion.

    python bench/e2fgvi_speed.py [--frames 20] [--threads 2] [--model e2fgvi]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def shared_dir():
    env = os.environ.get("INPAINTERZ_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def load_clip(shared, n, size):
    names = sorted((shared / "media" / "tennis").glob("*.png"))[:n]
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    frames, masks = [], []
    for p in names:
        img = cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
        m = cv2.imread(str(shared / "media" / "tennis_mask" / p.name), cv2.IMREAD_GRAYSCALE)
        if img.shape[:2] != (size[1], size[0]):
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
            m = cv2.resize(m, size, interpolation=cv2.INTER_NEAREST)
        frames.append(img)
        masks.append(cv2.dilate((m > 0).astype(np.uint8), cross, iterations=4))
    return np.stack(frames), np.stack(masks)


def agreement(result, expected, masks):
    hole = np.broadcast_to((masks > 0)[..., None], result.shape)
    diff = np.abs(result.astype(int) - expected.astype(int))[hole]
    outside_equal = bool((result == expected)[~hole].all())
    within1 = float((diff <= 1).mean()) if diff.size else 1.0
    ok = outside_equal and within1 >= 0.995 and (diff.max() if diff.size else 0) <= 6
    return ok, within1, int(diff.max()) if diff.size else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="e2fgvi", choices=["e2fgvi", "e2fgvi_hq"])
    ap.add_argument("--skip-fast-reference", action="store_true",
                    help="skip the published loop run with our fast kernels")
    args = ap.parse_args()

    import torch
    from inpainterz.nodes.e2fgvi import checkpoint, loop

    shared = shared_dir()
    if not (shared / "e2fgvi" / "make_test_weights.py").is_file():
        sys.exit(f"needs the parity kit in {shared} (set INPAINTERZ_SHARED)")
    sys.path.insert(0, str(shared / "e2fgvi"))
    from make_test_weights import make_state_dict

    torch.set_num_threads(args.threads)
    net = checkpoint.build(args.model)
    net.load_state_dict(make_state_dict(args.model), strict=True)
    net.eval()
    frames, masks = load_clip(shared, args.frames, (432, 240))
    n = len(frames)
    settings = loop.Settings(neighbor_stride=5, ref_step=10, num_ref=-1)
    print(f"E2FGVI ({args.model}) at 432x240, {n} frames, {args.threads} threads; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)

    def run_reference(fast):
        t, c = time.perf_counter(), time.process_time()
        out = loop.reference_loop(net, frames, masks, settings, threads=args.threads, fast=fast)
        return out, (time.perf_counter() - t) / n, (time.process_time() - c) / n

    def run_ours(mode):
        out = np.zeros_like(frames)

        def read(a, b):
            return frames[a:b], masks[a:b]

        def write(i, frame):
            out[i] = frame

        t, c = time.perf_counter(), time.process_time()
        stats = loop.inpaint(net, read, n, frames.shape[1:3], write, settings, mode=mode, threads=args.threads)
        return out, (time.perf_counter() - t) / n, (time.process_time() - c) / n, stats

    print("                                 wall s/frame (ratio)   cpu s/frame (ratio)")
    ref, t_ref, c_ref = run_reference(fast=False)
    print(f"published loop (naive)          {t_ref:7.2f}                {c_ref:7.2f}")

    def line(name, t, c, tail):
        print(f"{name:<32}{t:7.2f} (x{t_ref / t:4.2f})        {c:7.2f} (x{c_ref / c:4.2f})   {tail}", flush=True)

    if not args.skip_fast_reference:
        ref_fast, t_fast, c_fast = run_reference(fast=True)
        ok, w1, mx = agreement(ref_fast, ref, masks)
        line("published loop, our kernels", t_fast, c_fast,
             f"parity {'ok' if ok else 'FAILED'} ({w1:.4%} within 1, max {mx})")
    for mode in ("exact", "bounded"):
        out, t, c, stats = run_ours(mode)
        ok, w1, mx = agreement(out, ref, masks)
        line(f"ours, {mode}", t, c, f"parity {'ok' if ok else 'differs'} ({w1:.4%} within 1, max {mx}); "
                                    f"peak frames held {stats.peak_cached_frames}")
    print("(bounded takes references near each window, so it is not expected to match "
          "the published loop on clips longer than its reference reach)")


if __name__ == "__main__":
    main()
