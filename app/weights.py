"""`inpainterz weights list|fetch NAME...|verify [NAME...]`: the command-line side of checkpoints.

`add_commands` puts the three subcommands on the `weights` parser of the one
CLI parser. Each `cmd_*` takes the parsed namespace and returns the exit code:
0 done, 1 a download or check failed, 2 a bad name or option, 130 interrupted.
"""
from __future__ import annotations

import json
import os
import sys

from ..engine import checkpoints as ck
from ..engine.errors import BadInput


def add_commands(parser) -> None:
    """Add `list`, `fetch` and `verify` under the `weights` subcommand's parser."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ckpt_dir = dict(metavar="DIR", help="checkpoint folder: searched first, and where fetch writes "
                                        "(default for fetch: $XDG_DATA_HOME/inpainterz/ckpt)")
    p = sub.add_parser("list", help="every checkpoint of the manifest and whether it is here")
    p.add_argument("--ckpt-dir", **ckpt_dir)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("fetch", help="download checkpoints: a name, a bundle, 'default' or 'all'")
    p.add_argument("name", nargs="*", default=["default"], help="what to fetch (default: the default set)")
    p.add_argument("--ckpt-dir", **ckpt_dir)
    p.add_argument("--mirror", metavar="URL",
                   help=f"base URL of a mirror laid out like the checkpoint folder (or ${ck.WEIGHTS_URL_ENV})")
    p.add_argument("--force", action="store_true", help="download again even if a good copy is present")
    p = sub.add_parser("verify", help="hash present checkpoints against the manifest")
    p.add_argument("name", nargs="*", help="what to verify (default: every checkpoint present)")
    p.add_argument("--ckpt-dir", **ckpt_dir)
    p.add_argument("--json", action="store_true", help="print JSON")


def _ckpt_dirs(args) -> list:
    return [args.ckpt_dir] if args.ckpt_dir else []


def _status_json(st: ck.Status) -> dict:
    e = st.entry
    return {"name": e.name, "bundle": e.bundle, "file": e.file, "state": st.state, "detail": st.detail,
            "path": str(st.path) if st.path else None, "size": e.size, "check": e.check,
            "default": e.default, "node": e.node, "model": e.model, "licence": e.licence}


def _print_table(statuses: list[ck.Status], out, dirs: list) -> None:
    rows = [("NAME", "STATE", "SIZE", "NODE", "FILE")]
    for st in statuses:
        e = st.entry
        size = (f"{e.size / 1e6:.0f} MB" if e.size >= 1e6 else f"{e.size / 1e3:.1f} KB") if e.size else "?"
        name = e.name + (" *" if e.default else "")
        rows.append((name, st.state, size, f"{e.node}:{e.model}", str(st.path) if st.path else e.file))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4], file=out)
    print(f"(* = in the default set: {ck.fetch_hint('default', dirs[0] if dirs else None)})", file=out)
    missing = sorted({st.entry.fetch_name for st in statuses if st.state == "missing" and st.entry.default})
    if missing:
        print("missing from the default set: " + ", ".join(missing), file=out)


def cmd_list(args) -> int:
    out = sys.stdout
    dirs = _ckpt_dirs(args)
    statuses = ck.list_status(dirs)
    if args.json:
        json.dump({"dirs": [str(d) for d in ck.search_dirs(dirs)],
                   "checkpoints": [_status_json(s) for s in statuses]}, out, indent=2)
        out.write("\n")
    else:
        print("checkpoint folders searched: " + ", ".join(str(d) for d in ck.search_dirs(dirs)), file=out)
        _print_table(statuses, out, dirs)
    return 0


def cmd_fetch(args) -> int:
    from .progress import TransferProgress

    err = sys.stderr
    dest = ck.fetch_dir(_ckpt_dirs(args))
    names = args.name or ["default"]
    base_url = args.mirror or os.environ.get(ck.WEIGHTS_URL_ENV)
    progress = TransferProgress(stream=err)
    try:
        for name in names:
            ck.select(name)  # a bad name is reported before anything downloads
        for name in names:
            ck.fetch(name, dest=dest, progress=progress, base_url=base_url, force=args.force)
    except BadInput as exc:
        print(f"inpainterz weights fetch: {exc}", file=err)
        return 2
    except ck.FetchError as exc:
        print(f"inpainterz weights fetch: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        print("inpainterz weights fetch: interrupted; run the same command again to resume", file=err)
        return 130
    return 0


def cmd_verify(args) -> int:
    out = sys.stdout
    names = args.name or None
    try:
        statuses = ck.verify(names, ckpt_dirs=_ckpt_dirs(args))
    except BadInput as exc:
        print(f"inpainterz weights verify: {exc}", file=sys.stderr)
        return 2
    present = [s for s in statuses if s.path is not None]
    if args.json:
        json.dump({"checkpoints": [_status_json(s) for s in statuses]}, out, indent=2)
        out.write("\n")
    else:
        for s in present:
            print(f"{s.entry.file}: {s.state} ({s.detail})", file=out)
        if names:
            for s in statuses:
                if s.path is None:
                    print(f"{s.entry.file}: missing ({s.detail})", file=out)
        if not present:
            dirs = _ckpt_dirs(args)
            print(f"no checkpoints present; get the default set with: "
                  f"{ck.fetch_hint('default', dirs[0] if dirs else None)}", file=out)
    bad = [s for s in statuses if s.path is not None and not s.ok]
    if names and any(s.path is None for s in statuses):
        return 1
    return 1 if bad else 0


COMMANDS = {"list": cmd_list, "fetch": cmd_fetch, "verify": cmd_verify}
