"""Bulk reads of verdict records: Python's cycle collector paused around them, and their
DataFrame built a column at a time.

Reading a store or an export builds about a dozen objects per verdict, none of them in a
reference cycle, so the cycle collector has nothing to free there; yet it runs every 700
allocations and, every few hundred runs, walks everything still alive. At a million verdicts
`harness aggregate` spent 5.2 of its seconds in it (15 full collections), at 46k 0.2 s.

`bulk_read()` pauses the collector while records are built. In a command-line process
(`freeze_after_bulk_reads`, which `harness.cli.main` calls for the process's own command line) the
objects alive after a read are also moved out of its sight (`gc.freeze`): they live until the
command ends, and reference counting still frees whatever dies. A library caller keeps its
collector as it was, apart from the pause.

The C heap: glibc keeps the pages of what a bulk phase frees (an import's answers' texts, the
million-row lists a step builds and drops), and the next step stacks its peak on them.
`release_free_memory` hands them back after such a phase; `after_large_read` (the `harness`
process, once it read 200,000 verdicts or more) has blocks of a megabyte or more mapped on their
own, so freeing one returns it at once, and keeps 256 MB of a heap's free top for the next
allocations instead of handing it back and faulting it in again (before_large_read sets that
keep already before a large store is read).

`pd.DataFrame(records)` needs every record alive at once as a dict: at a million verdicts those
dicts and their separate copies of every repeated text held 1.8 GB before the frame existed (the
report's peak). `flat_records_frame` puts each record's values straight into one list per column
and drops the record; a text repeated down a column (model names, item ids, levels, categories)
is held once. The frame is the one `pd.DataFrame(records)` gives: columns in order of first
appearance, NaN where a record lacks a key, each column's dtype inferred from its values (a test
compares them).
"""

from __future__ import annotations

import ctypes
import gc
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_freeze = False
#: glibc's mallopt parameter numbers for the mmap threshold and the heap's top pad, and what the
#: CLI sets them to (1 MiB, 256 MiB) once it has read LARGE_READ records or more.
M_MMAP_THRESHOLD = -3
M_TOP_PAD = -2
M_TRIM_THRESHOLD = -1
LARGE_BLOCK = 1 << 20
TOP_PAD = 256 << 20
LARGE_READ = 200_000
#: A store file of this size or more holds about LARGE_READ verdicts: its read is large (before_large_read).
LARGE_STORE_BYTES = 90 << 20
#: glibc's own trim threshold, which a fixed mmap threshold leaves in place (after_large_read).
DEFAULT_TRIM = 128 << 10
#: Files of this many bytes in all make an import's read large (large_files_read), and what the
#: heap keeps meanwhile: blocks below HEAP_BLOCK come from it, and a free top below HEAP_TRIM stays.
LARGE_FILES = 512 << 20
HEAP_BLOCK = 256 << 20
HEAP_TRIM = 512 << 20
#: What pandas puts where a record lacks a column's key.
ABSENT = float("nan")
#: A column stops sharing its texts once it has this many distinct ones (ids unique per verdict:
#: a lookup table of them would only add its own size).
SHARED_TEXTS_LIMIT = 1 << 16


