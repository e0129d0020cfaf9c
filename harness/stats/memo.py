"""Expensive arrays remembered between the commands that read one run directory.

`harness aggregate` refits Bradley-Terry on 1,000 item resamples for the ranking's intervals,
and `harness report` refits the same resamples for the significance of every pair: the same
battles, seed and prior, so the same array, about a second apart each time at 46k verdicts.
The command that owns a run directory names it (`remembered_in`); a statistic asks for its array
under a name and every input that determines it (`remembered`), and gets the stored array when
the inputs hash the same, else computes and stores it. The key is a hash of the inputs' bytes,
so a changed input can never be answered from the memo, and the array read back is the one
computed, bit for bit. Without a named directory (a library call, a test) nothing is stored.

Files live in `<run>/.memo/` as `.npy` (arrays) and `.npz` (tables); an aggregation leaves only
the ones its numbers used, and a directory that cannot be written (read-only results) only means
computing again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

#: The memo folder inside a run directory.
MEMO_DIR = ".memo"


@dataclass
class _Memo:
    folder: Path
    used: set[str] = field(default_factory=set)


_memo: ContextVar[_Memo | None] = ContextVar("harness_memo", default=None)


@contextmanager
def remembered_in(run_directory: str | Path, *, keep_only_used: bool = False) -> Iterator[None]:
    """Within this block, `remembered` arrays are kept in `run_directory`'s memo folder.
    `keep_only_used` (an aggregation, which asks for every array its numbers need): afterwards
    the folder holds only the arrays this block read or wrote, so it never outgrows one run."""
    memo = _Memo(Path(run_directory) / MEMO_DIR)
    token = _memo.set(memo)
    try:
        yield
    finally:
        _memo.reset(token)
    if keep_only_used and memo.folder.is_dir():
        for path in memo.folder.iterdir():
            if path.name not in memo.used:
                with suppress(OSError):
                    path.unlink(missing_ok=True)


def remembered(
    name: str, inputs: tuple[object, ...], compute: Callable[[], np.ndarray], code: tuple[str, ...] = (),
) -> np.ndarray:
    """`compute()`, or the array it gave before for the same `name` and `inputs` (arrays, frames,
    numbers, None) in the run directory named by `remembered_in`. `code`: the modules whose
    source decides the result (their bytes join the key, so an upgraded harness computes anew)."""
    path = _memo_path(name, inputs, code, ".npy")
    if path is None:
        return compute()
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        pass
    value = compute()
    _store(path, lambda handle: np.save(handle, value, allow_pickle=False))
    return value


def remembered_frame(
    name: str, inputs: tuple[object, ...], compute: Callable[[], pd.DataFrame], code: tuple[str, ...] = (),
) -> pd.DataFrame:
    """`remembered` for a table of text and number columns with a plain 0..n-1 index (a table
    with anything else is computed and not kept)."""
    path = _memo_path(name, inputs, code, ".npz")
    if path is None:
        return compute()
    try:
        with np.load(path, allow_pickle=False) as stored:
            names, dtypes = [str(c) for c in stored["__columns__"]], [str(d) for d in stored["__dtypes__"]]
            return pd.DataFrame({c: _column(stored[f"c{i}"], dtypes[i]) for i, c in enumerate(names)}, columns=names)
    except (OSError, ValueError, EOFError, KeyError):
        pass
    frame = compute()
    columns = _storable(frame)
    if columns is not None:
        _store(path, lambda handle: np.savez(
            handle, __columns__=np.array(list(frame.columns), dtype=str),
            __dtypes__=np.array([str(d) for d in frame.dtypes], dtype=str), **columns))  # type: ignore[arg-type]
    return frame


def _memo_path(name: str, inputs: tuple[object, ...], code: tuple[str, ...], suffix: str) -> Path | None:
    """Where the memo files this result (marked as used), or None outside `remembered_in`."""
    memo = _memo.get()
    if memo is None:
        return None
    path = memo.folder / f"{name}-{_digest(name, inputs, code)}{suffix}"
    memo.used.add(path.name)
    return path


def _column(values: np.ndarray, dtype: str) -> pd.Series:
    """A stored column as the table had it: text back in its own dtype (pandas' `str` or object)."""
    return pd.Series(values.astype(object) if values.dtype.kind == "U" else values).astype(dtype)


def _storable(frame: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The frame's columns as arrays that load back as the same column, or None."""
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0 or frame.index.step != 1:
        return None
    if not all(isinstance(c, str) for c in frame.columns) or frame.columns.has_duplicates:
        return None
    columns = {}
    for i, (_, series) in enumerate(frame.items()):
        if series.dtype.kind == "O" and all(isinstance(v, str) for v in series):  # object or pandas' str
            columns[f"c{i}"] = np.array(series.tolist(), dtype=str)
            if any(a != b for a, b in zip(columns[f"c{i}"], series, strict=True)):  # numpy drops trailing NULs
                return None
        elif series.dtype.kind in "fiub":
            columns[f"c{i}"] = series.to_numpy()
        else:
            return None
    return columns


def _digest(name: str, inputs: tuple[object, ...], code: tuple[str, ...]) -> str:
    digest = hashlib.blake2b(f"{name};numpy {np.__version__};pandas {pd.__version__}".encode(), digest_size=16)
    for module in code:
        digest.update(_source(module))
    for part in inputs:
        if isinstance(part, pd.Series):
            part = part.to_frame()
        if isinstance(part, pd.DataFrame):
            digest.update(f"frame{list(part.columns)!r}{part.dtypes.tolist()!r}".encode())
            for _, series in part.items():
                if series.dtype.kind == "O":
                    digest.update(_object_column_bytes(series))
                else:
                    digest.update(np.ascontiguousarray(series.to_numpy()).data)
            digest.update(np.ascontiguousarray(part.index.to_numpy()).data if part.index.dtype.kind != "O"
                          else "\x1f".join(map(repr, part.index.tolist())).encode("utf-8", "surrogatepass"))
        elif isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            digest.update(f"array{array.dtype.str}{array.shape}".encode())
            digest.update(array.data)
        else:
            digest.update(f"{type(part).__name__}:{part!r};".encode())
    return digest.hexdigest()


def _object_column_bytes(series: pd.Series) -> bytes:
    """What identifies a column of objects: for text (model names, item ids), its distinct values
    in order of appearance and each row's code among them, the same column and no other (a
    million repr() calls took 0.2 s of every aggregation's key at a million verdicts, against
    0.03 s); anything else (missing values, numbers, a str subclass, values that cannot be
    hashed such as lists) the repr of every value. Each form is tagged, so the two cannot spell
    the same bytes."""
    try:
        codes, uniques = pd.factorize(series, sort=False, use_na_sentinel=False)
        values = uniques.tolist()
    except TypeError:  # unhashable values: not text
        values = None
    if values is not None and all(value.__class__ is str for value in values):
        return (b"text\x1e" + "\x1f".join(map(repr, values)).encode("utf-8", "surrogatepass") + b"\x1e"
                + np.ascontiguousarray(codes, dtype=np.int64).tobytes())
    return b"repr\x1e" + "\x1f".join(map(repr, series.tolist())).encode("utf-8", "surrogatepass")


@cache
def _source(module: str) -> bytes:
    """A module's source bytes (what its code is), or its name when it has no readable file."""
    spec = importlib.util.find_spec(module)
    origin = spec.origin if spec is not None else None
    try:
        return Path(origin).read_bytes() if origin else module.encode()
    except OSError:
        return module.encode()


def _store(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write atomically: a reader never loads half an array."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(exist_ok=True)
        with partial.open("wb") as handle:
            write(handle)
        os.replace(partial, path)
    except OSError:  # a read-only or full run directory: the array is computed again next time
        with suppress(OSError):
            partial.unlink(missing_ok=True)
