"""The run directory: a crash-safe verdict store, the manifest, and the exported files.

Verdicts go to `store.jsonl`, one JSON line each, flushed and fsynced before the call is
counted as done, so a SIGKILL loses at most the calls in flight and the verdicts being written
(whose answers the judgment cache already holds). The runner commits in groups: verdicts that
finish while an fsync is under way (in a worker thread, off the event loop) share the next one,
so durability costs one fsync per batch instead of one per call. A line torn by a kill is cut
off when the store is reopened. The last record of a request key wins, so a failed call that
succeeds on a rerun simply supersedes its failure. Exports are written to a temporary file and
renamed, so a reader never sees half a file. `load_run` reads a finished directory back.

A panel run (several judges, see harness.running.judges) asks every judge the same requests, so records
are also kept by (judge, request key): `get`, `is_done` and `verdicts_for` take the judge to
look under; without one they answer by request key alone, as a single-judge run always has.
"""

from __future__ import annotations

import errno
import fcntl
import filecmp
import json
import mmap
import os
import shutil
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern
from typing import TYPE_CHECKING, Any, BinaryIO, get_args

import orjson
from pydantic_core import from_json

from harness.bulk_reads import after_large_read, before_large_read, bulk_read, flat_records_frame
from harness.errors import BadInput, RunFailed
from harness.models import Verdict, VerdictStatus

if TYPE_CHECKING:
    import asyncio

    import numpy as np
    import pandas as pd

STORE_FILE = "store.jsonl"
MANIFEST_FILE = "run.json"
VERDICTS_FILE = "verdicts.jsonl"
SCORES_FILE = "scores.csv"
RANKING_FILE = "ranking.csv"
SCORES_BY_JUDGE_FILE = "scores_by_judge.csv"
RANKING_BY_JUDGE_FILE = "ranking_by_judge.csv"
LOCK_FILE = ".lock"
DONE_STATUSES = frozenset({"ok", "invalid"})


class StoreWriteFailed(RunFailed):
    """The run directory could not be written (a full disk, a quota, an I/O error): the run stops
    with one line, every verdict stored before stays stored, and the same command resumes."""


