"""The stored verdicts of a finished run (a `harness run` or a `harness import`), indexed by what a
judge request asks about, so the replay judge answers each request with one dictionary lookup.

Keys are protocol facts, not request ids or keys: the same item and models make the same key
whatever the prompt, template or answer order of the run that replays them. Pairwise verdicts are
indexed by position (item, model in A, model in B); a request whose order was not stored is
answered from the other order with the verdict mirrored (A>>B becomes B>>A, and so on).
Checklist answers are found whichever mode judged them: one question's answer is read out of an
`all`-mode verdict, and an `all`-mode request is put together from `each`-mode answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.stats.preference import MIRROR
from harness.store import STORE_FILE, VERDICTS_FILE, check_verdict_record, read_store


@dataclass(frozen=True)
class Stored:
    """One stored verdict as the replay needs it: the status, the protocol's data, the error."""

    status: str
    data: dict[str, Any]
    error: str | None = None


def mirrored(stored: Stored) -> Stored:
    """A pairwise verdict from the other position's side (level, distribution, models, lengths)."""
    data = dict(stored.data)
    if "level" in data:
        data["level"] = MIRROR[data["level"]]
    if isinstance(data.get("probs"), dict):
        data["probs"] = {MIRROR[level]: p for level, p in data["probs"].items()}
    return Stored(stored.status, data, stored.error)


@dataclass
class ReplaySource:
    """Every verdict of one run directory, by item and models (and question for checklists)."""

    path: Path
    judge: str | None
    pairwise: dict[tuple[str, str, str], Stored] = field(default_factory=dict)
    graded: dict[tuple[str, str], Stored] = field(default_factory=dict)
    #: Keyed by item, model (None where a verdict named none) and, for one question, the question.
    checked_all: dict[tuple[str, Any], Stored] = field(default_factory=dict)
    checked_each: dict[tuple[str, Any, Any], Stored] = field(default_factory=dict)
    checklists: dict[str, Stored] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, judge: str | None = None) -> ReplaySource:
        """Read the run's verdicts once; `judge` picks one judge's when the run holds several."""
        directory = Path(path).expanduser()
        records = _records(directory)
        judges = sorted({str(r.get("judge")) for r in records})
        if judge is not None:
            if judge not in judges:
                raise BadInput(f"--judge replay:{path}: option judge={judge!r} has no verdicts there "
                               f"(judges: {', '.join(judges) or 'none'})")
            records = [r for r in records if r.get("judge") == judge]
        elif len(judges) > 1:
            raise BadInput(f"--judge replay:{path}: the run holds verdicts of several judges "
                           f"({', '.join(judges)}); choose one with --judge-option judge=NAME")
        source = cls(directory, judge if judge is not None else (judges[0] if judges else None))
        for record in records:
            source._add(record)
        return source

    def _add(self, record: dict[str, Any]) -> None:
        data = record.get("data") or {}
        stored = Stored(str(record.get("status")), data, record.get("error"))
        item = str(record.get("item_id"))
        if "model_a" in data and "model_b" in data:
            self.pairwise[(item, data["model_a"], data["model_b"])] = stored
        elif data.get("stage") == "generate":
            self.checklists[item] = stored
        elif data.get("stage") == "judge" and "question" in data:
            self.checked_each[(item, str(data.get("model")), data["question"])] = stored
        elif data.get("stage") == "judge":
            self.checked_all[(item, str(data.get("model")))] = stored
        elif "model" in data:
            self.graded[(item, data["model"])] = stored

    def __len__(self) -> int:
        indexes: tuple[dict[Any, Stored], ...] = (
            self.pairwise, self.graded, self.checked_all, self.checked_each, self.checklists)
        return sum(len(index) for index in indexes)

    def pair(self, item: str, model_a: str, model_b: str) -> tuple[Stored, bool] | None:
        """The verdict with `model_a` shown first, and whether it was mirrored from the other order."""
        stored = self.pairwise.get((item, model_a, model_b))
        if stored is not None:
            return stored, False
        other = self.pairwise.get((item, model_b, model_a))
        return (mirrored(other), True) if other is not None else None


    def single(self, item: str, model: str, question: str) -> Stored | None:
        """One checklist question's answer (`each` mode), from either mode's verdicts."""
        stored = self.checked_each.get((item, model, question))
        whole = self.checked_all.get((item, model)) if stored is None else None
        if whole is None or question not in (whole.data.get("questions") or []):
            return stored
        if whole.status != "ok":
            return whole
        index = whole.data["questions"].index(question)
        p_yes = whole.data.get("p_yes")
        return Stored("ok", {"answer": whole.data["answers"][index], "p_yes": p_yes[index] if p_yes else None})

    def every(self, item: str, model: str, questions: list[str]) -> Stored | None:
        """All of a checklist's answers (`all` mode), from either mode's verdicts."""
        stored = self.checked_all.get((item, model))
        if stored is not None or not questions:
            return stored
        parts = [self.checked_each.get((item, model, q)) for q in questions]
        if any(part is None for part in parts):
            return None
        for part in parts:
            if part is not None and part.status != "ok":
                return part
        answers = [part.data.get("answer") for part in parts if part is not None]
        p_yes = [part.data.get("p_yes") for part in parts if part is not None]
        return Stored("ok", {"answers": answers, "p_yes": None if None in p_yes else p_yes})


def _records(directory: Path) -> list[dict[str, Any]]:
    """The run's verdicts: its export (`verdicts.jsonl`, the run's own requests), else, when there
    is none or the store is newer (a run stopped before its export was rewritten), its store (the
    last record of each request winning, as the run itself reads it)."""
    export, store = directory / VERDICTS_FILE, directory / STORE_FILE
    if export.is_file() and not (store.is_file() and store.stat().st_mtime > export.stat().st_mtime):
        try:
            lines = export.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(
                f"--judge replay:{directory}: cannot read {VERDICTS_FILE} ({exc.__class__.__name__})") from None
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            where = f"--judge replay: {export}:{number}"
            if not isinstance(record, dict):
                raise BadInput(f"{where}: not a verdict record")
            check_verdict_record(record, where, complete=False)
            records.append(record)
        return records
    if store.is_file():
        return [v.model_dump(mode="json") for v in read_store(store).values()]
    raise BadInput(f"--judge replay:{directory}: not a run directory (no {VERDICTS_FILE} or {STORE_FILE})")
