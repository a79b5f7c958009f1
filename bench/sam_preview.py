"""What a click costs in the editor's instant mask: SAM's encoder once per frame, then the decoder per click.

Prints the encoder's time for one frame, the time to read a stored
embedding back from the cache, and the decoder's time per click (median of
several), on one frame of the shared tennis clip when it is there, else a
synthetic frame. Random ViT-B weights: timings do not depend on the values.

    python bench/sam_preview.py [--clicks 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def frame() -> np.ndarray:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "media" / "tennis" / "00010.png"
    if path.exists():
        import cv2

        return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (240, 432, 3), dtype=np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from segment_anything import sam_model_registry

    from inpainterz.editor import sam_preview as sp
    from inpainterz.engine.cache import Cache

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sam = sam_model_registry["vit_b"]().eval()
    image = frame()
    h, w = image.shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "sam.pth"
        ckpt.write_bytes(b"stand-in: only its stat goes into the key")
        cache = Cache(Path(tmp) / "cache")
        key = sp.embedding_key(image, "vit_b", ckpt)
        t0 = time.perf_counter()
        emb = sp.compute_embedding(sam, image)
        encode = time.perf_counter() - t0
        sp.store_embedding(cache, key, emb)
        t0 = time.perf_counter()
        emb = sp.load_embedding(cache, key)
        load = time.perf_counter() - t0
        rng = np.random.default_rng(1)
        times = []
        points = []
        for n in range(args.clicks):
            points.append([float(rng.integers(0, w)), float(rng.integers(0, h)), n % 3 != 2, 1])
            prompts = {1: {"boxes": [], "points": list(points)}}
            t0 = time.perf_counter()
            sp.decode(sam, emb, prompts, "auto", 0)
            times.append(time.perf_counter() - t0)
    print(f"frame {w}x{h}, torch threads {args.threads}")
    print(f"encoder (once per frame):      {encode:7.3f} s")
    print(f"embedding read from the cache: {load:7.3f} s")
    print(f"decoder per click: median {statistics.median(times):.3f} s, first {times[0]:.3f} s, "
          f"max {max(times):.3f} s over {len(times)} clicks")
    print(f"first click / later click:     {(encode + times[0]) / statistics.median(times):7.1f}x")


if __name__ == "__main__":
    main()
