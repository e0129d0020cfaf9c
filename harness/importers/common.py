"""What every importer shares: reading other tools' files with errors that name file and line,
and building verdicts in the data format of the built-in protocols."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from harness.datasets import json_objects
from harness.errors import BadInput
from harness.models import Verdict, VerdictStatus
from harness.stats.preference import LEVELS as PAIRWISE_LEVELS  # as the pairwise protocol stores them
from harness.store import built_verdict, compact_verdict

if TYPE_CHECKING:
    from harness.importers.item_texts import ItemTexts


__all__ = ["PAIRWISE_LEVELS", "ImportedRun", "pairwise_verdict", "read_json", "read_jsonl", "require", "rubric_verdict",
           "text_id"]


@dataclass
class ImportedRun:
    """Everything an importer read: the protocol to aggregate with, the original judge, the verdicts."""

    format: str
    name: str
    protocol: str
    config: dict[str, Any]
    judge: str
    verdicts: list[Verdict]
    sources: list[str]
    notes: list[str] = field(default_factory=list)
    #: Extra files to write into the run directory (name -> text, or a function giving the file in
    #: pieces of text or UTF-8 bytes, so a large dataset is never one string), e.g. a dataset of the items.
    extra_files: dict[str, str | Callable[[], Iterable[str | bytes]]] = field(default_factory=dict)
    dataset_file: str | None = None
    #: The items' instructions and answers, when the source has them: written as dataset.jsonl and
    #: judge_task.yaml once the verdicts are final (after screening; see harness.importers.item_texts).
    texts: ItemTexts | None = None
    #: Models the files name that no kept verdict is about (every judgment failed): run.json lists
    #: them with the others, so every table shows them, without a score.
    unjudged_models: list[str] = field(default_factory=list)


def read_json(path: Path) -> Any:
    """A whole-file JSON document: orjson (AlpacaEval files are megabytes each), else the
    standard library, which reads what orjson refuses (NaN, text not UTF-8) and words the error
    for the user. orjson is given the file's bytes: it checks the UTF-8 itself, faster than
    decoding them to text first (0.64 against 0.73 s for 212 MB of AlpacaEval annotations)."""
    try:
        return orjson.loads(path.read_bytes())
    except (orjson.JSONDecodeError, OSError):
        pass  # the slower path below reads it again, or says what is wrong with it
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON Lines file."""
    yield from json_objects(read_text(path), str(path))


def require(record: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise BadInput(f"{where}: missing field {missing[0]!r}")


def name_field(record: dict[str, Any], key: str, where: str) -> str:
    """A model's name: non-empty text (a list or an object would become a nonsense name)."""
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where}: {key} {_shown(value)} is not a model name (expected text)")
    return value


def id_field(record: dict[str, Any], key: str, where: str) -> str:
    """An item's id: text or a whole number."""
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise BadInput(f"{where}: {key} {_shown(value)} is not an id (expected text or a number)")
    return str(value)


def turn_field(record: dict[str, Any], where: str) -> int:
    """An MT-Bench turn: 1 (the default) or 2."""
    raw = record.get("turn", 1)
    try:
        turn = int(raw)
    except (TypeError, ValueError, OverflowError):  # a list, text, NaN or infinity
        raise BadInput(f"{where}: turn: {_shown(raw)} is not 1 or 2") from None
    if turn not in (1, 2) or turn != raw and not isinstance(raw, str):  # 1.5 is no turn
        raise BadInput(f"{where}: turn: {_shown(raw)} is not 1 or 2")
    return turn


def text_field(record: dict[str, Any], key: str, where: str) -> str:
    """An instruction or an answer: text, or null for an empty one."""
    value = record.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadInput(f"{where}: {key} is {type(value).__name__}, expected text")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A judgment file's text, or one `BadInput` naming it (missing, unreadable, not `encoding`)."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        return path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read ({exc.__class__.__name__})") from None


def text_id(prefix: str, text: str) -> str:
    """A stable item id from its instruction text, so the same prompt matches across files."""
    return f"{prefix}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def request_key(fmt: str, request_id: str, judge: str) -> str:
    return hashlib.sha256(f"import:{fmt}:{judge}:{request_id}".encode()).hexdigest()[:32]


def pairwise_verdict(
    fmt: str,
    *,
    item_id: str,
    model: str,
    opponent: str,
    model_is_a: bool,
    level: str | None,
    judge: str,
    len_model: int | None,
    len_opponent: int | None,
    probs: dict[str, float] | None = None,
    category: Any = None,
    output: str | None = None,
    error: str | None = None,
) -> Verdict:
    """A verdict as the pairwise protocol stores it: request id `item::model::opponent::order`
    (`ab`: the model was shown first), level and distribution from position A's side.

    `level` None makes an `invalid` verdict (the judge answered, nothing parseable). Unknown
    lengths are stored as 0 with `length_unknown`, so length-based numbers are not computed.
    """
    order = "ab" if model_is_a else "ba"
    model_a, model_b = (model, opponent) if model_is_a else (opponent, model)
    len_a, len_b = (len_model, len_opponent) if model_is_a else (len_opponent, len_model)
    request_id = f"{item_id}::{model}::{opponent}::{order}"
    data: dict[str, Any] = {
        "model_a": model_a, "model_b": model_b, "order": order,
        "len_a": int(len_a or 0), "len_b": int(len_b or 0), "category": _category(category),
    }
    if len_a is None or len_b is None:
        data["length_unknown"] = True
    if level is not None:
        data["level"] = level
    if probs is not None:
        data["probs"] = probs
    return _imported_verdict(fmt, request_id, item_id, judge, level is not None, data, output, error)


