"""What the human-label importers share: reading rows from JSONL, JSON or CSV with their line
numbers, turning a winner into a pairwise verdict judged by `human` (or `human:ANNOTATOR`), and
collecting the texts, so an import can also write `dataset.jsonl` and `judge_task.yaml` and a
judge of the user's can be run on the very pairs the humans labelled.

A human preference has no "slightly better": a win is stored as a clear win (A>>B or B>>A) and
counts once in Bradley-Terry (`strong_weight: 1`). Position A is the answer the annotator saw
first (`model_a`); calibration matches pairs in either order, so that choice never matters there.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.datasets import json_objects
from harness.errors import BadInput
from harness.importers.common import ImportedRun, pairwise_verdict, read_text, rubric_verdict
from harness.models import Verdict

HUMAN = "human"
DATASET_FILE = "dataset.jsonl"
TASK_FILE = "judge_task.yaml"
#: Pairwise levels of a human winner, from position A's (model_a's) side.
WINNER_LEVELS = {"model_a": "A>>B", "model_b": "B>>A", "tie": "A=B"}
#: Protocol options of a human pairwise run: a win counts once, no length rule.
PAIRWISE_CONFIG: dict[str, Any] = {"strong_weight": 1.0, "length_k": -1, "verdict_format": "labels"}


def human_judge(annotator: Any, judge: str = HUMAN) -> str:
    """`human` (or the judge the import names), with `:NAME` when the row names its annotator."""
    name = text_or_none(annotator)
    return f"{judge}:{name}" if name else judge


class NotText(BadInput):
    """A field holding a list or an object where text (a name, an id, a label) belongs: its
    Python form would become a model or item name. `at_record` names the file and line."""


def text_or_none(value: Any) -> str | None:
    """A field's text, or None for a missing, null or empty (CSV) value; a number is its text
    (an id); a list or an object is NotText."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, (list, dict)):
        shown = repr(value)
        raise NotText(f"{shown if len(shown) <= 40 else shown[:39] + '…'} is not text (a name, an id or a label)")
    text = str(value).strip()
    return text or None


def message_text(value: Any) -> str | None:
    """A chat message's content as text, or None when it has none as plain text (a list of
    content parts, an image): such a message gives no item text, and is no error."""
    return text_or_none(value) if isinstance(value, (str, int, float)) else None


@contextmanager
def at_record(where: str) -> Iterator[None]:
    """Within one record's reading: a field that is not text is bad input naming the record."""
    try:
        yield
    except NotText as exc:
        raise BadInput(f"{where}: {exc}") from None


def required_text(record: dict[str, Any], key: str, where: str) -> str:
    if key not in record:
        raise BadInput(f"{where}: missing field {key!r}")
    text = text_or_none(record[key])
    if text is None:
        raise BadInput(f"{where}: {key}: empty")
    return text


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from a JSON Lines file, a JSON array (Chatbot Arena's battle dumps) or
    a CSV/TSV file with a header (`.csv`, `.tsv`); CSV cells are strings."""
    text = read_text(path, encoding="utf-8-sig")  # spreadsheets often save a byte-order mark
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        yield from _csv_rows(text, path, "\t" if suffix == ".tsv" else ",")
    elif text.lstrip().startswith("["):
        yield from _json_array_rows(text, path)
    else:
        yield from json_objects(text, str(path))


def _csv_rows(text: str, path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)  # quoted cells may hold line breaks
    if not reader.fieldnames:
        raise BadInput(f"{path}:1: no header row")
    try:
        for row in reader:
            if None in row:
                raise BadInput(f"{path}:{reader.line_num}: more cells than header columns")
            if any(text_or_none(v) for v in row.values()):
                yield reader.line_num, dict(row)
    except csv.Error as exc:
        raise BadInput(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None


def _json_array_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(rows, list):
        raise BadInput(f"{path}: expected a JSON array of objects or JSON Lines")
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise BadInput(f"{path}: entry {index}: expected an object")
        yield index, row


def last_user_turn_only(conversation: Any) -> tuple[str | None, str | None]:
    """(instruction, answer) of a one-turn conversation [{role: user}, {role: assistant}], else
    (None, None): later turns carry a model-specific history a shared item cannot hold."""
    if not isinstance(conversation, list) or len(conversation) != 2:
        return None, None
    first, second = conversation
    if not (isinstance(first, dict) and isinstance(second, dict)):
        return None, None
    if first.get("role") != "user" or second.get("role") != "assistant":
        return None, None
    return message_text(first.get("content")), message_text(second.get("content"))


@dataclass
class Texts:
    """The instruction and each model's answer per item, as far as the rows carry them."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(
        self,
        where: str,
        item_id: str,
        instruction: str | None,
        answers: dict[str, str | None],
        category: str | None = None,
        field_names: dict[str, str] | None = None,
    ) -> None:
        item = self.items.setdefault(item_id, {"instruction": None, "answers": {}, "category": category})
        if instruction is not None:
            if item["instruction"] not in (None, instruction):
                raise BadInput(f"{where}: instruction: differs from an earlier row of item {item_id!r}")
            item["instruction"] = instruction
        for model, answer in answers.items():
            if answer is None:
                continue
            if item["answers"].get(model, answer) != answer:
                name = (field_names or {}).get(model, "answer")
                raise BadInput(f"{where}: {name}: differs from an earlier answer of {model!r} to item {item_id!r}")
            item["answers"][model] = answer

    def dataset_rows(self, needed: dict[str, set[str]]) -> list[dict[str, Any]]:
        """Items with an instruction and an answer of every model their labels compare."""
        rows = []
        for item_id, item in self.items.items():
            if item["instruction"] is None or not needed.get(item_id, set()) <= set(item["answers"]):
                continue
            rows.append(
                {
                    "id": item_id,
                    "instruction": item["instruction"],
                    "category": item["category"],
                    "answers": dict(sorted(item["answers"].items())),
                }
            )
        return rows


