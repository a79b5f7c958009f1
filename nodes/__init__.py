"""Built-in node types, one module per family.

The `inpainterz` package hands these modules to the registry, which imports each and registers the NodeType
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
