"""Placing the nodes of a graph that has no positions: layered left to right.

A node's column is its depth: the longest path from a source to it, so every
connection runs rightwards. Inside a column, nodes are ordered by where their
inputs sit, which keeps most connections from crossing.
"""
from __future__ import annotations

import networkx as nx


def depths(dag: nx.DiGraph) -> dict:
    """Longest-path depth of each node; nodes on a cycle share their cycle's depth."""
    comp = nx.condensation(dag)
    member = comp.graph["mapping"]
    level: dict[int, int] = {}
    for c in nx.topological_sort(comp):
        level[c] = max((level[p] + 1 for p in comp.predecessors(c)), default=0)
    return {n: level[member[n]] for n in dag.nodes}


def layered_positions(dag: nx.DiGraph, sizes: dict | None = None, origin=(0.0, 0.0),
                      gap_x: float = 60.0, gap_y: float = 36.0, default_size=(220.0, 140.0)) -> dict:
    """{node: (x, y)} of each node's centre, columns by depth, stacked and centred vertically.

    `sizes` gives {node: (width, height)} where known, so tall nodes get room.
    """
    sizes = sizes or {}
    size = {n: sizes.get(n, default_size) for n in dag.nodes}
    level = depths(dag)
    columns: dict[int, list] = {}
    order = list(dag.nodes)  # insertion order: the order of the file
    for n in order:
        columns.setdefault(level[n], []).append(n)

    y_of: dict = {}
    x = origin[0]
    pos: dict = {}
    for col in sorted(columns):
        members = columns[col]

        def barycentre(n):
            ys = [y_of[p] for p in dag.predecessors(n) if p in y_of]
            return sum(ys) / len(ys) if ys else float("inf")

        # Sources keep the file's order; later columns follow their inputs.
        if col > 0:
            members = sorted(members, key=lambda n: (barycentre(n), order.index(n)))
        width = max(size[n][0] for n in members)
        total = sum(size[n][1] for n in members) + gap_y * (len(members) - 1)
        y = origin[1] - total / 2
        for n in members:
            h = size[n][1]
            pos[n] = (x + width / 2, y + h / 2)
            y_of[n] = y + h / 2
            y += h + gap_y
        x += width + gap_x
    return pos
