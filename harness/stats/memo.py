"""Expensive arrays remembered between the commands that read one run directory.

`harness aggregate` refits Bradley-Terry on 1,000 item resamples for the ranking's intervals,
and `harness report` refits the same resamples for the significance of every pair: the same
battles, seed and prior, so the same array, about a second apart each time at 46k verdicts.
The command that owns a run directory names it (`remembered_in`); a statistic asks for its array
under a name and every input that determines it (`remembered`), and gets the stored array when
the inputs hash the same, else computes and stores it. The key is a hash of the inputs' bytes,
so a changed input can never be answered from the memo, and the array read back is the one
computed, bit for bit. Without a named directory (a library call, a test) nothing is stored.

Files live in `<run>/.memo/` as `.npy`; at most `KEEP` are kept (the oldest go), and a directory
that cannot be written (read-only results) only means computing again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

#: The memo folder inside a run directory.
MEMO_DIR = ".memo"
#: Arrays kept per run directory: an aggregate's and its report's, with room for a few options.
KEEP = 8

_directory: ContextVar[Path | None] = ContextVar("harness_memo_directory", default=None)


@contextmanager
def remembered_in(run_directory: str | Path) -> Iterator[None]:
    """Within this block, `remembered` arrays are kept in `run_directory`'s memo folder."""
    token = _directory.set(Path(run_directory) / MEMO_DIR)
    try:
        yield
    finally:
        _directory.reset(token)


def remembered(name: str, inputs: tuple[object, ...], compute: Callable[[], np.ndarray]) -> np.ndarray:
    """`compute()`, or the array it gave before for the same `name` and `inputs` (arrays,
    numbers, None) in the run directory named by `remembered_in`."""
    folder = _directory.get()
    if folder is None:
        return compute()
    path = folder / f"{name}-{_digest(name, inputs)}.npy"
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        pass
    value = compute()
    _store(folder, path, value)
    return value


def _digest(name: str, inputs: tuple[object, ...]) -> str:
    digest = hashlib.blake2b(name.encode(), digest_size=16)
    for part in inputs:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"array{array.dtype.str}{array.shape}".encode())
            digest.update(array.data)
        else:
            digest.update(f"{type(part).__name__}:{part!r};".encode())
    return digest.hexdigest()


def _store(folder: Path, path: Path, value: np.ndarray) -> None:
    """Write atomically (a reader never loads half an array), then drop the oldest beyond KEEP."""
    try:
        folder.mkdir(exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with partial.open("wb") as handle:
            np.save(handle, value, allow_pickle=False)
        os.replace(partial, path)
        kept = sorted(folder.glob("*.npy"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return  # a read-only or full run directory: the array is computed again next time
