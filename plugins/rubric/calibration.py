"""Rubric calibration: a judge's scores (or expected scores under its logprobs) set against
human scores of the same answers, and an isotonic map onto the human scale.

Both scales are brought to [0, 1] by their rubric's ends for the fit (harness.stats.calibration's
maps work on probabilities) and the map is stored back in their units: knots on the judge's
scale, values on the human one. Raw error is the judge's score stretched linearly onto the human
scale; calibrated error is out-of-fold (folds by item). Applied, each score (the expected score
with logprobs) is mapped onto the human scale: `calibrated_score` with its item-bootstrap
interval, and ranking_calibrated.csv ranked by interval.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.calibrate.mapfile import step_ends
from harness.errors import BadInput
from harness.models import Verdict
from harness.protocol.calibrator import (
    CALIBRATED_COLOR,
    MAP_COLOR,
    RAW_COLOR,
    Calibrated,
    Calibrator,
    FitOptions,
    ReliabilityPlot,
    RunVerdicts,
    interval_table,
    number,
)
from harness.stats.agreement import cohens_kappa, rank_correlation
from harness.stats.calibration import cross_validated_probabilities, fit_isotonic

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.calibrate.mapfile import Calibration

COLUMNS = ["calibrated_score", "calibrated_ci_low", "calibrated_ci_high"]


class RubricCalibrator(Calibrator):
    """Maps the judge's score (its expected score under the logprobs when stored) onto the
    humans' scores of the same answers, isotonically."""

    unit: ClassVar[str] = "answers"

    def fit(self, judge: RunVerdicts, human: RunVerdicts, options: FitOptions) -> dict[str, Any]:
        return calibrate_rubric(
            judge.verdicts, human.verdicts,
            judge_scale=run_scale(judge.manifest, judge.verdicts), human_scale=run_scale(human.manifest, human.verdicts),
            method=options.method, min_pairs=options.min_pairs, folds=options.folds, seed=options.seed,
        )

    def apply(
        self, calibration: Calibration, verdicts: list[Verdict], config: BaseModel, *, n_rounds: int, seed: int
    ) -> Calibrated:
        table, ranking = calibrated_scores(verdicts, calibration, n_rounds, seed)
        return Calibrated(table, ranking, {"calibrated score": "calibrated_score"})

    def summary_lines(self, document: dict[str, Any]) -> list[str]:
        def num(key: str, digits: int = 3) -> str:
            return number(document, key, digits)

        return [
            f"weighted kappa {num('weighted_kappa')} (calibrated {num('weighted_kappa_calibrated')}), "
            f"Spearman {num('spearman')}; judge score from {document['score_source']}",
            f"raw:        MAE {num('mae_raw', 4)}  RMSE {num('rmse_raw', 4)}  (judge scale stretched to the human one)",
            f"calibrated: MAE {num('mae_calibrated', 4)}  RMSE {num('rmse_calibrated', 4)}  "
            f"(isotonic, {document['folds']}-fold out-of-fold, folds by item)",
        ]

    def figures(self, document: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        d = document
        return [
            ("MAE (human scale)", d.get("mae_raw"), d.get("mae_calibrated")),
            ("RMSE (human scale)", d.get("rmse_raw"), d.get("rmse_calibrated")),
            ("weighted kappa (quadratic)", d.get("weighted_kappa"), d.get("weighted_kappa_calibrated")),
            ("Spearman", d.get("spearman"), None),
        ]

    def reliability(self, document: dict[str, Any]) -> ReliabilityPlot:
        """Mean human score per judge score, raw and calibrated (out-of-fold), and the fitted map."""
        rows = document.get("by_score") or []
        knots, values = document["map"]["knots"], document["map"]["values"]
        series = [
            ("raw: mean human score", RAW_COLOR, [(r["judge"], r["mean_human"], r["n"]) for r in rows]),
            ("calibrated (out-of-fold)", CALIBRATED_COLOR, [(r["judge"], r["mean_calibrated"], r["n"]) for r in rows]),
            ("map", MAP_COLOR, [(k, v, 0) for k, v in zip(knots, values, strict=True)]),
        ]
        x_range, y_range = tuple(document["judge_scale"]), tuple(document["human_scale"])
        diagonal = ((x_range[0], y_range[0]), (x_range[1], y_range[1]))
        return ReliabilityPlot(series, x_range, y_range, ("judge score", "human score"), diagonal)


def calibrate_rubric(
    judge_verdicts: list[Verdict],
    human_verdicts: list[Verdict],
    *,
    judge_scale: tuple[float, float],
    human_scale: tuple[float, float],
    method: str = "auto",
    min_pairs: int = 20,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    if method not in ("auto", "isotonic"):
        raise BadInput(f"--method {method!r}: rubric calibration maps scores isotonically (use isotonic or auto)")
    judge = score_rows(judge_verdicts)
    human = score_rows(human_verdicts).groupby(["item_id", "model"], sort=True)["score"].agg(["mean", "size"])
    human = human.rename(columns={"mean": "human", "size": "labels"}).reset_index()
    matched = judge.merge(human, on=["item_id", "model"], how="inner")
    n_items = matched["item_id"].nunique() if not matched.empty else 0
    counts = {
        "judge_scores": len(judge),
        "human_answers": len(human),
        "matched_answers": len(matched),
        "matched_items": n_items,
    }
    if len(matched) < min_pairs or n_items < 2:
        raise BadInput(
            f"too few matched answers: {len(matched)} (on {n_items} items; at least {min_pairs} on 2 items needed); "
            f"judge run: {len(judge)} scores, human run: {len(human)} scored answers; "
            "answers match on item id and model name"
        )
    x = np.array([judge_score_value(s, e) for s, e in zip(matched["score"], matched["expected"], strict=True)])
    y = matched["human"].to_numpy(float)
    jlo, jhi = judge_scale
    hlo, hhi = human_scale
    xn, yn = np.clip((x - jlo) / (jhi - jlo), 0, 1), np.clip((y - hlo) / (hhi - hlo), 0, 1)
    k = min(folds, n_items)
    oof = hlo + (hhi - hlo) * cross_validated_probabilities(
        xn, yn, method="isotonic", folds=k, groups=matched["item_id"].to_numpy(), seed=seed
    )
    raw = hlo + (hhi - hlo) * xn
    fitted = fit_isotonic(xn, yn)
    knots, values = step_ends(fitted.knots, fitted.values)
    human_levels = list(range(int(np.floor(hlo)), int(np.ceil(hhi)) + 1))
    rounded = lambda v: np.clip(np.rint(v), human_levels[0], human_levels[-1]).astype(int)
    correlation = rank_correlation(x, y)
    return {
        "n_pairs": len(matched),
        "n_items": n_items,
        "counts": counts,
        "score_source": "expected"
        if matched["expected"].notna().all()
        else "score"
        if matched["expected"].isna().all()
        else "mixed",
        "judge_scale": [jlo, jhi],
        "human_scale": [hlo, hhi],
        "weighted_kappa": cohens_kappa(rounded(raw), rounded(y), labels=human_levels, weights="quadratic"),
        "weighted_kappa_calibrated": cohens_kappa(rounded(oof), rounded(y), labels=human_levels, weights="quadratic"),
        "spearman": correlation["spearman"],
        "kendall_tau": correlation["kendall_tau"],
        "mean_judge_raw": float(raw.mean()),
        "mean_human": float(y.mean()),
        "mae_raw": float(np.mean(np.abs(raw - y))),
        "rmse_raw": float(np.sqrt(np.mean((raw - y) ** 2))),
        "mae_calibrated": float(np.mean(np.abs(oof - y))),
        "rmse_calibrated": float(np.sqrt(np.mean((oof - y) ** 2))),
        "folds": k,
        "seed": seed,
        "map": {
            "method": "isotonic",
            "knots": [jlo + (jhi - jlo) * v for v in knots],
            "values": [hlo + (hhi - hlo) * v for v in values],
        },
        "by_score": _by_score(x, y, oof),
    }


def _by_score(x: np.ndarray, y: np.ndarray, oof: np.ndarray) -> list[dict[str, float]]:
    """Mean human score (and out-of-fold calibrated score) at each rounded judge score: the
    rubric's reliability table."""
    frame = pd.DataFrame({"judge": np.rint(x), "human": y, "calibrated": oof})
    table = (
        frame.groupby("judge")
        .agg(n=("human", "size"), mean_human=("human", "mean"), mean_calibrated=("calibrated", "mean"))
        .reset_index()
    )
    return [
        {
            "judge": float(r.judge),
            "n": int(r.n),
            "mean_human": float(r.mean_human),
            "mean_calibrated": float(r.mean_calibrated),
        }
        for r in table.itertuples()
    ]


def run_scale(manifest: dict[str, Any], verdicts: list[Verdict]) -> tuple[float, float]:
    """A rubric run's scale: its summary's `scale` (the rubric's ends), else the scores seen."""
    scale = (manifest.get("summary") or {}).get("scale")
    if isinstance(scale, list) and len(scale) == 2 and float(scale[1]) > float(scale[0]):
        return float(scale[0]), float(scale[1])
    seen = score_rows(verdicts)["score"]
    if seen.empty or seen.max() <= seen.min():
        return (float(seen.min()) if not seen.empty else 0.0), (float(seen.max()) + 1 if not seen.empty else 1.0)
    return float(seen.min()), float(seen.max())


def calibrated_scores(
    verdicts: list[Verdict], calibration: Calibration, n_rounds: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibrated scores per model (with `n`) and their ranking by interval."""
    from harness.stats.bradley_terry import interval_ranks

    judged = score_rows(verdicts)
    x = np.array([judge_score_value(s, e) for s, e in zip(judged["score"], judged["expected"], strict=True)])
    judged["value"] = calibration(x) if len(judged) else []
    table = interval_table(judged[["item_id", "model", "value"]], COLUMNS, n_rounds, seed)
    ranking = table.rename(columns=dict(zip(COLUMNS, ("score", "ci_low", "ci_high"), strict=True)))
    ranking = ranking.sort_values(["score", "model"], ascending=[False, True], na_position="last").reset_index(
        drop=True
    )
    low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(float)
    high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(float)
    ranking["rank"] = interval_ranks(low, high) if len(ranking) else []
    return table, ranking[["model", "rank", "score", "ci_low", "ci_high", "n"]]


def score_rows(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per ok rubric verdict: item, model, score, expected score (NaN without logprobs)."""
    rows = []
    for v in verdicts:
        if v.status != "ok" or v.data.get("score") is None:
            continue
        expected = v.data.get("expected")
        rows.append(
            {
                "item_id": v.item_id,
                "model": str(v.data["model"]),
                "score": float(v.data["score"]),
                "expected": float(expected) if expected is not None else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=["item_id", "model", "score", "expected"])


def judge_score_value(score: float, expected: float) -> float:
    """What a rubric map reads: the expected score under the logprobs when stored, else the score."""
    return expected if expected == expected else score
