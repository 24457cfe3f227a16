"""Comparing runs: the grid of a matrix (models x strategies) that the console's matrix view
and `sousa-train report` both read. Torch-free: it reads run directories only."""
