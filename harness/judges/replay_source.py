"""The stored verdicts of a finished run (a `harness run` or a `harness import`), indexed by what a
judge request asks about, so the replay judge answers each request with a lookup or a few.

The keys are the replaying protocol's (`Task.replay_view().keys()`): for the built-in protocols
they are protocol facts, not request ids or keys, so the same item and models make the same key
whatever the prompt, template or answer order of the run that replays them.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.protocol.replay_view import ReplayView, Stored
from harness.store import STORE_FILE, VERDICTS_FILE, check_verdict_record, read_store


@dataclass
class ReplaySource:
    """Every verdict of one run directory (of one judge), filed under the keys a protocol's replay
    view gives them."""

    path: Path
    judge: str | None
    records: list[dict[str, Any]] = field(default_factory=list)
    #: Every key of every verdict, and each verdict by its first key alone.
    index: dict[Hashable, Stored] = field(default_factory=dict)
    verdicts: dict[Hashable, Stored] = field(default_factory=dict)

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
        return cls(directory, judge if judge is not None else (judges[0] if judges else None), records)

    def file_under(self, view: ReplayView) -> None:
        """Index every verdict by the keys `view` gives it (a later record of a key wins)."""
        self.index, self.verdicts = {}, {}
        for record in self.records:
            stored = Stored(str(record.get("status")), record.get("data") or {}, record.get("error"),
                            record.get("output"))
            keys = view.keys(str(record.get("item_id")), str(record.get("request_id")), stored)
            for key in keys:
                self.index[key] = stored
            if keys:
                self.verdicts[keys[0]] = stored

    def __len__(self) -> int:
        return len(self.verdicts)


def _records(directory: Path) -> list[dict[str, Any]]:
    """The run's verdicts: its export (`verdicts.jsonl`, the run's own requests), else, when there
    is none or the store is newer (a run stopped before its export was rewritten), its store (the
    last record of each request winning, as the run itself reads it)."""
    export, store = directory / VERDICTS_FILE, directory / STORE_FILE
    if export.is_file() and not (store.is_file() and store.stat().st_mtime > export.stat().st_mtime):
        records = []
        try:
            # a line at a time: the whole text and the list of its lines held a gigabyte more at a
            # million verdicts. Text mode splits where read_text and a split on "\n" did.
            with export.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        records.append(_export_record(line, f"--judge replay: {export}:{number}"))
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(
                f"--judge replay:{directory}: cannot read {VERDICTS_FILE} ({exc.__class__.__name__})") from None
        return records
    if store.is_file():
        return [v.model_dump(mode="json") for v in read_store(store).values()]
    raise BadInput(f"--judge replay:{directory}: not a run directory (no {VERDICTS_FILE} or {STORE_FILE})")


def _export_record(line: str, where: str) -> dict[str, Any]:
    """One line of the export as a checked verdict record; BadInput naming `where` otherwise."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise BadInput(f"{where}: not a verdict record")
    check_verdict_record(record, where, complete=False)
    return record
