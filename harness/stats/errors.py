"""The error every statistics function raises for bad input, defined once for harness.stats.

It is both a `BadInput` (so the CLI prints one `harness: error: ...` line and exits 2 when a
user's file feeds bad data into a statistic) and a `ValueError` (what a notebook user calling the
function directly expects to catch).
"""

from __future__ import annotations

from harness.errors import BadInput


class StatsInputError(BadInput, ValueError):
    """The data handed to a statistic cannot be used (wrong shape, columns or values)."""


__all__ = ["StatsInputError"]
