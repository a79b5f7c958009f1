"""Shot lists for `inpainterz batch`: one graph, many shots.

A shot list is either a CSV file whose header is `shot` and then
`NODE.PARAM` columns, or a JSON list of objects with a "shot" key and
"NODE.PARAM" keys. Each row is one shot. Its values are parsed and checked
by the graph's own `--set` parser, after `{shot}` in a value is replaced by
the shot's name. An empty cell (or a JSON null) leaves the graph's value.
Relative paths resolve against the shot list's folder, as paths in a graph
file resolve against the graph file's folder.

Rows are numbered as a spreadsheet shows them: in a CSV the header is row 1
and the first shot row 2; in JSON the first object is row 1. Every problem
in the file is found before any shot runs, one line each.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import GraphError, InpainterzError

SHOT_COLUMN = "shot"
# Shot names go into file names through {shot}: no separators, no hidden files.
_SHOT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class Shot:
    name: str
    row: int
    sets: tuple[tuple[str, object], ...]  # (NODE.PARAM, parsed value), in column order


class ShotsError(InpainterzError):
    """Problems in a shot list, one line each, naming the row and the column."""

    def __init__(self, source: str, lines: list[str]):
        self.source, self.problems = source, list(lines)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}: {line}" for line in self.problems]


def read_shots(path: str | Path, graph) -> list[Shot]:
    """The shots of a CSV or JSON shot list, checked against `graph`. Raises ShotsError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ShotsError(str(path), ["no such shot list; check the path"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShotsError(str(path), [f"cannot read the shot list: {exc}"]) from None
    if not text.strip():
        raise ShotsError(str(path), ["the shot list is empty; it needs a header (shot,NODE.PARAM,...) and a row per shot"])
    is_json = path.suffix.lower() == ".json" or (path.suffix.lower() != ".csv" and text.lstrip()[:1] == "[")
    rows, problems = (_json_rows if is_json else _csv_rows)(text)
    header_row = not is_json  # a CSV names its columns once, in row 1
    if not problems and not rows:
        problems.append("the shot list holds no shots")
    base = path.resolve().parent
    shots, seen = [], {}
    checked_columns: dict[str, str | None] = {}
    for row, cells in rows:
        name = cells.get(SHOT_COLUMN)
        name = "" if name is None else str(name).strip()
        if not name:
            problems.append(f"row {row}, column '{SHOT_COLUMN}': the shot has no name")
            continue
        if not _SHOT_NAME.match(name):
            problems.append(f"row {row}, column '{SHOT_COLUMN}': shot name {name!r} may hold only letters, digits, "
                            f"'_', '-' and '.', and may not start with '.' or '-' (it is used in file names)")
            continue
        if name in seen:
            problems.append(f"row {row}, column '{SHOT_COLUMN}': shot {name!r} is already named in row {seen[name]}")
            continue
        seen[name] = row
        sets, bad = [], False
        for column, value in cells.items():
            if column == SHOT_COLUMN:
                continue
            if column not in checked_columns:  # an unknown column is one problem, not one per row
                checked_columns[column] = _column_problem(graph, column, base)
                if checked_columns[column]:
                    first = 1 if header_row else row
                    problems.append(f"row {first}, column '{column}': {checked_columns[column]}")
            if checked_columns[column] or value is None or value == "":
                bad = bad or bool(checked_columns[column])
                continue
            raw = _as_text(value).replace("{shot}", name)
            try:
                _, _, parsed = graph.parse_set(column, raw, base, label="column")
            except GraphError as exc:
                problems += [f"row {row}, column '{column}': {p.message}" for p in exc.problems]
                bad = True
                continue
            sets.append((column, parsed))
        if not bad:
            shots.append(Shot(name, row, tuple(sets)))
    if problems:
        raise ShotsError(str(path), problems)
    return shots


def apply_shot(graph, shot: Shot) -> None:
    """Set the shot's values on `graph` (a copy made for this shot)."""
    for column, value in shot.sets:
        nid, pname = column.strip().split(".", 1)
        graph.nodes[nid].params[pname] = value


def _column_problem(graph, column: str, base: Path) -> str | None:
    """Why a column names no param of the graph, or None; the --set parser words the reason."""
    nid, _, pname = column.strip().partition(".")
    spec = graph.nodes.get(nid)
    nt = graph.registry.get(spec.type) if spec is not None else None
    if nt is not None and nt.param(pname) is not None:
        return None
    try:
        graph.parse_set(column, "", base, label="column")
    except GraphError as exc:
        return exc.problems[0].message
    return None


def _as_text(value) -> str:
    """A JSON value as the text `-s` would have been given."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _csv_rows(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    reader = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], []
    problems = []
    if SHOT_COLUMN not in header:
        problems.append(f"row 1: the header has no '{SHOT_COLUMN}' column; the first column is the shot name "
                        f"(header: {SHOT_COLUMN},NODE.PARAM,...)")
    for i, column in enumerate(header):
        if not column:
            problems.append(f"row 1, column {i + 1}: the header cell is empty")
        elif header.index(column) != i:
            problems.append(f"row 1, column '{column}': the column is named twice")
    if problems:
        return [], problems
    rows = []
    for row, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines between shots are fine
        if len(cells) > len(header):
            problems.append(f"row {row}: {len(cells)} cells but the header names {len(header)} columns")
            continue
        rows.append((row, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    return rows, problems


def _json_rows(text: str) -> tuple[list[tuple[int, dict]], list[str]]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"]
    if not isinstance(doc, list):
        return [], ['a JSON shot list is a list of objects: [{"shot": "sh010", "NODE.PARAM": VALUE}, ...]']
    rows, problems = [], []
    for row, item in enumerate(doc, start=1):
        if not isinstance(item, dict):
            problems.append(f"row {row}: expected an object with a \"{SHOT_COLUMN}\" key, got {type(item).__name__}")
            continue
        if SHOT_COLUMN not in item:
            problems.append(f"row {row}: the object has no \"{SHOT_COLUMN}\" key")
            continue
        rows.append((row, {str(k).strip(): v for k, v in item.items()}))
    return rows, problems
