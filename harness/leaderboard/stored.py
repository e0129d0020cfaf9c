"""A finished run read back for re-aggregation: its protocol's task, stored verdicts and scores.

The leaderboard resamples each task's items and runs the task's own aggregation on every
resample, as `harness aggregate` runs it on all of them (harness.running.recompute builds the task the
same way: from run.json and the verdict store, the items rebuilt from the verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from harness.by_category import recorded_categories
from harness.errors import BadInput
from harness.running.recompute import (
    items_from_verdicts,
    ordered_verdicts,
    stored_task,
    stored_task_dir,
    stored_task_spec,
)
from harness.running.result_tables import read_result_table
from harness.store import MANIFEST_FILE, SCORES_FILE, STORE_FILE, RunDirectory

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Verdict
    from harness.protocol import Task
    from harness.registry import Registry


@dataclass
class StoredRun:
    directory: Path
    name: str
    manifest: dict[str, Any]
    task: Task
    verdicts: list[Verdict]
    #: scores.csv as the run wrote it: the point estimates shown.
    scores: pd.DataFrame
    kind: Any

    def scores_of(self, verdicts: list[Verdict]) -> pd.DataFrame:
        """The protocol's scores of these verdicts (a resample), with one round of its own bootstrap (some statistics need one):
        only the point estimates are used."""
        config = self.task.config.model_copy(update={"n_bootstrap": 1})
        task = stored_task(self.kind, self.task.spec, config, items_from_verdicts(verdicts), None, self.task.base_dir,
                           self.directory)
        return task.aggregate(verdicts).scores

    @property
    def complete(self) -> bool:
        return bool((self.manifest.get("completeness") or {}).get("complete", False))

    @property
    def models(self) -> list[str]:
        return [str(m) for m in self.scores["model"]]


def load_stored_run(directory: Path, registry: Registry) -> StoredRun:
    """The run's task (aggregation only: no template), verdicts and scores; bad input when it is
    not a finished single-judge run directory."""
    if not (directory / MANIFEST_FILE).is_file() or not (directory / STORE_FILE).is_file() \
            or not (directory / SCORES_FILE).is_file():
        raise BadInput(f"{directory}: not a finished run directory (needs {MANIFEST_FILE}, {STORE_FILE}, {SCORES_FILE})")
    with RunDirectory(directory) as store:
        manifest = store.read_manifest() or {}
    if isinstance(manifest.get("panel"), dict):
        raise BadInput(f"{directory}: a judge panel's run; a leaderboard takes single-judge runs (one per task)")
    protocol = manifest.get("protocol")
    if not isinstance(protocol, dict) or not isinstance(protocol.get("name"), str):
        raise BadInput(f"{directory / MANIFEST_FILE}: protocol.name: required but missing")
    kind = registry.task_kind(protocol["name"], f"{directory / MANIFEST_FILE}: protocol.name")
    options = dict(protocol.get("config") or {})
    try:
        config = kind.config_model.model_validate(options)
    except ValidationError as exc:
        raise BadInput(f"{directory / MANIFEST_FILE}: protocol.config: {exc.errors()[0]['msg']}") from None
    verdicts = ordered_verdicts(directory)
    if manifest.get("category_filter"):  # an aggregate restricted to categories: its numbers cover only those
        categories = recorded_categories(manifest, verdicts)
        verdicts = [v for v in verdicts if categories.get(v.item_id) in set(manifest["category_filter"])]
    spec = stored_task_spec(manifest, protocol["name"], options, directory)
    task = stored_task(kind, spec, config, items_from_verdicts(verdicts), None, stored_task_dir(manifest), directory)
    scores = read_result_table(directory / SCORES_FILE, required=("model", "score"))
    return StoredRun(directory=directory, name=spec.name, manifest=manifest, task=task, verdicts=verdicts,
                     scores=scores, kind=kind)
