"""The error the statistics functions raise for bad input.

It is both a `BadInput` (so the CLI prints one `harness: error: ...` line and exits 2) and a
`ValueError` (so notebook code and older callers that catch ValueError keep working). One class
for all of harness.stats: the calibration/agreement modules define it in `_input`, and this
module re-exports that class so `except StatsInputError` catches both families.
"""

from __future__ import annotations

try:
    from harness.stats._input import StatsInputError
except ImportError:  # pragma: no cover - only if that module is renamed
    from harness.errors import BadInput

    class StatsInputError(BadInput, ValueError):  # type: ignore[no-redef]
        """Input a statistics function cannot use: missing columns, bad options, too few systems."""


__all__ = ["StatsInputError"]
