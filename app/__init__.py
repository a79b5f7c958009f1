"""What a person runs: the command line, progress display, the demo and docs generation.

Built on the engine and the built-in nodes; nothing below this layer imports it.
"""
