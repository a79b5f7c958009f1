"""The inpainterz engine: node descriptors, registry, graphs, cache, executor.

No model code lives here and torch is never imported at module level.
"""
from .data import Boxes, Frames, KeyMasks, Masks, Points, SourceInfo
from .descriptor import Input, NodeType, Output, Param, node
from .errors import BadInput, Cancelled, GraphError, InpainterzError, NodeFailed, Problem
from .frames import Temporal, causal, per_frame, window
from .graph import Graph, NodeRef, OutputRef

__all__ = [
    "BadInput", "Boxes", "Cancelled", "Frames", "Graph", "GraphError", "Input", "InpainterzError",
    "KeyMasks", "Masks", "NodeFailed", "NodeRef", "NodeType", "Output", "OutputRef", "Param", "Points",
    "Problem", "SourceInfo", "Temporal", "causal", "node", "per_frame", "window",
]