def write_failure(path: Path, exc: OSError) -> StoreWriteFailed:
    """One line for a failed write in a run directory: what could not be written, why, and what
    to do first (the CLI adds that everything stored is kept and the command that resumes)."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    failure = StoreWriteFailed(f"cannot write {path}: {exc.strerror or exc}" + ("; free some space first" if full else ""))
    failure.directory = path.parent
    return failure


class RunDirectory:
    """One run's folder. Use as a context manager: it holds an exclusive lock while open."""

    def __init__(self, path: str | Path, written: list[Verdict] | None = None, *, index_lines: bool = False):
        """`written`: the verdicts the store file holds, in its order, each line `export_lines`
        of its verdict, when the caller has just written the file (an import): they are taken
        as read instead of parsing the file again, and exports of exactly those verdicts copy it.
        `index_lines`: remember where each record's latest line lies in the file (16 bytes a line,
        in arrays: a dict of a million line numbers held int objects that fragmented the heap and
        raised the aggregation's peak by 40 MiB), so adopt_export can compare an export with it."""
        self.path = Path(path)
        self._written = written
        #: Whether the previous verdicts.jsonl holds exactly `_written`'s lines (adopt_export).
        self._export_holds_written = False
        self._index_lines = index_lines
        #: With index_lines: each stored line's end offset; each record's first line, in the
        #: records' order; the latest line of each key stored more than once (a retried call).
        self._line_ends: array[int] | None = None
        self._first_line: array[int] | None = None
        self._superseding: dict[str, int] | None = None
        #: With index_lines: per stored line, 1 where the line is its record's own fields as they
        #: are (read without the validation, no NaN or infinity): a valid export line of it.
        self._plain: bytearray | None = None
        #: keep_lines_for's list and, per verdict of it, its stored line's span or -1 (encode it).
        self._copyable: tuple[list[Verdict], np.ndarray, np.ndarray] | None = None
        #: _line_spans' last list and its spans (released with the line index).
        self._spans: tuple[list[Verdict], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._lock_handle: Any = None
        #: The store file's descriptor, written with os.write: an unbuffered write that fails
        #: leaves nothing queued in a buffer for a later flush (or close) to append after it.
        self._store_fd: int | None = None
        #: The first failed store write; later writes raise it again, so nothing lands after a torn line.
        self._write_error: StoreWriteFailed | None = None
        self._records: dict[str, Verdict] = {}
        #: The latest record of every (judge, key), once records of a second judge are seen; until
        #: then None, and `_records` under `_one_judge` is that index (a million keys' tuples and
        #: a second dict of them held 0.1 GB through a one-judge run's aggregation).
        self._by_judge: dict[tuple[str, str], Verdict] | None = None
        self._one_judge: str | None = None
        self._write_lock = threading.Lock()
        self._queued: list[tuple[str, Verdict, asyncio.Future[None]]] = []
        #: Called once before each group of verdicts is written (see `commit`).
        self._before_write: list[Callable[[], None]] = []
        self._flusher: asyncio.Task[None] | None = None
        #: Records read from the file when it was opened (superseded ones included); None once
        #: anything has been stored since.
        self._read_lines: int | None = 0

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> RunDirectory:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"--out {self.path}: cannot create the directory ({exc.strerror})") from None
        self._lock_handle = (self.path / LOCK_FILE).open("a")
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_handle.close()
            raise BadInput(f"--out {self.path}: another harness process is using this run directory") from None
        store = self.path / STORE_FILE
        try:
            _repair_torn_tail(store)
            if self._written is None and store.exists():
                before_large_read(store.stat().st_size)
            read = 0
            if self._index_lines and self._written is None:
                self._line_ends, self._first_line, self._superseding = array("q"), array("q"), {}
                self._plain = bytearray()
            first, later, records = self._first_line, self._superseding, self._records
            with bulk_read():
                for verdict in (self._checked_written(store) if self._written is not None
                                else stored_verdicts(store, line_ends=self._line_ends, plain=self._plain)):
                    if first is not None and later is not None:
                        if verdict.request_key in records:
                            later[verdict.request_key] = read
                        else:
                            first.append(read)
                    self._remember(verdict)  # one read fills both indexes, as read_store would
                    read += 1
            self._read_lines = read
            after_large_read(read)
            self._store_fd = os.open(store, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except BaseException:
            self.close()  # a corrupt store must not leave the directory locked
            raise

    def _checked_written(self, store: Path) -> Iterator[Verdict]:
        """The written verdicts, checked and compacted as stored_verdicts checks and compacts a read."""
        for number, verdict in enumerate(self._written or (), start=1):
            yield compact_verdict(verdict, store, number, thorough=False)  # an importer's: shared already

    def close(self) -> None:
        self.release_line_index()
        with self._write_lock:  # a group commit still running in its thread finishes first
            if self._store_fd is not None:
                os.close(self._store_fd)
                self._store_fd = None
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # -- verdicts ----------------------------------------------------------------------------
    def append(self, verdict: Verdict) -> None:
        """Store one verdict durably before returning."""
        self._written = self._read_lines = self._copyable = None
        self.release_line_index()
        self._write(store_line(verdict))
        self._remember(verdict)

    async def commit(self, verdict: Verdict, before_write: Callable[[], None] | None = None) -> None:
        """Store one verdict durably before returning, sharing an fsync with concurrent commits.

        `before_write` runs (once per group, however many of its verdicts name it) before the
        group that holds this verdict is written: the runner writes the judgment cache's queued
        answers there, so an answer is on disk before its verdict, in one transaction per group."""
        await self.enqueue(verdict, before_write)

    def enqueue(self, verdict: Verdict, before_write: Callable[[], None] | None = None) -> asyncio.Future[None]:
        """`commit` without a coroutine: the returned future is done once the verdict is durable,
        or holds the write's failure. The runner waits on it with a callback (a task per
        verdict cost as much CPU as writing it)."""
        import asyncio  # here: reading a run directory needs no event loop (15 ms at start-up)

        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._written = self._read_lines = self._copyable = None
        self.release_line_index()
        if before_write is not None and before_write not in self._before_write:
            self._before_write.append(before_write)
        self._queued.append((store_line(verdict), verdict, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush_queued())
        return future

    async def _flush_queued(self) -> None:
        """Write and fsync what is queued, in a thread; repeat while more arrived meanwhile.

        A failed write goes to the commits waiting on it, not to this task: nobody awaits the
        flusher, so an exception raised here would only be asyncio's "never retrieved" noise."""
        import asyncio  # loaded by commit already; see there
        while self._queued:
            batch, self._queued = self._queued, []
            before, self._before_write = self._before_write, []
            try:
                for step in before:
                    step()
                await asyncio.to_thread(self._write, "".join(line for line, _, _ in batch))
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("store write cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            for _, verdict, future in batch:
                self._remember(verdict)
                if not future.done():
                    future.set_result(None)

    def _write(self, text: str) -> None:
        """Append whole lines and fsync. A write that fails (a full disk) is cut back to the last
        whole line where the filesystem allows, and every later write fails the same way: the
        run stops, and reopening the store repairs whatever partial line is left."""
        with self._write_lock:
            if self._store_fd is None:
                raise RuntimeError("the run directory is closed")
            if self._write_error is not None:
                raise self._write_error
            data = memoryview(text.encode("utf-8"))
            start = os.lseek(self._store_fd, 0, os.SEEK_END)
            try:
                while data:
                    data = data[os.write(self._store_fd, data):]
                os.fsync(self._store_fd)
            except OSError as exc:
                self._write_error = write_failure(self.path / STORE_FILE, exc)
                try:
                    os.ftruncate(self._store_fd, start)
                except OSError:
                    pass  # the torn line stays; the next open cuts it (_repair_torn_tail)
                raise self._write_error from None

    def _remember(self, verdict: Verdict) -> None:
        if self._by_judge is None and verdict.judge != self._one_judge:
            if not self._records:
                self._one_judge = verdict.judge
            else:  # a second judge: the (judge, key) index from here on, the first judge's records first
                self._by_judge = self._one_judge_index()
        self._records[verdict.request_key] = verdict
        if self._by_judge is not None:
            self._by_judge[(verdict.judge, verdict.request_key)] = verdict

    def _one_judge_index(self) -> dict[tuple[str, str], Verdict]:
        judge = self._one_judge or ""
        return {(judge, key): verdict for key, verdict in self._records.items()}

    def latest(self, *, by_judge: bool = False) -> dict[Any, Verdict]:
        """The latest record of every request key (with `by_judge`, of every (judge, key)), in the
        order keys were first stored: what read_store gives, without reading the file again."""
        if not by_judge:
            return dict(self._records)
        return dict(self._by_judge) if self._by_judge is not None else self._one_judge_index()

    def stored_count(self) -> int:
        """Requests with a stored record (any status)."""
        return len(self._records)

    def get(self, key: str, judge: str | None = None) -> Verdict | None:
        if judge is None:
            return self._records.get(key)
        if self._by_judge is None:
            return self._records.get(key) if judge == self._one_judge else None
        return self._by_judge.get((judge, key))

    def is_done(self, key: str, judge: str | None = None) -> bool:
        record = self.get(key, judge)
        return record is not None and record.status in DONE_STATUSES

    def verdicts_for(self, keys: Iterable[str], judge: str | None = None) -> list[Verdict]:
        """The latest record of each key, in the given order; keys never called are skipped."""
        return [v for k in keys if (v := self.get(k, judge)) is not None]

    # -- manifest and exports ----------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        path = self.path / MANIFEST_FILE
        if not path.exists():
            return None
        return read_manifest_file(path)

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """run.json, replaced whole; StoreWriteFailed when the disk refuses it."""
        _atomic_write(self.path / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")

    def write_exports(self, verdicts: list[Verdict], scores: pd.DataFrame, ranking: pd.DataFrame) -> None:
        # streamed to the file (at a million verdicts the export is half a gigabyte, and held whole
        # as text and then as bytes it was the aggregation's peak)
        if self._holds_exactly(verdicts):
            if self._export_holds_written:
                # verdicts.jsonl already holds these verdicts' lines, in this order (adopt_export); its time
                # is set as a rewrite would set it (a replay judge reads the store when it is newer)
                os.utime(self.path / VERDICTS_FILE)
            else:  # the store's bytes are the export: copied, not encoded again
                with (self.path / STORE_FILE).open("rb") as store:
                    _atomic_write(self.path / VERDICTS_FILE, lambda handle: shutil.copyfileobj(store, handle, 1 << 20))
        elif (copyable := self._copyable_lines(verdicts)) is not None:
            starts, stops = copyable
            with (self.path / STORE_FILE).open("rb") as store_handle, \
                    mmap.mmap(store_handle.fileno(), 0, access=mmap.ACCESS_READ) as stored:
                _atomic_write(self.path / VERDICTS_FILE,
                              lambda handle: write_export(handle, verdicts, stored=(stored, starts, stops)))
        else:
            _atomic_write(self.path / VERDICTS_FILE, lambda handle: write_export(handle, verdicts))
        self._copyable = None
        _atomic_write(self.path / SCORES_FILE, frame_to_csv(honest_intervals(scores)))
        _atomic_write(self.path / RANKING_FILE, frame_to_csv(honest_intervals(ranking)))

    def exported_as_stored(self) -> list[Verdict] | None:
        """The store's records in file order when the previous verdicts.jsonl is the store byte for
        byte and no record supersedes another (an import, aggregated again): then the export of
        exactly these verdicts is the store's bytes, and writing it copies them. None otherwise."""
        store, export = self.path / STORE_FILE, self.path / VERDICTS_FILE
        if (self._written is not None or len(self._records) != self._read_lines or not export.is_file()
                or export.stat().st_size != store.stat().st_size or not filecmp.cmp(store, export, shallow=False)):
            return None
        self._written = list(self._records.values())
        self.release_line_index()  # the store's bytes are copied whole
        return list(self._written)

    def adopt_export(self, verdicts: list[Verdict]) -> bool:
        """Whether the previous verdicts.jsonl is, line for line, the stored lines of exactly
        `verdicts` (the store's latest records, each once, in the export's order); if so the export
        of these verdicts is that file as it is, kept instead of encoded again (a run's export
        lists its requests in the design's order, not the store's, so it is seldom the store's
        bytes). Needs index_lines and nothing stored since; the index is released when it is kept
        (else keep_lines_for may still use it)."""
        try:
            if not verdicts or len(verdicts) != len(self._records) or not (self.path / VERDICTS_FILE).is_file():
                return False  # (an empty store cannot be mapped)
            spans = self._line_spans(verdicts)
            if spans is None:
                return False
            _, starts, stops = spans
            if int((stops - starts).sum()) != (self.path / VERDICTS_FILE).stat().st_size:
                return False  # not those lines' bytes: known without reading the export
            starts, stops = starts.tolist(), stops.tolist()
            with (self.path / STORE_FILE).open("rb") as store_handle, \
                    mmap.mmap(store_handle.fileno(), 0, access=mmap.ACCESS_READ) as stored, \
                    (self.path / VERDICTS_FILE).open("rb") as export:
                count = 0
                for line, start, stop in zip(export, starts, stops):
                    if len(line) != stop - start or stored[start:stop] != line:
                        return False
                    count += 1
                    if not count % 100_000:
                        _drop_mapped_pages(stored)  # as write_export does: the store's pages add to the peak
                if count != len(verdicts) or export.read(1):
                    return False
            self._written, self._export_holds_written = list(verdicts), True
            self.release_line_index()
            return True
        except BaseException:
            self.release_line_index()
            raise

    def _line_spans(self, verdicts: list[Verdict]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Per verdict, its latest record's store line and that line's start and end offsets; None
        without the line index or when one of them is not a stored record. Kept for the list it
        was asked for (by identity, until the index is released): a failed adoption hands the same
        list to keep_lines_for, and a million identities are matched once, not twice."""
        import numpy as np

        if self._line_ends is None or self._first_line is None or self._superseding is None:
            return None
        if self._spans is not None and self._spans[0] is verdicts:
            return self._spans[1]
        lines = self._latest_lines(verdicts)
        if lines is None:
            return None
        ends = np.frombuffer(self._line_ends, dtype=np.int64)
        spans = (lines, np.where(lines > 0, ends[lines - 1], 0), ends[lines])
        self._spans = (verdicts, spans)
        return spans

    def _latest_lines(self, verdicts: list[Verdict]) -> np.ndarray | None:
        """The store line of each of `verdicts`' latest record: its first line (by its place among
        the records, found by identity), or the line of the call that superseded it; None when
        one of them is not a stored record."""
        import numpy as np

        assert self._first_line is not None and self._superseding is not None
        placed = np.fromiter(map(id, self._records.values()), dtype=np.uint64, count=len(self._records))
        order = np.argsort(placed, kind="stable")
        wanted = np.fromiter(map(id, verdicts), dtype=np.uint64, count=len(verdicts))
        at = np.minimum(np.searchsorted(placed[order], wanted), len(order) - 1)
        if not (placed[order[at]] == wanted).all():
            return None
        lines = np.frombuffer(self._first_line, dtype=np.int64)[order[at]]
        if self._superseding:  # retried calls: their latest line, matched by identity too
            again = np.fromiter((id(self._records[key]) for key in self._superseding), dtype=np.uint64,
                                count=len(self._superseding))
            again_lines = np.fromiter(self._superseding.values(), dtype=np.int64, count=len(self._superseding))
            by_id = np.argsort(again)
            again, again_lines = again[by_id], again_lines[by_id]
            at = np.minimum(np.searchsorted(again, wanted), len(again) - 1)
            hit = again[at] == wanted
            lines[hit] = again_lines[at[hit]]
        return lines

    def keep_lines_for(self, verdicts: list[Verdict]) -> bool:
        """Remember where the stored line of each of `verdicts` lies, where that line is a valid
        export line of it (the record's own fields as they are: `_plain`), so that an export of
        exactly these verdicts copies those lines instead of encoding them (a store another tool
        or an older version wrote, whose lines differ in form from store_line's). Then the line
        index is released. Needs index_lines, one judge and nothing stored since; False otherwise."""
        import numpy as np

        try:
            if self._plain is None or self._by_judge is not None or not verdicts:
                return False
            spans = self._line_spans(verdicts)  # adopt_export's, when it was given this list
            if spans is None:
                return False
            lines, starts, stops = spans
            plain = np.frombuffer(self._plain, dtype=np.uint8)[lines].astype(bool)
            if not plain.any():
                return False
            self._copyable = (verdicts, np.where(plain, starts, -1), stops)
            return True
        finally:
            self.release_line_index()

    def _copyable_lines(self, verdicts: list[Verdict]) -> tuple[np.ndarray, np.ndarray] | None:
        """keep_lines_for's spans when `verdicts` are its verdicts (the same objects, in order) and
        the store has not changed since it was read."""
        if self._copyable is None or self._read_lines is None:
            return None
        kept, starts, stops = self._copyable
        return (starts, stops) if _same_objects(kept, verdicts) else None

    def release_line_index(self) -> None:
        """Drop what index_lines kept (read once)."""
        self._line_ends = self._first_line = self._superseding = self._plain = self._spans = None

    def _holds_exactly(self, verdicts: list[Verdict]) -> bool:
        """Whether `verdicts` are the store's written records, the same objects in the same order."""
        return self._written is not None and _same_objects(self._written, verdicts)

    def write_frames(self, frames: dict[str, pd.DataFrame]) -> None:
        """More CSV exports by file name (a panel's per-judge tables), each written atomically."""
        for name, frame in frames.items():
            _atomic_write(self.path / name, frame_to_csv(honest_intervals(frame)))


def store_line(verdict: Verdict) -> str:
    """One verdict as a line of the store and of verdicts.jsonl: pydantic's own serializer (its
    fields in order, compact), the same for a run, an import and an export, and a quarter of the
    standard library encoder's time (3.8 against 13.6 µs a verdict)."""
    return verdict.model_dump_json() + "\n"


#: How every line store_line writes begins: a verdict's first two fields are its request id and key.
_LINE_START, _KEY_FIELD = b'{"request_id":"', b'","request_key":"'


def line_request_key(line: bytes) -> str | None:
    """The request key of a line as store_line writes it, read off its start without parsing the
    rest (0.9 against orjson's 1.3 µs a line, and no dict built: about 1 s less for the million
    lines of an export read for its order), or
    None where the line is not in that form (another writer's spacing or key order, escapes in
    the id or key, not UTF-8, not a whole object): those take a full parse. Inside a JSON string
    every quote is escaped, so the first unescaped one ends the id."""
    if not line.startswith(_LINE_START) or not line.rstrip().endswith(b"}"):
        return None
    end = line.find(b'"', len(_LINE_START))
    if end < 0 or line.find(b"\\", len(_LINE_START), end) >= 0 or not line.startswith(_KEY_FIELD, end):
        return None
    start = end + len(_KEY_FIELD)
    stop = line.find(b'"', start)
    if stop < 0 or line.find(b"\\", start, stop) >= 0:
        return None
    try:
        return line[start:stop].decode("utf-8")
    except UnicodeDecodeError:
        return None


def export_lines(verdicts: Iterable[Verdict]) -> str:
    """verdicts.jsonl's text (and an import's store): `store_line` of each verdict."""
    return "".join(map(store_line, verdicts))


def write_export(handle: BinaryIO, verdicts: list[Verdict], chunk: int = 10_000,
                 stored: tuple[mmap.mmap, np.ndarray, np.ndarray] | None = None) -> None:
    """`export_lines(verdicts)` written to `handle` a few thousand lines at a time (a million lines
    are not one string): the same bytes. verdicts.jsonl, and an import's store. Each line is the
    serializer's own bytes (what model_dump_json decodes), joined as bytes: no text made of them
    only to encode it back (2.1 against 3.4 µs a verdict). `stored`: the store's bytes and, per
    verdict, the span of a stored line that is a valid export line of it (start -1: none), copied
    instead of encoded (0.3 µs a line)."""
    for start in range(0, len(verdicts), chunk):
        if stored is None:
            lines = list(map(_export_bytes, verdicts[start:start + chunk]))
        else:
            data, starts, stops = stored
            lines = [data[begin:end].rstrip(b"\n") if begin >= 0 else _export_bytes(v)
                     for v, begin, end in zip(verdicts[start:start + chunk], starts[start:start + chunk].tolist(),
                                              stops[start:start + chunk].tolist())]
        lines.append(b"")  # the last line's end
        handle.write(b"\n".join(lines))
        if stored is not None:
            _drop_mapped_pages(stored[0])


_TO_JSON = Verdict.__pydantic_serializer__.to_json


def _export_bytes(verdict: Verdict) -> bytes:
    """store_line's text of a verdict as bytes, without its newline: the serializer's own bytes
    for a Verdict, a subclass through its own model_dump_json."""
    return _TO_JSON(verdict) if verdict.__class__ is Verdict else verdict.model_dump_json().encode("utf-8")


def _same_objects(kept: list[Verdict], verdicts: list[Verdict]) -> bool:
    """Whether two lists hold the same verdict objects in the same order."""
    return len(kept) == len(verdicts) and all(a is b for a, b in zip(kept, verdicts, strict=True))


def _drop_mapped_pages(mapped: mmap.mmap) -> None:
    """Unmap the pages of a store file mapped for reading that this process has touched (the
    system keeps them cached): touched pages of a mapping count in the process's resident size,
    and the store of a million verdicts is half a gigabyte (the aggregation's peak went from 1.88
    to 2.35 GB). Reading them again costs a minor fault each. Not where mmap has no madvise."""
    if hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        mapped.madvise(mmap.MADV_DONTNEED)


def honest_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """A table as it is written: no zero-width interval, and a note where a score has none."""
    from harness.stats.intervals import blank_every_zero_width, note_missing_intervals

    return note_missing_intervals(blank_every_zero_width(frame))


def frame_to_csv(frame: pd.DataFrame) -> str:
    """CSV with fixed float precision, so identical numbers give identical bytes everywhere."""
    return frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def read_store(path: Path, *, by_judge: bool = False) -> dict[Any, Verdict]:
    """Every complete record of a store file, the last one of each key winning; keyed by
    request key, or with `by_judge` by (judge, request key) so a panel's judges stay apart."""
    records: dict[Any, Verdict] = {}
    with bulk_read():
        for verdict in stored_verdicts(path):
            records[(verdict.judge, verdict.request_key) if by_judge else verdict.request_key] = verdict
    return records


def stored_verdicts(path: Path, line_ends: array[int] | None = None,
                    plain: bytearray | None = None) -> Iterator[Verdict]:
    """Every complete record of a store file in file order (a torn last line ends it), each
    checked; a line that is not a verdict is one BadInput naming the file and line.
    `line_ends`: gets each yielded line's end offset in the file. `plain`: gets 1 for each line
    that is its verdict's own fields as they are (parse_verdict_line took it without the
    validation, so nothing was converted or left out) with no NaN or infinity (which an export
    writes as null), else 0: a line that is, as it stands, a valid export line of its verdict."""
    if not path.exists():
        return
    thorough = path.stat().st_size >= THOROUGH_FROM_BYTES
    end = 0
    with path.open("rb") as handle:  # binary lines split on "\n" only, as JSON Lines does
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # a torn last line: the call it held was in flight
            if line_ends is not None:
                end += len(raw)
                line_ends.append(end)
            try:
                verdict = parse_verdict_line(raw)
            except ValueError:
                raise BadInput(f"{path}:{number}: corrupt record; the store was edited by hand?") from None
            if plain is not None:
                plain.append(verdict.__pydantic_fields_set__ is _ALL_FIELDS  # only the short parse gives it
                             and b"NaN" not in raw and b"Infinity" not in raw)
            # pydantic has checked the ids and the status; the data's shapes are the readers' own
            yield compact_verdict(verdict, path, number, thorough=thorough)


def parse_verdict_line(raw: bytes) -> Verdict:
    """One stored line as a Verdict, as `Verdict.model_validate_json` makes it: a line with
    exactly Verdict's fields, each of its exact type (store_line's, or an older version's with
    its keys sorted), is parsed by pydantic's own JSON parser (the same values: integers beyond 64
    bits stay exact, where orjson makes them floats) and becomes the model without the
    validation, which would only confirm those types (about 3.4 against 5.2 µs a line); its
    fields are put in the model's order, as the validation puts them (the model keeps the dict
    and writes it in its order). Any other line (a missing or extra field, a value pydantic would
    convert or refuse, what is not JSON) goes through pydantic, which decides. ValueError when it
    is not a verdict."""
    try:
        record = from_json(raw, cache_strings="keys")
    except ValueError:
        return Verdict.model_validate_json(raw)
    if record.__class__ is not dict:
        return Verdict.model_validate_json(raw)
    if tuple(record) != _FIELD_ORDER:
        if len(record) != len(_FIELD_ORDER) or not _FIELD_NAMES.issuperset(record):
            return Verdict.model_validate_json(raw)
        record = {name: record[name] for name in _FIELD_ORDER}
    if not _plain_verdict(record):
        return Verdict.model_validate_json(raw)
    return built_verdict(record, _ALL_FIELDS)


def built_verdict(values: dict[str, Any], fields_set: set[str]) -> Verdict:
    """The Verdict pydantic's validation makes of `values` when each already has its field's type
    (every field, in the model's order; the caller has checked), and `fields_set` the fields it
    was given: the same object without running the validation. `values` becomes the model's own."""
    verdict = _new_verdict(Verdict)
    _set_slot(verdict, "__dict__", values)
    _set_slot(verdict, "__pydantic_fields_set__", fields_set)
    _set_slot(verdict, "__pydantic_extra__", None)
    _set_slot(verdict, "__pydantic_private__", None)
    return verdict


def _plain_verdict(record: dict[str, Any]) -> bool:
    """Whether a parsed line's fields (Verdict's, in order) each already have their type: the
    values pydantic would keep as they are."""
    return (record["request_id"].__class__ is str and record["request_key"].__class__ is str
            and record["item_id"].__class__ is str and record["judge"].__class__ is str
            and record["status"].__class__ is str and record["status"] in _STATUSES
            and record["data"].__class__ is dict
            and (record["output"] is None or record["output"].__class__ is str)
            and (record["error"] is None or record["error"].__class__ is str)
            and record["tokens_in"].__class__ is int and record["tokens_out"].__class__ is int)


_new_verdict = object.__new__
_FIELD_ORDER = tuple(Verdict.model_fields)
_FIELD_NAMES = frozenset(_FIELD_ORDER)
_STATUSES = frozenset(get_args(VerdictStatus))


#: A store of this size or more (about 100,000 verdicts) is read with compact_verdict's thorough
#: sharing: 0.2 kB less a verdict for 1-2 µs more, 0.1 s at 46,000 verdicts for 9 MB.
THOROUGH_FROM_BYTES = 50 << 20


#: Verdict data fields that readers group and index by: text (or absent), never lists or numbers.
TEXT_FIELDS = ("model", "model_a", "model_b", "level", "order", "category", "question")
#: One shared instance of each fields-set pydantic gives verdicts (a store's: every field).
_FIELD_SETS: dict[frozenset[str], set[str]] = {frozenset(Verdict.model_fields): set(Verdict.model_fields)}
_ALL_FIELDS = _FIELD_SETS[frozenset(Verdict.model_fields)]
_set_slot = object.__setattr__
#: Verdict fields whose values repeat across records: one string each once interned.
_SHARED_FIELDS = ("item_id", "judge", "status")
#: Verdict data fields holding answer lengths, and one int object per length seen (a length
#: repeats on every verdict of its answer: 56 bytes a verdict otherwise).
_LENGTH_FIELDS = ("len_a", "len_b")
_LENGTHS: dict[int, int] = {}


#: The shared fields-set given last (a store's records, or one importer's, all have the same).
_LAST_FIELD_SET = [_ALL_FIELDS]


def _shared_field_set(fields: set[str]) -> set[str]:
    """The one shared instance of a verdict's fields-set (an importer's verdicts leave defaults
    unset: one set per kind); the last one given is compared first, without building a key."""
    last = _LAST_FIELD_SET[0]
    if fields == last:
        return last
    key = frozenset(fields)
    shared = _FIELD_SETS.get(key)
    if shared is None:
        shared = _FIELD_SETS[key] = set(fields)
    _LAST_FIELD_SET[0] = shared
    return shared


def compact_verdict(
    verdict: Verdict, where: object = None, line: int | None = None, *, thorough: bool = True,
) -> Verdict:
    """The same verdict, its data checked (check_verdict_data) when `where` names it, in about half
    the memory (2.3 -> 1.2 kB each, measured on an AlpacaEval store), so a million of them fit
    where half a million did: the names its data repeats on every line (models, level, order,
    category) interned to one string each, and the set of fields it was given shared with every
    other complete record (pydantic only reads that set: copies copy it; a frozen model never
    adds to it). `thorough` (large stores, imports): its item id, judge, status and the levels
    its probabilities are keyed by interned too, and one int object per answer length (0.2 kB
    less; 1-2 µs more)."""
    if thorough:
        values = verdict.__dict__  # the frozen model's own fields, set once by pydantic
        for name in _SHARED_FIELDS:
            values[name] = intern(values[name])
    fields = verdict.__pydantic_fields_set__
    if fields is not _LAST_FIELD_SET[0]:
        _set_slot(verdict, "__pydantic_fields_set__", _shared_field_set(fields))
    data = verdict.data
    for key in TEXT_FIELDS:  # check_verdict_data's test, in the same pass as the interning
        value = data.get(key)
        if value.__class__ is str:
            data[key] = intern(value)
        elif value is not None and where is not None:
            check_verdict_data(data, where, line)  # raises, naming the field
    if thorough:
        for key in _LENGTH_FIELDS:  # an answer's length is on every verdict that judged the answer
            value = data.get(key)
            if value.__class__ is int:
                data[key] = _LENGTHS.setdefault(value, value)
        probs = data.get("probs")
        if probs.__class__ is dict:
            data["probs"] = {intern(level) if level.__class__ is str else level: p for level, p in probs.items()}
    model_a = data.get("model_a")
    if where is not None and model_a is not None and model_a == data.get("model_b"):
        check_verdict_data(data, where, line)
    return verdict


def check_verdict_record(record: dict[str, Any], where: str, *, complete: bool = True) -> None:
    """One stored or exported verdict, checked for the shapes aggregation and reports rely on, so
    a hand-edited file is one BadInput naming it instead of an exception deep in pandas.
    `complete=False` (a verdicts.jsonl from elsewhere) lets fields be absent, not be of a wrong type."""
    for key in ("request_id", "item_id", "status"):
        value = record.get(key)
        lenient = not complete and (value is None or (key == "item_id" and isinstance(value, int)))
        if not lenient and not isinstance(value, str):
            raise BadInput(f"{where}: {key} must be text; the file was edited by hand?")
    if record.get("status", "ok") not in ("ok", "invalid", "failed"):
        raise BadInput(f"{where}: status {record['status']!r} is not ok, invalid or failed")
    data = record.get("data", {})
    if not isinstance(data, dict):
        raise BadInput(f"{where}: data must be an object")
    check_verdict_data(data, where)


def check_verdict_data(data: dict[str, Any], where: object, line: int | None = None) -> None:
    """A verdict's `data`: the fields readers group by are text, and no model meets itself.
    `where` (and `line`) name the record in the error; formatted only when there is one."""
    for key in TEXT_FIELDS:  # no function calls on the way: this runs once per stored verdict
        if key not in data:
            continue
        value = data[key]
        if value is not None and value.__class__ is not str and not isinstance(value, str):
            raise BadInput(f"{where}{'' if line is None else f':{line}'}: data.{key} must be text, "
                           f"not {type(value).__name__}")
    model_a = data.get("model_a")
    if model_a is not None and model_a == data.get("model_b"):
        raise BadInput(f"{where}{'' if line is None else f':{line}'}: compares {model_a!r} with itself")


def read_manifest_file(path: Path) -> dict[str, Any]:
    """run.json as a dict; anything else (cut short, not UTF-8, not an object) is one BadInput."""
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadInput(f"{path}: not valid JSON (cut short, or edited by hand?)") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(manifest, dict):
        raise BadInput(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    for key in ("task", "protocol", "judge", "counts"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            raise BadInput(f"{path}: {key}: expected an object, found {type(manifest[key]).__name__}")
    return manifest


def _repair_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a kill mid-write, so appends start on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        data = handle.read()
        if data.endswith(b"\n"):
            return
        handle.truncate(data.rfind(b"\n") + 1)
        handle.flush()
        os.fsync(handle.fileno())


def _atomic_write(path: Path, text: str | bytes | Callable[[BinaryIO], object]) -> None:
    """Write a temporary file and rename it over `path`; a failed write (a full disk) leaves the
    old file as it was, removes the temporary one and raises StoreWriteFailed. `text` may be a
    function that writes the content to the file handle it is given (a large file, streamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as handle:
            if callable(text):
                text(handle)
            else:
                handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_failure(path, exc) from None


@dataclass
class LoadedRun:
    """A run directory read back: run.json, verdicts.jsonl (one row per verdict, `data` fields as
    columns), scores.csv and ranking.csv (empty frames where a file is missing)."""

    directory: Path
    manifest: dict[str, Any]
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    #: A panel's per-judge tables (a `judge` column, then the usual columns); empty otherwise.
    scores_by_judge: pd.DataFrame = field(default_factory=lambda: _empty_frame())
    ranking_by_judge: pd.DataFrame = field(default_factory=lambda: _empty_frame())

    @property
    def problems(self) -> list[str]:
        """Why the numbers are partial or cannot stand, one line each (see harness.running.completeness);
        empty when they are complete."""
        from harness.running.completeness import of_manifest

        return list(of_manifest(self.manifest)["problems"])

    @property
    def complete(self) -> bool:
        """Every request has a verdict and the verdicts can stand: the numbers are final."""
        return not self.problems

    @property
    def pending(self) -> int:
        """Requests not judged yet (a run stopped by --max-calls, --max-cost or an interruption)."""
        return int((self.manifest.get("counts") or {}).get("pending", 0) or 0)

    @property
    def failed(self) -> int:
        """Requests whose calls failed after their retries."""
        return int((self.manifest.get("counts") or {}).get("failed", 0) or 0)


def _empty_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame()


def load_run(path: str | Path) -> LoadedRun:
    """Read a run directory written by `harness run` (or an importer).

    A run stopped before its exports were written (killed, or a dead judge) has only run.json and
    the store: its verdicts are read from the store then. Anything unreadable is one BadInput
    naming the file (and line), never a parser's exception.
    """
    from harness.running.result_tables import read_result_table

    directory = Path(path)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BadInput(f"{directory}: not a run directory (no {MANIFEST_FILE})")
    manifest = read_manifest_file(manifest_path)
    verdicts_path = directory / VERDICTS_FILE
    with bulk_read():
        if verdicts_path.is_file():
            records: Iterable[dict[str, Any]] = read_verdict_lines(verdicts_path)
        else:
            records = (v.model_dump(mode="json") for v in read_store(directory / STORE_FILE, by_judge=True).values())
        verdicts = flat_records_frame(records)
    return LoadedRun(
        directory=directory,
        manifest=manifest,
        verdicts=verdicts,
        scores=read_result_table(directory / SCORES_FILE, required=("model",)),
        ranking=read_result_table(directory / RANKING_FILE, required=("model",)),
        scores_by_judge=read_result_table(directory / SCORES_BY_JUDGE_FILE, key=("judge", "model")),
        ranking_by_judge=read_result_table(directory / RANKING_BY_JUDGE_FILE, key=("judge", "model")),
    )


def read_verdict_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Every record of an exported verdicts.jsonl, checked, one at a time; anything else is one
    BadInput naming the file and line. Read line by line as bytes (lines end at "\n" only, as in
    jsonl_lines): the whole file as one text and the list of its lines held another gigabyte at a
    million, and the list of its records as dicts 1.7 GB more."""
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = orjson.loads(line)  # which also proves the line UTF-8
            except orjson.JSONDecodeError:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise BadInput(f"{path}: not UTF-8 text (byte {offset + exc.start}); "
                                   "rebuild it with `harness aggregate`") from None
                try:
                    record = json.loads(text)  # what json_line also accepts: NaN, huge integers
                except ValueError:
                    record = None
            offset += len(line)
            if not isinstance(record, dict):
                raise BadInput(f"{path}:{number}: not a verdict record; rebuild the file with `harness aggregate`")
            try:
                check_verdict_record(record, f"{path}:{number}", complete=False)
            except BadInput as exc:
                raise BadInput(f"{exc}; rebuild the file with `harness aggregate`") from None
            yield record


def json_line(line: str | bytes) -> Any:
    """One JSON Lines record: orjson (several times faster on a million lines), or the standard
    library for what orjson refuses and json accepts (NaN, Infinity, integers beyond 64 bits),
    so a file reads as it always did. ValueError when it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)
