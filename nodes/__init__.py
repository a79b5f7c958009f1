"""Built-in node types, one module per family.

The registry imports each module named here and registers the NodeType
objects it defines. None of them imports torch at module level: model code is
imported inside render, so listing nodes stays fast and torch-free.
"""

MODULES = (
    "io",
    "masks",
    "prompts",
    "detect",
    "segment",
    "track",
    "inpaint",
    "inpaint_e2fgvi",
)
