"""inpainterz: remove objects from video with a graph of nodes."""

__version__ = "0.1.0"


def builtin_node_modules() -> tuple[str, ...]:
    """The modules of the built-in node families, which the registry loads like plugin modules.

    The engine is the layer below the nodes and never names them; the package
    hands them over here, so built-ins need no installed entry-point metadata.
    """
    from .nodes import MODULES

    return tuple(f"{__name__}.nodes.{name}" for name in MODULES)
