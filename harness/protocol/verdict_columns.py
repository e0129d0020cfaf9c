"""The fields an aggregation reads from every verdict, gathered in one pass as columns.

A million stored verdicts are a million objects spread over the heap, each with its own `data`
dict. Every pass that reads one field from each of them waits on memory: about half a second per
pass at a million, whatever it does with the field. An aggregation made a dozen such passes (the
statuses, the judged ones, their data, each field, the items, the style counts). `verdict_columns`
makes one pass that reads every field they need into one list per field; the later passes walk
those lists, whose entries are next to each other.

Within `columns_shared()` (an aggregation: `harness aggregate`, the end of `harness run` and of
an import) the columns of a list are gathered once and handed to every step that asks for the
same list object; outside it each call gathers them again. A list must not change while its
columns are shared: nothing in an aggregation changes its verdicts' list (a changed length or
end is caught, and the columns gathered again).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from itertools import repeat
from typing import TYPE_CHECKING, Any

from harness.bulk_reads import bulk_read

if TYPE_CHECKING:
    from harness.models import Verdict


class _Missing:
    """The value gathered where a verdict's data lacks the field: false, as `data.get`'s None is."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"


#: A field the verdict's data does not have (None may be a value).
MISSING: Any = _Missing()


class Absent(Sequence[Any]):
    """A column no verdict has (MISSING at every position) in a few bytes, where a list of a
    million MISSING held 8 MB: style counts, length flags and the like, absent from most runs."""

    __slots__ = ("_length",)

    def __init__(self, length: int):
        self._length = length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [MISSING] * len(range(*index.indices(self._length)))
        if not -self._length <= index < self._length:
            raise IndexError("column index out of range")
        return MISSING

    def __iter__(self) -> Iterator[Any]:
        return repeat(MISSING, self._length)

    def __contains__(self, value: object) -> bool:
        return self._length > 0 and value is MISSING

    def count(self, value: Any) -> int:
        return self._length if value is MISSING else 0


class Released(Absent):
    """A column an aggregation step handed back (release_columns) so its memory is free for the
    steps after it; reading it is a bug, so it raises."""

    __slots__ = ()

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("a released verdict column was read; ask verdict_columns again")

    def __iter__(self) -> Iterator[Any]:
        raise RuntimeError("a released verdict column was read; ask verdict_columns again")


@dataclass(frozen=True)
class VerdictColumns:
    """One list per field, position i holding verdict i's value (MISSING where its data lacks
    the field). `status`, `item_id` and `request_id` are the verdict's own fields; the rest are
    fields of its `data` that the built-in protocols and the generic steps read: lists, or Absent
    where no verdict has the field."""

    status: list[str]
    item_id: list[str]
    request_id: list[str]
    model: Sequence[Any]
    model_a: Sequence[Any]
    model_b: Sequence[Any]
    level: Sequence[Any]
    len_a: Sequence[Any]
    len_b: Sequence[Any]
    probs: Sequence[Any]
    length_unknown: Sequence[Any]
    style_a: Sequence[Any]
    style_b: Sequence[Any]
    category: Sequence[Any]

    def __len__(self) -> int:
        return len(self.status)

    def released(self) -> set[str]:
        """The names of the columns handed back (release_columns)."""
        return {name for name in COLUMN_NAMES if isinstance(getattr(self, name), Released)}

    def all_ok(self) -> bool:
        """Whether every verdict is judged (status ok): then no column needs filtering."""
        return self.status.count("ok") == len(self.status)

    def ok_positions(self) -> list[int]:
        """The positions of the judged (ok) verdicts, in order."""
        return [i for i, status in enumerate(self.status) if status == "ok"]

    def take(self, positions: Sequence[int]) -> VerdictColumns:
        """The columns of the verdicts at `positions`."""
        taken: list[Any] = [
            type(column)(len(positions)) if isinstance(column, Absent) else list(map(column.__getitem__, positions))
            for column in _columns_in_order(self)]
        return VerdictColumns(*taken)


def _columns_in_order(columns: VerdictColumns) -> tuple[Sequence[Any], ...]:
    """The columns in field order, not copied (dataclasses.astuple copies every list deeply)."""
    return tuple(getattr(columns, name) for name in COLUMN_NAMES)


#: The data fields gathered, in VerdictColumns' order after its three own fields.
DATA_FIELDS = ("model", "model_a", "model_b", "level", "len_a", "len_b", "probs", "length_unknown",
               "style_a", "style_b", "category")
#: Every column, in VerdictColumns' order.
COLUMN_NAMES = ("status", "item_id", "request_id", *DATA_FIELDS)