def freeze_after_bulk_reads() -> None:
    """From now on, what a bulk read leaves alive is frozen (for a process that ends with its command)."""
    global _freeze
    _freeze = True


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim), after a bulk phase
    freed much: texts longer than 512 bytes live there, and glibc keeps the pages of freed ones,
    so whatever comes next stacks its own peak on them (an import of a million verdicts held its
    0.8 GB of answers' texts through the aggregation that followed). False, doing nothing, where
    the C library has no malloc_trim (musl, macOS, Windows)."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


def before_large_read(size: int) -> bool:
    """In a command-line process, before a store of `size` bytes is read, when that is
    LARGE_STORE_BYTES or more: the heaps keep TOP_PAD of free top from the start (see
    large_blocks_returned_when_freed), so what the read frees and takes again is not handed
    back and faulted in anew. Not where the user set MALLOC_TOP_PAD_; True when set."""
    if not _freeze or size < LARGE_STORE_BYTES or "MALLOC_TOP_PAD_" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    return mallopt is not None and bool(mallopt(M_TOP_PAD, TOP_PAD))


def after_large_read(records: int) -> bool:
    """In a command-line process (see freeze_after_bulk_reads), once a read brought LARGE_READ
    records or more: large_blocks_returned_when_freed. Not for smaller runs: each block then
    mapped on its own is page-faulted in anew (0.4 s more system time for a 46k-verdict import),
    for memory they do not miss. True when set."""
    return _freeze and records >= LARGE_READ and large_blocks_returned_when_freed()


def large_blocks_returned_when_freed(threshold: int = LARGE_BLOCK, top_pad: int = TOP_PAD) -> bool:
    """Blocks of `threshold` bytes and more mapped on their own, so freeing one returns it to the
    system (glibc's M_MMAP_THRESHOLD, for the `harness` process). glibc otherwise raises that
    threshold to the size of each mapped block freed (up to 32 MB), after which the million-row
    lists and arrays a command builds and drops come from the heap and stay there: at a million
    verdicts that kept 0.1 GB that the aggregation's peak then stacked on.

    A fixed threshold also stops glibc from raising its trim threshold with it, so each heap then
    gave back every free top above 128 kB and took it back at the next allocation, page by
    page: a cold million-verdict aggregate spent 12 s of its 46 s of CPU in the kernel. The
    heaps' top pad (M_TOP_PAD, `top_pad`) keeps that much of a free top: 64 MB took it to 4-5 s
    (peak RSS 1.82 against 1.80 GB); 256 MB, set before the store's read, took its page faults
    from 0.9-1.6 million to 0.7-1.0 million and its system time from 4.2-4.9 to 3.6-4.3 s (peak
    1.87-1.89 against 1.86-1.87 GB). Each setting is left as it is when the user set its
    environment variable (MALLOC_MMAP_THRESHOLD_, MALLOC_TOP_PAD_); False, doing nothing,
    without glibc's mallopt."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    mallopt = _libc_function("mallopt")
    if mallopt is None or not mallopt(M_MMAP_THRESHOLD, threshold):
        return False
    if "MALLOC_TOP_PAD_" not in os.environ:
        mallopt(M_TOP_PAD, top_pad)
    return True


@contextmanager
def large_files_read(paths: Iterable[os.PathLike[str] | str]) -> Iterator[bool]:
    """In a command-line process, while an import reads LARGE_FILES bytes of files or more: every
    block below HEAP_BLOCK from the heap, kept there once freed (up to HEAP_TRIM of free top).
    Each file's parse takes a block of tens of megabytes and frees it; glibc maps such a block on
    its own, unmaps it when freed and faults the next one in anew, page by page: a 500,000-verdict
    AlpacaEval import took 1.19 million page faults and 4.5 s of system time, and 0.76 million and
    3.7 s with these settings. Afterwards the settings are after_large_read's (the aggregation's).
    Yields whether they were set: nothing is, outside the CLI, for smaller reads, where the user
    set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_, or without glibc's mallopt."""
    user_set = {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ)
    mallopt = _libc_function("mallopt") if _freeze and not user_set else None
    if mallopt is None or sum(_size(path) for path in paths) < LARGE_FILES:
        yield False
        return
    mallopt(M_MMAP_THRESHOLD, HEAP_BLOCK)
    mallopt(M_TRIM_THRESHOLD, HEAP_TRIM)
    try:
        yield True
    finally:
        mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM)
        large_blocks_returned_when_freed()


def _size(path: os.PathLike[str] | str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the reader says what is wrong with it


def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library the process already has loaded (glibc's malloc tuning), or
    None where it has none (or, on Windows, no such lookup). Looked up in the process's own
    symbols: ctypes.util.find_library runs ldconfig, a subprocess, to name a library already there."""
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError, TypeError):
        return None


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


def flat_records_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per record, its `data` fields as columns (a top-level key wins over a `data` key of
    the same name; `data` itself is not a column). Each record's `data` key is removed from it."""
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    texts: dict[str, dict[str, str] | None] = {}  # per column: each distinct text, held once
    row = -1
    for row, record in enumerate(records):
        data = record.pop("data", None)
        if isinstance(data, dict):
            for key, value in data.items():
                record.setdefault(key, value)
        for key, value in record.items():
            column = columns.get(key)
            if column is None:
                column = columns[key] = [ABSENT] * row
                texts[key] = {}
            if value.__class__ is str:
                seen = texts[key]
                if seen is not None:
                    value = seen.setdefault(value, value)
                    if len(seen) > SHARED_TEXTS_LIMIT:
                        texts[key] = None
            column.append(value)
        if len(record) < len(columns):
            for column in columns.values():
                if len(column) == row:
                    column.append(ABSENT)
    if not columns:  # no records, or records without a key: pandas' own frame of that many rows
        return pd.DataFrame([{}] * (row + 1))
    texts.clear()
    # one column converted at a time, its list released as it goes: its texts then live only in
    # the frame's string arrays
    series = {key: pd.Series(columns.pop(key)) for key in list(columns)}
    return pd.DataFrame(series)
