"""The node reference, generated from the descriptors (`inpainterz nodes --markdown`)."""
from __future__ import annotations

import json


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def node_reference(registry) -> str:
    lines = ["# Node reference", "",
             "Generated from the node descriptors by `inpainterz nodes --markdown`; do not edit by hand.", ""]
    category = None
    for nt in registry:
        if nt.category != category:
            category = nt.category
            lines += [f"## {category}", ""]
        lines += [f"### {nt.id}", "", _cell(nt.doc) + (" Wants the GPU." if nt.gpu else ""), "",
                  f"Frames: {_cell(nt.temporal_text())}.", ""]
        ports = [("input", p.name, p.type + (" (optional)" if p.optional else ""), p.doc) for p in nt.inputs]
        ports += [("output", p.name, p.type, p.doc) for p in nt.outputs]
        if ports:
            lines += ["| port | name | type | doc |", "| --- | --- | --- | --- |"]
            lines += [f"| {a} | `{b}` | {c} | {_cell(d)} |" for a, b, c, d in ports]
            lines.append("")
        if nt.params:
            lines += ["| param | type | default | range or choices | doc |", "| --- | --- | --- | --- | --- |"]
            for p in nt.params:
                if p.choices:
                    rng = ", ".join(f"`{c}`" for c in p.choices)
                elif p.min is not None or p.max is not None:
                    rng = f"{'' if p.min is None else f'{p.min:g}'} .. {'' if p.max is None else f'{p.max:g}'}"
                else:
                    rng = p.io_text()
                lines.append(f"| `{p.name}` | {p.type} | `{_cell(json.dumps(p.default))}` | {rng} | {_cell(p.doc)} |")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