def gather_columns(verdicts: Sequence[Verdict]) -> VerdictColumns:
    """The columns of `verdicts`, in one pass over them."""
    status: list[str] = []
    item_id: list[str] = []
    request_id: list[str] = []
    fields: list[list[Any]] = [[] for _ in DATA_FIELDS]
    put_status, put_item, put_request = status.append, item_id.append, request_id.append
    (put_model, put_a, put_b, put_level, put_len_a, put_len_b, put_probs, put_unknown, put_style_a,
     put_style_b, put_category) = (column.append for column in fields)
    missing = MISSING
    for verdict in verdicts:  # one loop of appends: no row tuples, so no second copy at once
        put_status(verdict.status)
        put_item(verdict.item_id)
        put_request(verdict.request_id)
        get = verdict.data.get
        put_model(get("model", missing))
        put_a(get("model_a", missing))
        put_b(get("model_b", missing))
        put_level(get("level", missing))
        put_len_a(get("len_a", missing))
        put_len_b(get("len_b", missing))
        put_probs(get("probs", missing))
        put_unknown(get("length_unknown", missing))
        put_style_a(get("style_a", missing))
        put_style_b(get("style_b", missing))
        put_category(get("category", missing))
    count = len(status)
    return VerdictColumns(status, item_id, request_id,
                          *(Absent(count) if column.count(missing) == count else column for column in fields))


#: Per shared list (by id): the list itself (so its id names no other list meanwhile), its length
#: and first and last verdicts when gathered (a changed list is gathered again), its columns.
_shared: ContextVar[dict[int, tuple[Sequence[Verdict], tuple[int, object, object], VerdictColumns]] | None] = (
    ContextVar("harness_verdict_columns", default=None))


def _shape(verdicts: Sequence[Verdict]) -> tuple[int, object, object]:
    """What must not have changed for a list's kept columns to be its columns."""
    return (len(verdicts), verdicts[0], verdicts[-1]) if verdicts else (0, None, None)


@contextmanager
def columns_shared() -> Iterator[None]:
    """Within this block, verdict_columns gathers each list's columns once. Nested blocks share
    the outer one's; the columns are dropped when the outermost block ends."""
    if _shared.get() is not None:
        yield
        return
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def verdict_columns(verdicts: Sequence[Verdict]) -> VerdictColumns:
    """The columns of `verdicts`: the ones already gathered for this very list within
    columns_shared(), else gathered now (and kept for the block)."""
    kept = kept_columns(verdicts, *COLUMN_NAMES)
    if kept is not None:
        return kept
    with bulk_read():  # fourteen lists of a million entries, kept for the aggregation
        columns = gather_columns(verdicts)
    shared = _shared.get()
    if shared is not None:
        shared[id(verdicts)] = (verdicts, _shape(verdicts), columns)
    return columns


@contextmanager
def subset_of(verdicts: Sequence[Verdict], positions: Sequence[int]) -> Iterator[list[Verdict]]:
    """[verdicts[i] for i in positions]; when the columns of `verdicts` are shared, the subset's
    are taken from them and shared until the block ends (a category's verdicts: no pass over the
    verdicts again, and no category's columns held while the next one is scored)."""
    subset = list(map(verdicts.__getitem__, positions))
    whole = kept_columns(verdicts)
    shared = _shared.get()
    if whole is None or shared is None:
        yield subset
        return
    shared[id(subset)] = (subset, _shape(subset), whole.take(positions))
    try:
        yield subset
    finally:
        shared.pop(id(subset), None)


def kept_columns(verdicts: Sequence[Verdict], *needs: str) -> VerdictColumns | None:
    """The columns of `verdicts` when they are shared and already gathered, none of `needs`
    released (default: the statuses), else None: for a step that reads one field, which one
    direct pass does as cheaply as gathering every field."""
    kept = _kept(verdicts)
    return None if kept is None or kept.released().intersection(needs or ("status",)) else kept


def release_columns(verdicts: Sequence[Verdict], *names: str) -> None:
    """Hand back the shared columns `names` of `verdicts` (a step that read them last): a million
    verdicts' column is 8 MB, and the steps after it need the memory. A step that asks for them
    later gets them gathered again."""
    kept, shared = _kept(verdicts), _shared.get()
    if kept is not None and shared is not None:
        handed_back: dict[str, Any] = {name: Released(len(kept)) for name in names}
        shared[id(verdicts)] = (verdicts, _shape(verdicts), replace(kept, **handed_back))


def _kept(verdicts: Sequence[Verdict]) -> VerdictColumns | None:
    """The shared columns of this very list, unchanged since they were gathered, or None."""
    shared = _shared.get()
    kept = shared.get(id(verdicts)) if shared is not None else None
    if kept is None or kept[0] is not verdicts:
        return None
    (length, first, last), now = kept[1], _shape(verdicts)
    return kept[2] if length == now[0] and first is now[1] and last is now[2] else None


def columns_if_shared(verdicts: Sequence[Verdict]) -> VerdictColumns | None:
    """verdict_columns(verdicts) within columns_shared(), else None: for a step that reads a few
    fields, which a direct pass reads more cheaply than gathering every field it would not share."""
    return verdict_columns(verdicts) if _shared.get() is not None else None


def present(value: Any) -> bool:
    """Whether a gathered data value is there and not None (what `data.get(name)` tests)."""
    return value is not None and value is not MISSING
