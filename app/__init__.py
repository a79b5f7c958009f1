"""What a person runs: the command line, progress display, batch runs of one graph over many shots (locally or on Ray), the demo and docs generation.

Built on the engine and the built-in nodes; nothing below this layer imports it.
"""
