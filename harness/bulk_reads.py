"""Python's cycle collector around bulk reads of records.

Reading a store or an export builds about a dozen objects per verdict, none of them in a
reference cycle, so the cycle collector has nothing to free there; yet it runs every 700
allocations and, every few hundred runs, walks everything still alive. At a million verdicts
`harness aggregate` spent 5.2 of its seconds in it (15 full collections), at 46k 0.2 s.

`bulk_read()` pauses the collector while records are built. In a command-line process
(`freeze_after_bulk_reads`, which `harness.cli.main` calls for the process's own command line) the
objects alive after a read are also moved out of its sight (`gc.freeze`): they live until the
command ends, and reference counting still frees whatever dies. A library caller keeps its
collector as it was, apart from the pause.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_freeze = False


def freeze_after_bulk_reads() -> None:
    """From now on, what a bulk read leaves alive is frozen (for a process that ends with its command)."""
    global _freeze
    _freeze = True


@contextmanager
def bulk_read() -> Iterator[None]:
    """The collector paused for the block (restored as it was), then, in a command-line
    process, everything alive frozen."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        if _freeze:
            gc.freeze()
