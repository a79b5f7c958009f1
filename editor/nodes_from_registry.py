"""The Ryven nodes package, generated from the engine's registry.

Each registered NodeType becomes one ryvencore Node class: typed ports from
its inputs and outputs, a body with one widget per param, its doc as the
description, its category as the package it is listed under. A new node
type, built in or plugin, needs no editor code.

These nodes compute nothing inside Ryven: the engine runs the graph. A node
object only carries what the graph file holds for it (id, params, unknown
keys) and shows the state of the last run.
"""
from __future__ import annotations

import colorsys
import hashlib
import html

from ryvencore import Node, NodeInputType, NodeOutputType
from ryvencore.Base import Event

from ..engine.descriptor import NodeType

CATEGORY_COLOURS = {
    "io": "#4a90d9",
    "masks": "#d9a441",
    "prompts": "#c262d6",
    "detect": "#e06a5a",
    "segment": "#4fc27a",
    "track": "#3fb8c9",
    "inpaint": "#8d7bf0",
    "unknown": "#9a3b3b",
}


def category_colour(category: str) -> str:
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    hue = int(hashlib.blake2b(category.encode(), digest_size=2).hexdigest(), 16) / 65535
    r, g, b = colorsys.hsv_to_rgb(hue, 0.55, 0.85)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def port_label(name: str, type_name: str | None, optional: bool = False) -> str:
    """'frames' when the name says the type, else 'src: Frames'; optional inputs end in '?'."""
    if type_name and name.lower() != type_name.lower():
        label = f"{name}: {type_name}"
    else:
        label = name
    return label + ("?" if optional else "")


class EngineNode(Node):
    """A node of the editor's flow: the graph file's data for one node, nothing computed here."""

    descriptor: NodeType | None = None
    type_id = ""
    category = ""
    input_names: tuple = ()
    input_types: dict = {}
    output_names: tuple = ()
    output_types: dict = {}

    def __init__(self, params):
        super().__init__(params)
        self.node_id: str | None = None
        self.params: dict = {}  # exactly what the file holds, plus what the user changed
        self.loaded_params: frozenset = frozenset()  # param names written in the file when it was opened
        self.extra: dict = {}  # unknown keys of the node, written back as they were
        self.dangling_inputs: dict = {}  # port -> "node.output" that no connection can show
        self.loaded_ui: dict | None = None
        self.document = None  # set by the document that holds the node
        self.params_changed = Event()

    def update_event(self, inp=-1):
        pass  # the engine runs the graph; ryvencore's data flow is not used

    def param_value(self, name: str):
        if name in self.params:
            return self.params[name]
        p = self.descriptor.param(name) if self.descriptor else None
        return p.default if p is not None else None

    def apply_param(self, name: str, value) -> None:
        """Set a param the user edited.

        A value equal to the default (same type too) is dropped again unless
        the file wrote it, so only params the user changed are saved.
        """
        p = self.descriptor.param(name) if self.descriptor else None
        same_as_default = p is not None and value == p.default and type(value) is type(p.default)
        if value is None or (same_as_default and name not in self.loaded_params):
            self.params.pop(name, None)
        else:
            self.params[name] = value
        self.params_changed.emit()

    def restore_param(self, name: str, present: bool, value) -> None:
        """Put a param back exactly as it was (undo)."""
        if present:
            self.params[name] = value
        else:
            self.params.pop(name, None)
        self.params_changed.emit()


def describe_html(nt: NodeType) -> str:
    """The description shown as the node's tooltip: doc, ports and params."""
    e = html.escape
    rows = [f"<b>{e(nt.id)}</b> <i>v{nt.version}, {e(nt.category)}{', wants GPU' if nt.gpu else ''}</i>",
            f"<p>{e(nt.doc)}</p>"]
    if nt.inputs:
        rows.append("<b>inputs</b>: " + ", ".join(
            f"{e(p.name)} ({p.type}{', optional' if p.optional else ''})" for p in nt.inputs))
    if nt.outputs:
        rows.append("<b>outputs</b>: " + ", ".join(f"{e(p.name)} ({p.type})" for p in nt.outputs))
    for p in nt.params:
        rows.append(f"<b>{e(p.name)}</b> ({p.type}) {e(p.doc)}")
    rows.append(f"<small>from {e(nt.origin)}</small>")
    return "<br>".join(rows)


def _gui_class(name: str, colour: str, description: str):
    from .node_body import EngineNodeGUI

    return type(f"{name}GUI", (EngineNodeGUI,), {"color": colour, "description_html": description})


def node_class(nt: NodeType) -> type:
    """A fresh Node class for one node type (fresh per session: ryvencore prefixes identifiers in place)."""
    category = nt.category or "other"
    return type(nt.id, (EngineNode,), {
        "__doc__": nt.doc,
        "title": nt.id,
        "identifier": nt.id,
        "identifier_prefix": category,  # Ryven's node list groups by this prefix
        "legacy_identifiers": [],
        "tags": [category] + [w for w in nt.doc.lower().replace(",", " ").split() if len(w) > 3][:12],
        "version": str(nt.version),
        "init_inputs": [NodeInputType(port_label(p.name, p.type, p.optional)) for p in nt.inputs],
        "init_outputs": [NodeOutputType(port_label(p.name, p.type)) for p in nt.outputs],
        "descriptor": nt,
        "type_id": nt.id,
        "category": category,
        "input_names": tuple(p.name for p in nt.inputs),
        "input_types": {p.name: p.type for p in nt.inputs},
        "output_names": tuple(p.name for p in nt.outputs),
        "output_types": {p.name: p.type for p in nt.outputs},
        "GUI": _gui_class(nt.id, category_colour(category), describe_html(nt)),
    })


def unknown_node_class(type_id: str, inputs: list[str], outputs: list[str]) -> type:
    """A stand-in for a type the registry lacks: ports from the graph's own connections, params kept as written."""
    doc = (f"'{type_id}' is not a registered node type (a plugin that is not installed, or a typo). "
           "Its params and connections are kept as written.")
    return type(f"Unknown_{type_id}", (EngineNode,), {
        "__doc__": doc,
        "title": type_id,
        "identifier": f"unknown.{type_id}",
        "identifier_prefix": None,  # the identifier is complete, so registering it again leaves it alone
        "legacy_identifiers": [],
        "tags": [],
        "version": None,
        "init_inputs": [NodeInputType(name) for name in inputs],
        "init_outputs": [NodeOutputType(name) for name in outputs],
        "descriptor": None,
        "type_id": type_id,
        "category": "unknown",
        "input_names": tuple(inputs),
        "input_types": {},
        "output_names": tuple(outputs),
        "output_types": {},
        "GUI": _gui_class(f"Unknown_{type_id}", CATEGORY_COLOURS["unknown"], html.escape(doc)),
    })


def node_classes(registry) -> dict[str, type]:
    """{type id: Node class} for every registered node type."""
    return {nt.id: node_class(nt) for nt in registry}
