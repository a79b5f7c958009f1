"""Engine time per node for a chain of no-op nodes, cold (every node renders
and commits a cache entry) and warm (every node is a cache hit).

    python bench/engine_overhead.py [--nodes 200] [--repeat 5]

The goal is under 1 ms per node warm. Cold includes the disk commit of each
entry (a folder, meta.json with fsync, a rename).
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

from inpainterz.engine import Graph, Input, Output, Param, node
from inpainterz.engine.data import Boxes
from inpainterz.engine.registry import Registry


@node("Noop", category="bench", doc="Passes small data through.",
      inputs=[Input("boxes", "Boxes", optional=True)], outputs=[Output("boxes", "Boxes")],
      params=[Param("index", "int", 0)])
def noop(ctx, boxes, index):
    # The index makes every node's key and output distinct, so a cold run renders them all.
    return Boxes({0: [[0, 0, 1, 1, 1.0, "x", index]]})


def chain(n: int) -> Graph:
    reg = Registry()
    reg.add(noop, "bench")
    g = Graph(registry=reg)
    prev = g.add("Noop", id="n0")
    for i in range(1, n):
        prev = g.add("Noop", id=f"n{i}", boxes=prev.boxes, index=i)
    return g


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as d:
            g = chain(args.nodes)
            t0 = time.perf_counter()
            r = g.run(cache_dir=Path(d) / "cache")
            cold.append(time.perf_counter() - t0)
            assert r.ok and len(r.ran()) == args.nodes
            t0 = time.perf_counter()
            r = g.run(cache_dir=Path(d) / "cache")
            warm.append(time.perf_counter() - t0)
            assert all(x.status == "cached" for x in r.nodes.values())
    n = args.nodes
    print(f"chain of {n} no-op nodes, best/median of {args.repeat} runs")
    print(f"  cold: {min(cold) / n * 1e3:.3f} / {statistics.median(cold) / n * 1e3:.3f} ms per node")
    print(f"  warm: {min(warm) / n * 1e3:.3f} / {statistics.median(warm) / n * 1e3:.3f} ms per node "
          f"(goal < 1 ms)")
    print(f"  warm/cold ratio: {statistics.median(warm) / statistics.median(cold):.2f}")


if __name__ == "__main__":
    main()
