"""The `inpainterz` command.

Exit codes: 0 done; 1 a node failed; 2 a bad graph, param, --set value or
input file (one line per problem); 130 interrupted. Tracebacks only with
--debug.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from . import weights
from ..engine.atomic import write_text_atomic
from ..engine.errors import GraphError, InpainterzError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _registry():
    from ..engine.registry import default_registry

    reg = default_registry()
    for problem in reg.problems:
        _err(f"warning: {problem}")
    return reg


def _add_run_options(p: argparse.ArgumentParser, jobs_help: str = "independent nodes to run at once (default 1)") -> None:
    p.add_argument("--cache-dir", help="cache folder (default $INPAINTERZ_CACHE or ~/.cache/inpainterz)")
    p.add_argument("--cache-size", help="cache size budget, e.g. 20G (default $INPAINTERZ_CACHE_SIZE or 20G)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--jobs", "-j", type=int, default=1, help=jobs_help)
    p.add_argument("--no-cache", action="store_true", help="run every node, ignoring cached results")
    p.add_argument("--ckpt-dir", metavar="DIR", help="folder holding model checkpoints, searched first "
                   "(then $INPAINTERZ_CKPT, ./ckpt and $XDG_DATA_HOME/inpainterz/ckpt)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inpainterz", description="Remove objects from video with a graph of nodes.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run a graph file")
    p.add_argument("graph")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a param (repeatable); parsed by the param's type")
    p.add_argument("--report", help="write a JSON report of the run to this file")
    p.add_argument("--target", action="append", default=[], metavar="NODE",
                   help="run only what this node needs (repeatable)")
    p.add_argument("--frames", metavar="A-B",
                   help="render only what frames A..B (inclusive, from 0) of the outputs need")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    _add_run_options(p)

    p = sub.add_parser("batch", help="run a graph over a list of shots, locally or on a Ray cluster")
    p.add_argument("graph")
    p.add_argument("shots", help="CSV (header: shot,NODE.PARAM,...) or JSON list of {\"shot\": ..., \"NODE.PARAM\": ...}")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a param for every shot (repeatable); shot values win")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the shots on Ray: alone, start a local cluster for this run; "
                        "'auto' or HOST:PORT joins a running one")
    p.add_argument("--chunk-frames", type=int, default=0, metavar="N",
                   help="split each shot's per-frame and window stages into ranges of N frames that run as "
                        "tasks of their own (causal and whole stages run first, in one task)")
    p.add_argument("--report", help="write a JSON report of every shot to this file")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    _add_run_options(p, jobs_help="tasks to run at once: shots, or frame ranges with --chunk-frames "
                                  "(default 1; on Ray, Ray's resources decide)")

    p = sub.add_parser("validate", help="check a graph file and print every problem")
    p.add_argument("graph")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--ckpt-dir", metavar="DIR", help="checkpoint folder searched first, as for run")

    p = sub.add_parser("nodes", help="list the node types")
    p.add_argument("--json", action="store_true", help="print every descriptor as JSON")
    p.add_argument("--markdown", action="store_true", help="print the node reference as Markdown")

    p = sub.add_parser("describe", help="describe one node type")
    p.add_argument("type")

    p = sub.add_parser("cache", help="show or clear the cache")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--cache-dir")
    p.add_argument("--cache-size")

    p = sub.add_parser("weights", help="list, fetch or verify model checkpoints")
    weights.add_commands(p)

    p = sub.add_parser("edit", help="open the visual editor")
    p.add_argument("graph", nargs="?")
    p.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window and exit")
    p.add_argument("--ckpt-dir", metavar="DIR", help="checkpoint folder searched first, as for run")

    p = sub.add_parser("demo", help="make a sample shot and remove its moving object (no weights needed)")
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    return parser


def cmd_run(args) -> int:
    from ..engine.config import RunConfig
    from ..engine.devices import check_device_spec
    from ..engine.executor import run_graph
    from ..engine.graph import Graph
    from .progress import progress_printer

    err = check_device_spec(args.device)
    if err:
        _err(err)
        return EXIT_BAD_INPUT
    span = None
    if args.frames is not None:
        from ..engine.frames import parse_span

        try:
            span = parse_span(args.frames)
        except ValueError as exc:
            _err(f"--frames: {exc}")
            return EXIT_BAD_INPUT
    _registry()
    graph = Graph.load(args.graph)
    graph.apply_sets(args.set)
    cache = _open_cache(args)
    if cache is None:
        return EXIT_BAD_INPUT
    report_problem = _output_file_problem(args.report) if args.report else None
    if report_problem:
        _err(f"--report {args.report}: {report_problem}")
        return EXIT_BAD_INPUT
    printer = progress_printer()
    cancel = threading.Event()
    config = RunConfig(cache=cache, device=args.device, jobs=args.jobs, no_cache=args.no_cache,
                       ckpt_dirs=(args.ckpt_dir,) if args.ckpt_dir else (), cancel=cancel)

    def on_sigint(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        _err("\ninterrupted: stopping at the next chunk (Ctrl-C again to abort now)")

    old = signal.signal(signal.SIGINT, on_sigint)
    try:
        result = run_graph(graph, targets=args.target or None, frames=span, config=config, on_event=printer)
    finally:
        signal.signal(signal.SIGINT, old)
        printer.close()
    report_failed = False
    if args.report:
        try:
            write_text_atomic(args.report, json.dumps(result.report(), indent=2, sort_keys=True) + "\n")
        except OSError as exc:  # checked before the run; the disk can still fill up during it
            _err(f"--report {args.report}: cannot write it ({exc.strerror or exc}); the run itself finished")
            report_failed = True
    for rep in result.failed:
        _err(f"error: {rep.error}")
        if args.debug and rep.traceback:
            _err(rep.traceback)
    if result.cancelled:
        _err("interrupted: finished nodes are cached; run again to continue")
    counts = {}
    for r in result.nodes.values():
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    clips = [r.frames for r in result.nodes.values() if r.frames is not None]
    if clips:
        summary += (f"; frames: {sum(f['rendered'] for f in clips)} rendered, "
                    f"{sum(f['reused'] for f in clips)} reused")
    _err(f"{len(result.nodes)} nodes: {summary} in {result.seconds:.2f}s")
    return result.exit_code() or (EXIT_BAD_INPUT if report_failed else EXIT_OK)


def _open_cache(args, writable: bool = True):
    """The cache the options name, or None after saying why it cannot be used (found before anything runs)."""
    from ..engine.cache import Cache

    try:
        cache = Cache(args.cache_dir, args.cache_size)
    except ValueError as exc:
        _err(f"--cache-size: {exc}")
        return None
    except OSError as exc:
        where = exc.filename or args.cache_dir
        _err(f"--cache-dir: cannot use {where} as the cache folder ({exc.strerror or exc}); "
             f"point --cache-dir at a writable folder")
        return None
    if writable and not os.access(cache.tmp_dir, os.W_OK):
        _err(f"--cache-dir: the cache folder {cache.root} is not writable; point --cache-dir at a writable folder")
        return None
    return cache


def _output_file_problem(path_text: str) -> str | None:
    """Why a file could not be written at this path, checked before a run rather than after it."""
    from pathlib import Path

    from ..engine.paths import name_problem

    path = Path(path_text).expanduser().absolute()
    problem = name_problem(path)
    if problem:
        return problem
    if path.is_dir():
        return "is a folder; give a file name"
    probe = path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK):
        return f"the folder {probe} is not writable"
    return None


def cmd_batch(args) -> int:
    from .batch import cmd_batch as batch

    _registry()
    if _open_cache(args) is None:
        return EXIT_BAD_INPUT
    report_problem = _output_file_problem(args.report) if args.report else None
    if report_problem:
        _err(f"--report {args.report}: {report_problem}")
        return EXIT_BAD_INPUT
    return batch(args)


def cmd_validate(args) -> int:
    from ..engine.config import RunConfig
    from ..engine.graph import Graph

    _registry()
    graph = Graph.load(args.graph)
    graph.apply_sets(args.set)
    graph.check(config=RunConfig(ckpt_dirs=(args.ckpt_dir,) if args.ckpt_dir else ()))
    print(f"{args.graph}: ok ({len(graph.nodes)} nodes, {len(graph.edges())} connections)")
    return EXIT_OK


def cmd_nodes(args) -> int:
    reg = _registry()
    if args.json:
        print(json.dumps([nt.to_json() for nt in reg], indent=2))
        return EXIT_OK
    if args.markdown:
        from .docs import node_reference

        print(node_reference(reg), end="")
        return EXIT_OK
    category = None
    for nt in reg:
        if nt.category != category:
            category = nt.category
            print(f"{category}:")
        ins = ", ".join(f"{i.name}:{i.type}{'?' if i.optional else ''}" for i in nt.inputs)
        outs = ", ".join(f"{o.name}:{o.type}" for o in nt.outputs) or "files"
        print(f"  {nt.id:<16} {ins or '-'} -> {outs}{'  [gpu]' if nt.gpu else ''}")
        print(f"  {'':<16} {nt.doc}")
    return EXIT_OK


def cmd_describe(args) -> int:
    import difflib

    reg = _registry()
    nt = reg.get(args.type)
    if nt is None:
        close = difflib.get_close_matches(args.type, [t.id for t in reg], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        _err(f"unknown node type '{args.type}'{hint}; `inpainterz nodes` lists the types")
        return EXIT_BAD_INPUT
    print(nt.describe())
    return EXIT_OK


def cmd_cache(args) -> int:
    from ..engine.cache import human_bytes

    cache = _open_cache(args, writable=args.action == "clear")
    if cache is None:
        return EXIT_BAD_INPUT
    if args.action == "clear":
        n = cache.clear()
        print(f"removed {n} entries from {cache.root}")
    else:
        info = cache.info()
        print(f"cache:   {info['path']}\nentries: {info['entries']}\n"
              f"size:    {human_bytes(info['bytes'])} of {human_bytes(info['budget'])} budget")
    return EXIT_OK


def cmd_weights(args) -> int:
    return weights.COMMANDS[args.action](args)


def cmd_edit(args) -> int:
    from ..editor.app import main as editor_main

    return editor_main(args.graph, screenshot=args.screenshot, ckpt_dir=args.ckpt_dir)


def cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(args.out)


COMMANDS = {"run": cmd_run, "batch": cmd_batch, "validate": cmd_validate, "nodes": cmd_nodes, "describe": cmd_describe,
            "cache": cmd_cache, "weights": cmd_weights, "edit": cmd_edit, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GraphError as exc:
        for line in exc.lines():
            _err(line)
        return EXIT_BAD_INPUT
    except InpainterzError as exc:
        _err(f"error: {exc}")
        if args.debug:
            raise
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        _err(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
