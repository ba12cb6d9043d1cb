"""The false-hit guard: decides whether a nearest-neighbour candidate may really be served."""
