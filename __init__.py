"""inpainterz: remove objects from video with a graph of nodes."""

__version__ = "0.1.0"
