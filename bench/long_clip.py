"""Peak memory and speed against clip length: does a long shot go through in bounded memory?

Generates, for each length, the plate (a moving pattern) and a PNG label
sequence (a moving disk), then runs ReadImages (or ReadVideo), ReadMasks,
DilateMask, InpaintFlow, WriteVideo on each in a child process with a fresh
cache, and prints the child's peak RSS, its RSS sampled through the run, its
seconds per frame, and the growth of all of them from the shortest clip.

    python bench/long_clip.py                          # PNG plates, 432x240: 70, 700 and 1400 frames
    python bench/long_clip.py --source video           # an h264 clip with audio, 640x360: 500 and 3000 frames
    python bench/long_clip.py --lengths 200 1200 --inpaint InpaintOpenCV

Goal: peak RSS under 1.5 GB, and under 15% growth from the shortest to the longest.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

WIDTH, HEIGHT, FPS = 640, 360, Fraction(25)
SIZES = {"video": (640, 360), "images": (432, 240)}
LENGTHS = {"video": [500, 3000], "images": [70, 700, 1400]}


def make_clip(path: Path, frames: int) -> None:
    """Encode frame by frame: the clip is never held in memory."""
    import av
    import numpy as np

    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    ramp = np.linspace(0, 255, WIDTH, dtype=np.float32)[None, :]
    rows = np.linspace(0, 255, HEIGHT, dtype=np.float32)[:, None]
    sr = 48000
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=sr, layout="mono")
        done = 0
        for i in range(frames):
            img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            img[..., 0] = ((ramp + 3 * i) % 256).astype(np.uint8)
            img[..., 1] = ((rows + 2 * i) % 256).astype(np.uint8)
            img[..., 2] = (((ramp + rows) / 2 + i) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in vs.encode(frame):
                out.mux(pkt)
            while done < int((i + 1) / FPS * sr):
                k = min(1024, int((i + 1) / FPS * sr) - done)
                t = (np.arange(done, done + k) / sr).astype(np.float32)
                af = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * np.pi * 440 * t))[None], format="flt", layout="mono")
                af.sample_rate, af.pts = sr, done
                done += k
                for pkt in audio.encode(af):
                    out.mux(pkt)
        for stream in (vs, audio):
            for pkt in stream.encode(None):
                out.mux(pkt)
    os.replace(tmp, path)


def make_frames(folder: Path, frames: int) -> None:
    """PNG plates of a moving pattern, written one at a time."""
    import cv2
    import numpy as np

    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for i in range(frames):
        img = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, ((xx + yy) / 2 + i) % 256], -1).astype(np.uint8)
        cv2.imwrite(str(tmp / f"{i:05d}.png"), img)
    os.replace(tmp, folder)


def disk_center(i: int) -> tuple[int, int]:
    span = WIDTH - 160
    x = 80 + (i * 4) % (2 * span)
    return (x if x <= 80 + span else 2 * (80 + span) - x), HEIGHT // 2 + int(40 * ((i // 50) % 2 * 2 - 1))


def make_masks(folder: Path, frames: int) -> None:
    import cv2
    import numpy as np

    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i in range(frames):
        m = np.zeros((HEIGHT, WIDTH), np.uint8)
        cv2.circle(m, disk_center(i), 30, 1, -1)
        cv2.imwrite(str(tmp / f"{i:05d}.png"), m)
    os.replace(tmp, folder)


def source_name(source: str, frames: int) -> str:
    return f"clip{frames}.mp4" if source == "video" else f"plates{WIDTH}x{HEIGHT}_{frames}"


def prepare(workdir: Path, frames: int, source: str) -> tuple[Path, Path]:
    clip, masks = workdir / source_name(source, frames), workdir / f"masks{WIDTH}x{HEIGHT}_{frames}"
    if not clip.exists():
        (make_clip if source == "video" else make_frames)(clip, frames)
    if not masks.exists():
        make_masks(masks, frames)
    return clip, masks


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 ** 2


def child(workdir: Path, frames: int, inpaint: str, source: str) -> None:
    """Run the graph once in this process and print a JSON line of figures."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import threading

    from inpainterz.engine import Graph

    clip, masks = workdir / source_name(source, frames), workdir / f"masks{WIDTH}x{HEIGHT}_{frames}"
    cache = workdir / f"cache{frames}"
    shutil.rmtree(cache, ignore_errors=True)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.wait(0.1):
            samples.append((time.perf_counter() - t0, rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    g = Graph(base_dir=workdir)
    read = g.add("ReadVideo" if source == "video" else "ReadImages", id="read", path=clip.name)
    mattes = g.add("ReadMasks", id="mattes", path=masks.name)
    grow = g.add("DilateMask", id="grow", masks=mattes.masks, radius=8)
    fill = g.add(inpaint, id="fill", frames=read.frames, masks=grow.masks)
    g.add("WriteVideo", id="write", frames=fill.frames, path=f"out/clean{frames}.mp4")
    sampler.start()
    t0 = time.perf_counter()
    res = g.run(cache_dir=cache)
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # RSS at each tenth of the run: growth inside one run shows as a rising row.
    tenths = [round(max([r for t, r in samples if t <= seconds * k / 10] or [0.0])) for k in range(1, 11)]
    shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps({"frames": frames, "ok": res.ok, "errors": [r.error for r in res.failed],
                      "seconds": seconds, "peak_mb": peak_kb / 1024, "rss_by_tenth": tenths,
                      "nodes": {n: round(r.seconds, 2) for n, r in res.nodes.items()}}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", choices=tuple(SIZES), default="images",
                    help="images: ReadImages of PNG plates (432x240); video: ReadVideo of an h264 clip (640x360)")
    ap.add_argument("--lengths", type=int, nargs="+", help="clip lengths (default 70 700 1400 for images, "
                                                          "500 3000 for video)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "inpainterz-long-clip")
    ap.add_argument("--inpaint", default="InpaintFlow", help="inpaint node type (InpaintFlow or InpaintOpenCV)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    global WIDTH, HEIGHT
    WIDTH, HEIGHT = SIZES[args.source]
    args.lengths = args.lengths or LENGTHS[args.source]
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.child:
        child(args.workdir, args.child, args.inpaint, args.source)
        return 0

    from inpainterz.engine.registry import default_registry

    if args.inpaint not in default_registry():
        print(f"{args.inpaint} is not a registered node type; falling back to InpaintOpenCV")
        args.inpaint = "InpaintOpenCV"
    rows = []
    for n in args.lengths:
        t0 = time.perf_counter()
        prepare(args.workdir, n, args.source)
        print(f"{n} frames: inputs ready in {time.perf_counter() - t0:.1f} s", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--workdir", str(args.workdir),
                               "--inpaint", args.inpaint, "--source", args.source], capture_output=True, text=True)
        if proc.returncode:
            print(proc.stdout, proc.stderr)
            return 1
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if not row["ok"]:
            print(f"{n} frames: the graph failed: {row['errors']}")
            return 1
        rows.append(row)
        print(f"{n:>6} frames  peak RSS {row['peak_mb']:7.0f} MB  {1000 * row['seconds'] / n:7.1f} ms/frame  "
              f"total {row['seconds']:.0f} s  nodes {row['nodes']}", flush=True)
        print(f"{'':>6}         RSS by tenth of the run (MB): {row['rss_by_tenth']}", flush=True)
    for prev, row in zip(rows, rows[1:]):
        print(f"peak RSS {prev['frames']} -> {row['frames']} frames: {row['peak_mb'] - prev['peak_mb']:+.0f} MB")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        growth = b["peak_mb"] / a["peak_mb"] - 1
        speed = (b["seconds"] / b["frames"]) / (a["seconds"] / a["frames"])
        print(f"peak RSS growth {a['frames']} -> {b['frames']} frames: {100 * growth:+.1f}% "
              f"(goal < 15%, and under 1536 MB: {'met' if growth < 0.15 and b['peak_mb'] < 1536 else 'NOT met'})")
        print(f"seconds per frame ratio {b['frames']}/{a['frames']}: {speed:.2f}x (inpaint node: {args.inpaint})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
