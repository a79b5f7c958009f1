"""Mutated graph files: loading and validation raise only the project's own errors.

The shipped graphs are mutated two ways: as text (bytes cut, repeated,
replaced, tokens inserted) and as documents (any value swapped for another
JSON value, keys dropped or duplicated). Whatever comes out, `Graph.load`
either gives a graph whose `validate` returns problems as values, or raises
GraphError; nothing else may escape.
"""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inpainterz.engine import Graph
from inpainterz.engine.errors import InpainterzError

GRAPHS = sorted((Path(__file__).resolve().parent.parent / "graphs").glob("*.json"))
TEXTS = [p.read_text() for p in GRAPHS]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 40), max_value=10 ** 40),
    st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["", "\n", "a.b", "read.frames\n", "x\u0000y", "/dev/zero", "%04d.png", "../" * 30,
                     "~", "é" * 300, "1e999", "read.frames"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
tokens = st.sampled_from(['{', '}', '[', ']', ',', ':', '"', '\\', 'NaN', 'Infinity', '-', '1e999', '9' * 50,
                          '"nodes": {}', '"type": 1', '7' * 5000, '\u0000', '\ud800', 'null', '"version": 2'])


def _load(tmp_path: Path, text: str) -> None:
    path = tmp_path / "g.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        g = Graph.load(path)
    except InpainterzError:
        return
    problems = g.validate(check_files=True)
    assert isinstance(problems, list)
    for p in problems:
        str(p)
    if not problems:
        g.dumps()


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(TEXTS) - 1), data=st.data())
def test_text_mutations_raise_only_graph_errors(tmp_path, which, data):
    text = TEXTS[which]
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 40)))
        op = data.draw(st.sampled_from(["cut", "repeat", "token", "swap", "nest"]))
        if op == "cut":
            text = text[:i] + text[j:]
        elif op == "repeat":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "token":
            text = text[:i] + data.draw(tokens) + text[i:]
        elif op == "swap":
            text = text[:i] + data.draw(st.text(max_size=3)) + text[j:]
        else:  # deep nesting once made the parser hit Python's recursion limit
            k = data.draw(st.sampled_from([10, 70, 999, 3000]))
            text = text[:i] + "[" * k + text[i:j] + "]" * k + text[j:]
    _load(tmp_path, text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, len(TEXTS) - 1), data=st.data())
def test_document_mutations_raise_only_graph_errors(tmp_path, which, data):
    doc = json.loads(TEXTS[which])
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = data.draw(st.sampled_from(paths))
        doc = _replace(doc, path, data.draw(json_values))
    text = json.dumps(doc)
    if data.draw(st.booleans()) and isinstance(doc, dict) and doc:
        # JSON allows a key twice; a graph file must not (the last one would win silently).
        key = data.draw(st.sampled_from(sorted(doc)))
        text = text[:-1] + (", " if len(doc) else "") + json.dumps(key) + ": " + json.dumps(data.draw(json_values)) + "}"
    _load(tmp_path, text)


def test_every_shipped_graph_loads():
    for path in GRAPHS:
        Graph.load(path).validate(check_files=False)
