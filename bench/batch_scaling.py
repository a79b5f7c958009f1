"""Batch throughput: 8 shots of the demo graph, with 1 worker and with 2,
locally and on Ray, and Ray's overhead per shot against plain local runs.

    python bench/batch_scaling.py [--shots 8] [--frames 24] [--width 320] [--height 180]

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
                finally:
                    ray.shutdown()
    print(f"{n} shots of the demo graph, {args.width}x{args.height}, {args.frames} frames each; empty cache each time")
    for name, seconds in figures.items():
        if name.startswith("ray start"):
            print(f"  {name:<22} {seconds:7.2f} s (once per batch that starts its own cluster)")
        else:
            print(f"  {name:<22} {seconds:7.2f} s   {n / seconds * 60:6.1f} shots/min")
    base = figures["local, 1 worker"]
    print(f"  2 local workers: {base / figures['local, 2 workers']:.2f}x the throughput of 1")
    if "ray, 1 worker" in figures:
        print(f"  Ray's overhead against plain local runs: {(figures['ray, 1 worker'] - base) / n * 1e3:+.0f} ms per "
              f"shot with 1 worker; 2 Ray workers: {base / figures['ray, 2 workers']:.2f}x the throughput of 1 local")


if __name__ == "__main__":
    main()
