"""Read a run directory for a report: its files, its items when reachable, and its protocol's view.

The protocol comes from run.json, else from the verdict columns a loaded protocol's view claims;
its view comes from the protocol's registered task class. A run of a protocol that is not loaded
still gets a report, through the generic view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.models import Item
from harness.reports.rundata import RunData
from harness.reports.view import ReportView
from harness.store import load_run

if TYPE_CHECKING:
    from harness.registry import Registry


def read_run(path: str | Path, registry: Registry | None = None) -> RunData:
    """Load a run directory (BadInput when it is not one) and try to reach its dataset.

    `registry`: the loaded plugins' registrations (default: load the plugins now)."""
    loaded = load_run(path)
    verdicts = loaded.verdicts.copy()
    for column in ("request_id", "item_id", "judge", "status", "output", "error", "category"):
        if column not in verdicts.columns:
            verdicts[column] = None if column != "status" else "ok"
    if "request_id" in verdicts and verdicts["request_id"].isna().all():
        verdicts["request_id"] = [f"row-{i}" for i in range(len(verdicts))]
    verdicts["item_id"] = verdicts["item_id"].astype(str)
    if isinstance(loaded.manifest.get("panel"), dict):  # every judge was asked the same requests: keep them apart
        verdicts["request_id"] = verdicts["judge"].astype(str) + "||" + verdicts["request_id"].astype(str)
    registry_used = registry if registry is not None else default_registry()
    views = protocol_views(registry_used)
    protocol = detect_protocol(loaded.manifest, verdicts, views)
    run = RunData(
        directory=loaded.directory, manifest=loaded.manifest, protocol=protocol, verdicts=verdicts,
        scores=loaded.scores, ranking=loaded.ranking, view=views.get(protocol) or ReportView(),
    )
    kind = registry_used.task_kinds.get(protocol)
    if kind is not None:
        run.calibrator_of = kind.task_class.calibrator
    run.items, run.items_note = _load_items(run)
    return run


def default_registry() -> Registry:
    """The registrations of the plugins that load here (a broken plugin is skipped, as in a run)."""
    from harness.plugins import load_plugins
    from harness.registry import Registry

    return Registry.collect(load_plugins().manager)


def protocol_views(registry: Registry) -> dict[str, ReportView]:
    """Each loaded protocol's report view, in registration order."""
    return {name: kind.task_class.report_view() for name, kind in registry.task_kinds.items()}


def detect_protocol(manifest: dict[str, Any], verdicts: pd.DataFrame, views: dict[str, ReportView]) -> str:
    """The protocol named in run.json, else the first loaded protocol whose view recognises the
    verdict columns (the most specific claim first), else "unknown"."""
    named = (manifest.get("protocol") or {}).get("name") or (manifest.get("task") or {}).get("protocol")
    if named:
        return str(named)
    columns = set(verdicts.columns)
    claims = sorted(((len(view.verdict_columns), name) for name, view in views.items() if view.recognises(columns)),
                    key=lambda claim: -claim[0])
    return claims[0][1] if claims else "unknown"


def _load_items(run: RunData) -> tuple[dict[str, Item], str]:
    """The task's items, so the page can show instructions and answers; best effort."""
    if isinstance(run.manifest.get("import"), dict):
        return {}, "imported judgments: texts shown where the verdicts carry them"
    task = run.manifest.get("task") or {}
    dataset = task.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("path"):
        return {}, "run.json names no dataset; showing what the verdicts hold"
    from harness.datasets import load_items
    from harness.errors import BadInput
    from harness.models import DatasetSpec

    task_file = run.manifest.get("task_file")
    bases: list[Path] = []
    if task_file:
        tf = Path(task_file)
        candidates = [tf] if tf.is_absolute() else [Path.cwd() / tf, *(p / tf for p in run.directory.resolve().parents)]
        bases += [c.parent for c in candidates if c.is_file()]
    bases.append(run.directory)
    try:
        spec = DatasetSpec.model_validate(dataset)
    except ValueError:
        return {}, "run.json has a dataset spec this version cannot read"
    for base in bases:
        if (base / spec.path).is_file():
            try:
                return {item.id: item for item in load_items(spec, base)}, ""
            except BadInput as exc:
                return {}, f"dataset not readable ({exc}); showing what the verdicts hold"
    return {}, f"dataset {spec.path!r} not found from here; showing what the verdicts hold"


