"""geoanom's benchmarks: scripts that print figures as JSON lines (not tests).

Run them all with ``python -m bench`` (see :mod:`bench.run`) from the repository root.
"""