def rubric_verdict(
    fmt: str,
    *,
    item_id: str,
    model: str,
    score: float | None,
    judge: str,
    category: Any = None,
    length: int | None = None,
    output: str | None = None,
    error: str | None = None,
) -> Verdict:
    """A verdict as the rubric protocol stores it: request id `item::model`, `score` in data."""
    request_id = f"{item_id}::{model}"
    data: dict[str, Any] = {"model": model, "category": _category(category)}
    if length is not None:
        data["length"] = length
    if score is not None:
        data["score"] = score
    return _imported_verdict(fmt, request_id, item_id, judge, score is not None, data, output, error)


def _category(value: Any) -> str | None:
    """Other tools' category labels as text (a number or a list would not group)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _imported_verdict(
    fmt: str, request_id: str, item_id: str, judge: str, parsed: bool, data: dict[str, Any],
    output: str | None, error: str | None,
) -> Verdict:
    """ok when the tool's record had a verdict, else invalid with its error; compacted as a stored
    verdict is (names interned, the fields-set shared): an import holds every verdict at once.
    Where every field already has its type (text ids, the data dict built here with text keys),
    the verdict is made as pydantic's validation would make it, without running it (about 2 s of
    a 500,000-verdict import); anything else is validated."""
    key = request_key(fmt, request_id, judge)
    error = None if parsed else error
    status: VerdictStatus = "ok" if parsed else "invalid"
    if (request_id.__class__ is str and item_id.__class__ is str and judge.__class__ is str
            and data.__class__ is dict and (output is None or output.__class__ is str)
            and (error is None or error.__class__ is str)):
        verdict = built_verdict({"request_id": request_id, "request_key": key, "item_id": item_id, "judge": judge,
                                 "status": status, "data": data, "output": output, "error": error,
                                 "tokens_in": 0, "tokens_out": 0}, _IMPORTED_FIELDS)
    else:
        verdict = Verdict(request_id=request_id, request_key=key, item_id=item_id, judge=judge, status=status,
                          data=data, output=output, error=error)
    return compact_verdict(verdict)


#: The fields an imported verdict is given (its token counts are left at their defaults).
_IMPORTED_FIELDS = {"request_id", "request_key", "item_id", "judge", "status", "data", "output", "error"}


def screen(run: ImportedRun) -> list[str]:
    """Take out what other tools' folders hold but a ranking cannot use, and say so.

    A model judged against itself (AlpacaEval's results include the baseline's own annotations,
    which its leaderboard lists at 50% by definition) carries no information about the ranking;
    a second judgment of the same (item, models, order) by the same judge, e.g. one file given
    twice, would silently replace the first (several annotators' labels of one pair are kept:
    each is its own judge, `human:NAME`). Both are left out; an empty answer is kept (the judge saw it
    empty) but counted. Returns the notices; raises BadInput when nothing is left.
    """
    notices: list[str] = []
    selves = [v for v in run.verdicts if v.data.get("model_a") is not None and v.data.get("model_a") == v.data.get("model_b")]
    if selves:
        names = sorted({str(v.data["model_a"]) for v in selves})
        listed = {"alpaca_eval": "; AlpacaEval lists its baseline at 50%", "arena_hard": "; Arena-Hard lists its baseline at 50%"}
        notices.append(f"{len(selves)} judgment(s) compare a model with itself ({', '.join(names)}); left out "
                       f"(a model against itself says nothing about the ranking{listed.get(run.format, '')})")
    left_out = {id(v) for v in selves}
    kept: list[Verdict] = []
    first: dict[tuple[str, str], Verdict] = {}
    repeats = disagree = 0
    for verdict in run.verdicts:
        if id(verdict) in left_out:
            continue
        earlier = first.get((verdict.request_id, verdict.judge))
        if earlier is None:
            first[(verdict.request_id, verdict.judge)] = verdict
            kept.append(verdict)
            continue
        repeats += 1
        disagree += (earlier.status, earlier.data) != (verdict.status, verdict.data)
        example = verdict.request_id
    if repeats:
        notices.append(f"{repeats} judgment(s) repeat one already read (same item, models and order, e.g. "
                       f"{example}; {disagree} of them differ from it); kept the first of each")
    empty = sum(1 for v in kept if _judges_an_empty_answer(v))
    if empty:
        notices.append(f"{empty} judgment(s) are of an empty answer; kept (the judge saw it empty)")
    if not kept:
        raise BadInput(f"{run.sources[0] if run.sources else run.format}: nothing to import: "
                       + "; ".join(n.split(";")[0] for n in notices))
    run.verdicts = kept
    run.notes.extend(notices)
    return notices


def _judges_an_empty_answer(verdict: Verdict) -> bool:
    data = verdict.data
    if data.get("length_unknown"):
        return False
    if "len_a" in data:
        return data.get("len_a") == 0 or data.get("len_b") == 0
    return data.get("length") == 0
