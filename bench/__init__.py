"""fieldcrew benchmarks (issue 4): ``python -m bench [--quick]``, ``make bench[-quick]``."""
