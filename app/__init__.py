"""What a person runs: batch runs of one graph over many shots, locally or on Ray."""
