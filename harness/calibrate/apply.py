"""Calibrated aggregation: a run's verdicts read through a calibration map, beside the raw numbers.

The protocol's calibrator (harness.protocol.calibrator) reads the verdicts through the map: its
calibrated columns join scores.csv (e.g. `calibrated_win_rate` or `calibrated_score`, with
`calibrated_ci_low` / `calibrated_ci_high` from the item bootstrap) and its ranking is written as
`ranking_calibrated.csv`, in ranking.csv's columns.

The file applied is copied into the run directory (`calibration.json`), so `harness aggregate`
and a resumed run apply it again without the flag, and run.json's `calibration` says which map
it is and whether it was forced onto another judge setup.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.calibrate.identity import mismatches
from harness.calibrate.lookup import calibrators as all_calibrators
from harness.calibrate.mapfile import Calibration, clean, read_calibration
from harness.errors import BadInput
from harness.models import Verdict
from harness.protocol import Aggregate
from harness.protocol.calibrator import Calibrator
from harness.store import frame_to_csv

if TYPE_CHECKING:
    from harness.registry import Registry

CALIBRATION_COPY = "calibration.json"
RANKING_CALIBRATED = "ranking_calibrated.csv"


@dataclass
class AppliedCalibration:
    calibration: Calibration
    source: str
    #: The calibrator of the map's protocol (its `kind`), which applies it.
    calibrator: Calibrator
    problems: list[str] = field(default_factory=list)

    @property
    def forced(self) -> bool:
        return bool(self.problems)


def resolve_calibration(
    path: str | Path | None,
    directory: Path,
    identity: dict[str, Any],
    registry: Registry,
    *,
    force: bool = False,
) -> AppliedCalibration | None:
    """The map to apply: `--calibration FILE` checked against the run's judge setup, else the copy
    an earlier invocation stored in the run directory; None when there is neither. The map's
    `kind` is looked up among the loaded protocols (`registry`) that can be calibrated."""
    stored = directory / CALIBRATION_COPY
    if path is None and not stored.is_file():
        return None
    calibrators = all_calibrators(registry)
    if path is None:
        calibration = read_calibration(stored, calibrators, "stored calibration")
        source = str((calibration.document.get("applied") or {}).get("source") or stored)
        problems = mismatches(calibration.judge, identity)
        if problems and not (calibration.document.get("applied") or {}).get("forced"):
            raise BadInput(
                f"{stored}: made for another judge setup ({'; '.join(problems)}); "
                "apply a fitting calibration with --calibration FILE"
            )
        return AppliedCalibration(calibration, source, calibrators[calibration.kind], problems)
    calibration = read_calibration(path, calibrators)
    if calibration.kind != identity["protocol"]:
        raise BadInput(
            f"--calibration {path}: a {calibration.kind} calibration cannot map a {identity['protocol']} run"
        )
    problems = mismatches(calibration.judge, identity)
    if problems and not force:
        raise BadInput(
            f"--calibration {path}: made for another judge setup: {'; '.join(problems)}; "
            "--force-calibration applies it anyway"
        )
    return AppliedCalibration(calibration, str(Path(path).resolve()), calibrators[calibration.kind], problems)


def apply_calibration(
    aggregate: Aggregate,
    verdicts: list[Verdict],
    applied: AppliedCalibration | None,
    config: Any,
    directory: Path,
    manifest: dict[str, Any],
) -> Aggregate:
    """The aggregate with calibrated columns; writes ranking_calibrated.csv and the stored copy,
    and records the map in `manifest["calibration"]`. Without a calibration: unchanged."""
    if applied is None:
        return aggregate
    calibration = applied.calibration
    n_rounds, seed = int(getattr(config, "n_bootstrap", 1000)), int(getattr(config, "seed", 0))
    calibrated = applied.calibrator.apply(calibration, verdicts, config, n_rounds=n_rounds, seed=seed)
    columns = [c for c in calibrated.scores.columns if c not in ("model", "n")]
    scores = aggregate.scores.drop(columns=[c for c in columns if c in aggregate.scores.columns])
    scores = scores.merge(calibrated.scores.drop(columns="n"), on="model", how="left")
    _atomic_write(directory / RANKING_CALIBRATED, frame_to_csv(calibrated.ranking))
    record = _record(applied)
    copy = {**calibration.document, "applied": {"source": applied.source, "forced": applied.forced}}
    _atomic_write(directory / CALIBRATION_COPY, _json(copy))
    manifest["calibration"] = record
    summary = {**aggregate.summary, "calibration": {k: record[k] for k in ("method", "kind", "file", "forced")}}
    return replace(aggregate, scores=scores, summary=summary, columns={**aggregate.columns, **calibrated.label})


def _record(applied: AppliedCalibration) -> dict[str, Any]:
    document = applied.calibration.document
    digest = hashlib.sha256(_json({k: v for k, v in document.items() if k != "applied"}).encode()).hexdigest()[:16]
    return {
        "file": applied.source,
        "stored_as": CALIBRATION_COPY,
        "sha256_16": digest,
        "kind": document["kind"],
        "method": document["map"]["method"],
        "made_for": {k: document["judge"].get(k) for k in ("judge", "protocol", "template", "fingerprint")},
        "human": (document.get("human") or {}).get("run"),
        "n_pairs": document.get("n_pairs"),
        "forced": applied.forced,
        "mismatches": applied.problems,
    }


def _json(document: dict[str, Any]) -> str:
    import json

    return json.dumps(clean(document), indent=2, sort_keys=True) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