class HumanLabels:
    """Collects human verdicts of one import, refusing contradictory or repeated rows."""

    def __init__(self, fmt: str, judge: str | None = None):
        self.fmt = fmt
        #: Who gave the verdicts: `human` unless the import names a judge (`--judge NAME`), e.g.
        #: an LLM judge's stored verdicts, so run.json and calibration maps name the real judge.
        self.judge = text_or_none(judge) or HUMAN
        self.judges: set[str] = set()
        self.verdicts: list[Verdict] = []
        self.texts = Texts()
        self.annotators: set[str] = set()
        self._seen: dict[tuple[str, ...], str] = {}
        self._models: dict[str, set[str]] = {}

    def pair(
        self,
        where: str,
        *,
        item_id: str,
        model_a: str,
        model_b: str,
        level: str,
        annotator: Any = None,
        category: str | None = None,
        len_a: int | None = None,
        len_b: int | None = None,
        output: str | None = None,
        judge: str | None = None,
    ) -> None:
        """One human preference between model_a (seen first) and model_b; `judge`: the row's own
        judge name, when it gives one."""
        if model_a == model_b:
            raise BadInput(f"{where}: model_b: the same model as model_a ({model_a!r}); a pair needs two models")
        judge = self._judge_of(annotator, judge)
        key = ("pair", item_id, *sorted((model_a, model_b)), judge)
        self._once(key, where, f"item {item_id!r}, {model_a} vs {model_b}", judge)
        self._models.setdefault(item_id, set()).update((model_a, model_b))
        self.verdicts.append(
            pairwise_verdict(
                self.fmt,
                item_id=item_id,
                model=model_a,
                opponent=model_b,
                model_is_a=True,
                level=level,
                judge=judge,
                len_model=len_a,
                len_opponent=len_b,
                category=category,
                output=output,
            )
        )

    def score(
        self,
        where: str,
        *,
        item_id: str,
        model: str,
        score: float,
        annotator: Any = None,
        category: str | None = None,
        length: int | None = None,
        judge: str | None = None,
    ) -> None:
        """One human score of a model's answer."""
        judge = self._judge_of(annotator, judge)
        self._once(("score", item_id, model, judge), where, f"item {item_id!r}, model {model!r}", judge)
        self._models.setdefault(item_id, set()).add(model)
        self.verdicts.append(
            rubric_verdict(
                self.fmt,
                item_id=item_id,
                model=model,
                score=score,
                judge=judge,
                category=category,
                length=length,
                output=f"human score {score:g}",
            )
        )

    def _judge_of(self, annotator: Any, row_judge: str | None) -> str:
        base = text_or_none(row_judge) or self.judge
        self.judges.add(base)
        return human_judge(annotator, base)

    def _once(self, key: tuple[str, ...], where: str, what: str, judge: str) -> None:
        if key in self._seen:
            raise BadInput(
                f"{where}: a second label by {judge} for {what} (first at {self._seen[key]}); "
                "give each annotator's rows an `annotator`"
            )
        self._seen[key] = where
        if ":" in judge:
            self.annotators.add(judge)

    def judge_files(self, name: str, task: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
        """dataset.jsonl and judge_task.yaml for the items whose texts the rows carry, and a note."""
        rows = self.texts.dataset_rows(self._models)
        if not rows:
            return {}, ["no instruction and answer texts: no dataset.jsonl or judge_task.yaml written"]
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        task_text = (
            json.dumps(
                {
                    "name": f"{name}_judge",
                    "description": f"the items humans labelled in {name}, "
                    "to judge with a model and calibrate against the human labels",
                    "dataset": {"path": DATASET_FILE},
                    "judge": "local",
                    **task,
                },
                indent=2,
            )
            + "\n"
        )
        skipped = len(self._models) - len(rows)
        notes = [
            f"dataset.jsonl: {len(rows)} items with texts"
            + (f" ({skipped} without every text left out)" if skipped else "")
        ]
        return {DATASET_FILE: lines, TASK_FILE: task_text}, notes

    def run(
        self,
        *,
        name: str,
        protocol: str,
        config: dict[str, Any],
        paths: list[Path],
        task: dict[str, Any],
        notes: tuple[str, ...] = (),
    ) -> ImportedRun:
        if not self.verdicts:
            raise BadInput(f"{paths[0]}: no labels")
        files, file_notes = self.judge_files(name, task)
        if self.annotators:
            file_notes.insert(0, f"{len(self.annotators)} named annotators (verdict judge {self.judge}:NAME)")
        return ImportedRun(
            format=self.fmt,
            name=name,
            protocol=protocol,
            config=config,
            judge=", ".join(sorted(self.judges)) or self.judge,
            verdicts=self.verdicts,
            sources=[str(p.resolve()) for p in paths],
            notes=[*notes, *file_notes],
            extra_files=dict(files),
            dataset_file=DATASET_FILE if files else None,
        )


def pairwise_task() -> dict[str, Any]:
    """The judge task an import writes for pairwise labels (every labelled pair, both orders)."""
    return {"protocol": "pairwise", "options": {"strong_weight": 1.0}}
