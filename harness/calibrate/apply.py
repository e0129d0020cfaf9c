"""Calibrated aggregation: a run's verdicts read through a calibration map, beside the raw numbers.

- pairwise: every verdict's P(model_a better) (logprobs, else its level) goes through the map;
  a model's `calibrated_win_rate` (0-100) is its mean calibrated P(win) over its verdicts, both
  presentation orders counted, with a 95% item-bootstrap interval (`calibrated_ci_low`,
  `calibrated_ci_high`); `ranking_calibrated.csv` is Bradley-Terry on the calibrated
  probabilities (soft outcomes, each verdict weight 1), in ranking.csv's columns and scale.
- rubric: each score (expected score with logprobs) mapped onto the human scale;
  `calibrated_score` with its interval, and `ranking_calibrated.csv` ranked by interval.

The file applied is copied into the run directory (`calibration.json`), so `harness aggregate`
and a resumed run apply it again without the flag, and run.json's `calibration` says which map
it is and whether it was forced onto another judge setup.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.calibrate.identity import mismatches
from harness.calibrate.mapfile import Calibration, clean, read_calibration
from harness.calibrate.matching import SHARE_A, judge_score_value, p_first, score_rows
from harness.errors import BadInput
from harness.models import Verdict
from harness.protocol import Aggregate
from harness.stats.bootstrap import bootstrap_group_means
from harness.stats.bradley_terry import bradley_terry_table, interval_ranks
from harness.store import frame_to_csv

CALIBRATION_COPY = "calibration.json"
RANKING_CALIBRATED = "ranking_calibrated.csv"
PAIRWISE_COLUMNS = ["calibrated_win_rate", "calibrated_ci_low", "calibrated_ci_high"]
RUBRIC_COLUMNS = ["calibrated_score", "calibrated_ci_low", "calibrated_ci_high"]


@dataclass
class AppliedCalibration:
    calibration: Calibration
    source: str
    problems: list[str] = field(default_factory=list)

    @property
    def forced(self) -> bool:
        return bool(self.problems)


def resolve_calibration(
    path: str | Path | None, directory: Path, identity: dict[str, Any], *, force: bool = False
) -> AppliedCalibration | None:
    """The map to apply: `--calibration FILE` checked against the run's judge setup, else the copy
    an earlier invocation stored in the run directory; None when there is neither."""
    if path is None:
        stored = directory / CALIBRATION_COPY
        if not stored.is_file():
            return None
        calibration = read_calibration(stored, "stored calibration")
        source = str((calibration.document.get("applied") or {}).get("source") or stored)
        problems = mismatches(calibration.judge, identity)
        if problems and not (calibration.document.get("applied") or {}).get("forced"):
            raise BadInput(
                f"{stored}: made for another judge setup ({'; '.join(problems)}); "
                "apply a fitting calibration with --calibration FILE"
            )
        return AppliedCalibration(calibration, source, problems)
    calibration = read_calibration(path)
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
    return AppliedCalibration(calibration, str(Path(path).resolve()), problems)


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
    if calibration.kind == "pairwise":
        baselines = list(getattr(config, "baselines", []) or [])
        table, ranking = _pairwise(verdicts, calibration, n_rounds, seed, baselines[0] if baselines else None)
        columns, label = PAIRWISE_COLUMNS, {"calibrated win rate": "calibrated_win_rate"}
    else:
        table, ranking = _rubric(verdicts, calibration, n_rounds, seed)
        columns, label = RUBRIC_COLUMNS, {"calibrated score": "calibrated_score"}
    scores = aggregate.scores.drop(columns=[c for c in columns if c in aggregate.scores.columns])
    scores = scores.merge(table.drop(columns="n"), on="model", how="left")
    _atomic_write(directory / RANKING_CALIBRATED, frame_to_csv(ranking))
    record = _record(applied)
    copy = {**calibration.document, "applied": {"source": applied.source, "forced": applied.forced}}
    _atomic_write(directory / CALIBRATION_COPY, _json(copy))
    manifest["calibration"] = record
    summary = {**aggregate.summary, "calibration": {k: record[k] for k in ("method", "kind", "file", "forced")}}
    return replace(aggregate, scores=scores, summary=summary, columns={**aggregate.columns, **label})


def _pairwise(
    verdicts: list[Verdict], calibration: Calibration, n_rounds: int, seed: int, anchor: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        (v.item_id, str(v.data["model_a"]), str(v.data["model_b"]), p_first(v.data)[0])
        for v in verdicts
        if v.status == "ok" and v.data.get("level") in SHARE_A
    ]
    battles = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "p"])
    battles["q"] = calibration(battles["p"].to_numpy(float)) if len(battles) else []
    sides = pd.concat(
        [
            pd.DataFrame({"item_id": battles["item_id"], "model": battles["model_a"], "value": 100.0 * battles["q"]}),
            pd.DataFrame(
                {"item_id": battles["item_id"], "model": battles["model_b"], "value": 100.0 * (1.0 - battles["q"])}
            ),
        ],
        ignore_index=True,
    )
    table = _interval_table(sides, PAIRWISE_COLUMNS, n_rounds, seed)
    frame = pd.DataFrame(
        {
            "item_id": battles["item_id"],
            "model_a": battles["model_a"],
            "model_b": battles["model_b"],
            "score_a": battles["q"].astype(float),
            "weight": 1.0,
        }
    )
    if anchor is not None and anchor not in set(frame["model_a"]) | set(frame["model_b"]):
        anchor = None
    ranking = bradley_terry_table(frame, n_bootstrap=max(n_rounds, 1), seed=seed, anchor=anchor)
    return table, ranking


def _rubric(
    verdicts: list[Verdict], calibration: Calibration, n_rounds: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    judged = score_rows(verdicts)
    x = np.array([judge_score_value(s, e) for s, e in zip(judged["score"], judged["expected"], strict=True)])
    judged["value"] = calibration(x) if len(judged) else []
    table = _interval_table(judged[["item_id", "model", "value"]], RUBRIC_COLUMNS, n_rounds, seed)
    ranking = table.rename(columns=dict(zip(RUBRIC_COLUMNS, ("score", "ci_low", "ci_high"), strict=True)))
    ranking = ranking.sort_values(["score", "model"], ascending=[False, True], na_position="last").reset_index(
        drop=True
    )
    low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(float)
    high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(float)
    ranking["rank"] = interval_ranks(low, high) if len(ranking) else []
    return table, ranking[["model", "rank", "score", "ci_low", "ci_high", "n"]]


def _interval_table(frame: pd.DataFrame, columns: list[str], n_rounds: int, seed: int) -> pd.DataFrame:
    """model, the three columns, n: mean per model with its item-bootstrap interval."""
    stats = bootstrap_group_means(frame, item="item_id", group="model", value="value", n_rounds=n_rounds, seed=seed)
    if stats.empty:
        return pd.DataFrame(columns=["model", *columns, "n"])
    return pd.DataFrame(
        {
            "model": stats["model"],
            columns[0]: stats["mean"].astype(float),
            columns[1]: stats["ci_low"].astype(float),
            columns[2]: stats["ci_high"].astype(float),
            "n": stats["n"],
        }
    )


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
