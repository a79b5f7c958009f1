"""Batch throughput: 8 shots of the demo graph, with 1 worker and with 2,
locally and on Ray, and Ray's overhead per shot against plain local runs;
then one long shot, whole on 1 worker and in frame ranges (--chunk-frames)
on 2. Each range also renders InpaintFlow's reach past its edges (window + 9
frames each side), so ranges gain only when they are long against that and
the workers have cores to spare.

    python bench/batch_scaling.py [--shots 8] [--frames 24] [--width 320] [--height 180]
                                  [--long-frames 96] [--chunk-frames 24]

Each shot is the demo's synthetic pan (its own seed) cleaned by the shipped
graphs/demo_remove.json (ReadVideo, ReadMasks, DilateMask, InpaintFlow,
WriteVideo). Every configuration starts from an empty cache, so every shot
renders. "Local, 1 worker" is the same as running `inpainterz run` once per
shot in one process: it is the baseline for Ray's overhead. Ray runs on a
local cluster of this machine started with 1 and then 2 CPUs; the time to
start it is printed apart. On a machine where Ray must stay on loopback, run
the script inside `unshare -n sh -c 'ip link set lo up; python bench/batch_scaling.py'`.
"""
import argparse
import tempfile
import time
from pathlib import Path

from inpainterz.app.batch import RunOptions, run_local
from inpainterz.app.shots import read_shots
from inpainterz.app.demo import DEMO_GRAPH
from inpainterz.engine.graph import Graph
from inpainterz.app.synthetic import make_scene, write_scene


def make_shots(root: Path, n: int, width: int, height: int, frames: int) -> Path:
    rows = ["shot,read.path,masks.path,write.path"]
    for i in range(n):
        name = f"sh{(i + 1) * 10:03d}"
        write_scene(root / name, make_scene(width, height, frames, seed=i))
        rows.append(f"{name},{{shot}}/clip.mp4,{{shot}}/masks,out/{{shot}}.mp4")
    shots = root / "shots.csv"
    shots.write_text("\n".join(rows) + "\n")
    return shots


def timed(fn) -> tuple[float, list]:
    t0 = time.perf_counter()
    results = fn()
    seconds = time.perf_counter() - t0
    failed = [r.name for r in results if not r.ok]
    assert not failed, f"shots failed: {failed}"
    return seconds, results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--no-ray", action="store_true", help="local runs only")
    ap.add_argument("--long-frames", type=int, default=96, help="frames of the long shot (0: skip it)")
    ap.add_argument("--chunk-frames", type=int, default=24, help="frames per range of the long shot")
    args = ap.parse_args()
    n = args.shots
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        shots_csv = make_shots(root, n, args.width, args.height, args.frames)
        graph = Graph.load(DEMO_GRAPH)
        shots = read_shots(shots_csv, graph)
        figures = {}
        for jobs in (1, 2):
            options = RunOptions(cache_dir=str(root / f"cache-local-{jobs}"))
            figures[f"local, {jobs} worker{'s' * (jobs > 1)}"] = timed(lambda: run_local(graph, shots, options, jobs))[0]
        long_shot = []
        if args.long_frames:
            write_scene(root / "long", make_scene(args.width, args.height, args.long_frames, seed=99))
            (root / "long.csv").write_text("shot,read.path,masks.path,write.path\n"
                                           "long,long/clip.mp4,long/masks,out/long.mp4\n")
            long_shot = read_shots(root / "long.csv", graph)
            for jobs, chunk in ((1, 0), (2, args.chunk_frames)):
                options = RunOptions(cache_dir=str(root / f"cache-long-{jobs}"))
                figures[f"long, {jobs} worker{'s' * (jobs > 1)}{', ranges' if chunk else ''}"] = timed(
                    lambda: run_local(graph, long_shot, options, jobs, chunk_frames=chunk))[0]
        if not args.no_ray:
            import ray

            from inpainterz.app.ray_batch import run_on_ray

            for cpus in (1, 2):
                t0 = time.perf_counter()
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                         logging_level="ERROR")
                figures[f"ray start, {cpus} CPU{'s' * (cpus > 1)}"] = time.perf_counter() - t0
                options = RunOptions(cache_dir=str(root / f"cache-ray-{cpus}"))
                try:
                    figures[f"ray, {cpus} worker{'s' * (cpus > 1)}"] = timed(lambda: run_on_ray(graph, shots, options)[0])[0]
                    if long_shot and cpus == 2:
                        options = RunOptions(cache_dir=str(root / "cache-long-ray"))
                        figures["long, ray 2, ranges"] = timed(lambda: run_on_ray(
                            graph, long_shot, options, chunk_frames=args.chunk_frames)[0])[0]
                finally:
                    ray.shutdown()
    print(f"{n} shots of the demo graph, {args.width}x{args.height}, {args.frames} frames each; empty cache each time")
    for name, seconds in figures.items():
        if name.startswith("long"):
            continue
        if name.startswith("ray start"):
            print(f"  {name:<22} {seconds:7.2f} s (once per batch that starts its own cluster)")
        else:
            print(f"  {name:<22} {seconds:7.2f} s   {n / seconds * 60:6.1f} shots/min")
    base = figures["local, 1 worker"]
    print(f"  2 local workers: {base / figures['local, 2 workers']:.2f}x the throughput of 1")
    if "ray, 1 worker" in figures:
        print(f"  Ray's overhead against plain local runs: {(figures['ray, 1 worker'] - base) / n * 1e3:+.0f} ms per "
              f"shot with 1 worker; 2 Ray workers: {base / figures['ray, 2 workers']:.2f}x the throughput of 1 local")


    if args.long_frames:
        print(f"one shot of {args.long_frames} frames; ranges of {args.chunk_frames} frames (prelude, ranges, join)")
        for name, seconds in figures.items():
            if name.startswith("long"):
                print(f"  {name:<22} {seconds:7.2f} s   {args.long_frames / seconds:6.1f} frames/s")
        whole = figures["long, 1 worker"]
        print(f"  ranges on 2 local workers: {whole / figures['long, 2 workers, ranges']:.2f}x the speed of the "
              f"whole shot on 1")
        if "long, ray 2, ranges" in figures:
            print(f"  ranges on 2 Ray workers: {whole / figures['long, ray 2, ranges']:.2f}x")


if __name__ == "__main__":
    main()
