"""Pairwise calibration: agreement with the humans, ECE / Brier / log loss of the judge's
P(model_a better) before and after a map (after: out-of-fold, folds by item), and the map;
applied, every verdict's P(model_a better) goes through it.

`auto` picks the method with the lower out-of-fold Brier score (log loss punishes isotonic
regression's 0 and 1 steps so hard on held-out items that it would nearly always pick Platt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.calibrate.mapfile import step_ends
from harness.errors import BadInput
from harness.models import Verdict
from harness.protocol.calibrator import (
    CALIBRATED_COLOR,
    RAW_COLOR,
    Calibrated,
    Calibrator,
    FitOptions,
    ReliabilityPlot,
    RunVerdicts,
    interval_table,
    number,
)
from harness.stats.agreement import accuracy_with_ties, cohens_kappa
from harness.stats.bias import position_bias
from harness.stats.calibration import (
    brier_score,
    cross_validated_probabilities,
    expected_calibration_error,
    fit_isotonic,
    fit_platt,
    log_loss,
    reliability_table,
)
from harness.stats.preference import SHARE_A
from harness_plugins.pairwise.calibration_pairs import (
    human_pair_outcomes,
    judge_pair_labels,
    judge_pair_rows,
    match_pairs,
    p_first,
    pair_label,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.calibrate.mapfile import Calibration

METHODS = ("isotonic", "platt")
COLUMNS = ["calibrated_win_rate", "calibrated_ci_low", "calibrated_ci_high"]


class PairwiseCalibrator(Calibrator):
    """Maps the judge's P(model_a better) (logprobs, else its level) onto the humans' share of
    the win. Applied: a model's `calibrated_win_rate` (0-100) is its mean calibrated P(win) over
    its verdicts, both presentation orders counted, with a 95% item-bootstrap interval, and
    ranking_calibrated.csv is Bradley-Terry on the calibrated probabilities (soft outcomes, each
    verdict weight 1), in ranking.csv's columns and scale."""

    unit: ClassVar[str] = "pairs"
    compared: ClassVar[dict[str, str]] = {"win_rate": "raw win rate", "calibrated_win_rate": "calibrated win rate"}

    def fit(self, judge: RunVerdicts, human: RunVerdicts, options: FitOptions) -> dict[str, Any]:
        return calibrate_pairwise(
            judge.verdicts, human.verdicts, method=options.method, min_pairs=options.min_pairs,
            folds=options.folds, n_bins=options.n_bins, seed=options.seed,
        )

    def apply(
        self, calibration: Calibration, verdicts: list[Verdict], config: BaseModel, *, n_rounds: int, seed: int
    ) -> Calibrated:
        baselines = list(getattr(config, "baselines", []) or [])
        table, ranking = calibrated_battles(verdicts, calibration, n_rounds, seed, baselines[0] if baselines else None)
        return Calibrated(table, ranking, {"calibrated win rate": "calibrated_win_rate"})

    def summary_lines(self, document: dict[str, Any]) -> list[str]:
        def num(key: str, digits: int = 3) -> str:
            return number(document, key, digits)

        return [
            f"agreement (ties half) {num('agreement')}, on human non-tie pairs {num('agreement_non_tie')}, "
            f"Cohen's kappa {num('cohens_kappa')}",
            f"first-position win rate {num('first_position_win_rate')}, position consistency "
            f"{num('position_consistency')}; P(model_a better) from {document['probability_source']}",
            f"raw:        ECE {num('ece_raw', 4)}  Brier {num('brier_raw', 4)}  log loss {num('log_loss_raw', 4)}",
            f"calibrated: ECE {num('ece_calibrated', 4)}  Brier {num('brier_calibrated', 4)}  "
            f"log loss {num('log_loss_calibrated', 4)}  ({document['method']}, {document['folds']}-fold out-of-fold, "
            "folds by item)",
        ]

    def figures(self, document: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        d = document
        return [
            ("ECE", d.get("ece_raw"), d.get("ece_calibrated")),
            ("Brier score", d.get("brier_raw"), d.get("brier_calibrated")),
            ("log loss", d.get("log_loss_raw"), d.get("log_loss_calibrated")),
            ("agreement with humans (ties half)", d.get("agreement"), None),
            ("agreement on human non-tie pairs", d.get("agreement_non_tie"), None),
            ("Cohen's kappa", d.get("cohens_kappa"), None),
            ("first-position win rate", d.get("first_position_win_rate"), None),
            ("position consistency", d.get("position_consistency"), None),
        ]

    def reliability(self, document: dict[str, Any]) -> ReliabilityPlot:
        """Mean human outcome against mean judge probability per bin, raw and calibrated."""
        rel = document.get("reliability") or {}
        series = [
            (name, color, [(b["mean_probability"], b["mean_outcome"], b["n"]) for b in rel.get(key, [])])
            for name, color, key in (("raw", RAW_COLOR, "raw"), ("calibrated", CALIBRATED_COLOR, "calibrated"))
        ]
        return ReliabilityPlot(
            series, (0.0, 1.0), (0.0, 1.0), ("judge P(model_a better)", "human share for model_a"),
            ((0.0, 0.0), (1.0, 1.0)),
        )


def calibrate_pairwise(
    judge_verdicts: list[Verdict],
    human_verdicts: list[Verdict],
    *,
    method: str = "auto",
    min_pairs: int = 20,
    folds: int = 5,
    n_bins: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    judge = judge_pair_rows(judge_verdicts)
    human = human_pair_outcomes(human_verdicts)
    matched = match_pairs(judge, human)
    n_pairs = matched.groupby(["item_id", "low", "high"]).ngroups if not matched.empty else 0
    n_items = matched["item_id"].nunique() if not matched.empty else 0
    counts = {
        "judge_pairs": judge.groupby(["item_id", "low", "high"]).ngroups if not judge.empty else 0,
        "judge_verdicts": len(judge),
        "human_pairs": len(human),
        "human_labels": int(human["labels"].sum()) if len(human) else 0,
        "matched_pairs": n_pairs,
        "matched_verdicts": len(matched),
        "matched_items": n_items,
    }
    if n_pairs < min_pairs or n_items < 2:
        raise BadInput(
            f"too few matched pairs: {n_pairs} (on {n_items} items; at least {min_pairs} pairs on 2 items needed); "
            f"judge run: {counts['judge_pairs']} pairs, human run: {counts['human_pairs']} pairs; "
            "pairs match on item id and the two model names, in either order"
        )
    p, y = matched["p"].to_numpy(float), matched["y"].to_numpy(float)
    groups = matched["item_id"].to_numpy()
    k = min(folds, n_items)
    candidates: dict[str, dict[str, Any]] = {}
    for name in METHODS:
        oof = cross_validated_probabilities(p, y, method=name, folds=k, groups=groups, seed=seed)  # type: ignore[arg-type]
        candidates[name] = {"oof": oof, **_scores(oof, y, n_bins)}
    chosen = _choose(method, candidates)
    oof = candidates[chosen]["oof"]
    judge_labels = judge_pair_labels(matched)
    human_labels = human.set_index(["item_id", "low", "high"])["human_low"].reindex(judge_labels.index).map(pair_label)
    agreement = accuracy_with_ties(judge_labels.to_numpy(), human_labels.to_numpy(), tie_label="tie")
    position = position_bias(matched[["item_id", "model_a", "model_b", "level"]])
    raw = _scores(p, y, n_bins)
    sources = sorted(set(matched["source"]))
    return {
        "n_pairs": n_pairs,
        "n_verdicts": len(matched),
        "n_items": n_items,
        "counts": counts,
        "agreement": agreement["accuracy"],
        "agreement_non_tie": agreement["accuracy_non_tie"],
        "agreement_details": agreement,
        "cohens_kappa": cohens_kappa(judge_labels.to_numpy(), human_labels.to_numpy(), labels=["low", "tie", "high"]),
        "first_position_win_rate": position["first_position_win_rate"]["rate"],
        "first_position_win_rate_ci": [
            position["first_position_win_rate"]["ci_low"],
            position["first_position_win_rate"]["ci_high"],
        ],
        "position_consistency": position["consistency"]["rate"],
        "position_consistency_n": position["consistency"]["n"],
        "probability_source": sources[0] if len(sources) == 1 else "mixed",
        "mean_probability_raw": float(p.mean()),
        "mean_human_outcome": float(y.mean()),
        "ece_raw": raw["ece"],
        "brier_raw": raw["brier"],
        "log_loss_raw": raw["log_loss"],
        "ece_calibrated": candidates[chosen]["ece"],
        "brier_calibrated": candidates[chosen]["brier"],
        "log_loss_calibrated": candidates[chosen]["log_loss"],
        "folds": k,
        "n_bins": n_bins,
        "seed": seed,
        "out_of_fold": {name: {key: c[key] for key in ("ece", "brier", "log_loss")} for name, c in candidates.items()},
        "map": map_parameters(chosen, p, y),
        "reliability": {
            "raw": _table(reliability_table(p, y, n_bins=n_bins)),
            "calibrated": _table(reliability_table(oof, y, n_bins=n_bins)),
        },
    }


def _choose(method: str, candidates: dict[str, dict[str, Any]]) -> str:
    if method in METHODS:
        return method
    if method != "auto":
        raise BadInput(f"--method {method!r}: choose isotonic, platt or auto")
    return min(METHODS, key=lambda name: (candidates[name]["brier"], name))


def map_parameters(method: str, p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The map fitted on every matched verdict, as plain numbers."""
    if method == "platt":
        platt = fit_platt(p, y)
        return {"method": "platt", "slope": platt.slope, "intercept": platt.intercept}
    iso = fit_isotonic(p, y)
    knots, values = step_ends(iso.knots, iso.values)
    return {"method": "isotonic", "knots": knots, "values": values}


def _scores(p: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(p, y, n_bins=n_bins),
        "brier": brier_score(p, y),
        "log_loss": log_loss(p, y),
    }


def _table(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{k: (int(v) if k == "n" else float(v)) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def calibrated_battles(
    verdicts: list[Verdict], calibration: Calibration, n_rounds: int, seed: int, anchor: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibrated win rates per model (with `n`) and their Bradley-Terry ranking."""
    from harness.stats.bradley_terry import bradley_terry_table

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
    table = interval_table(sides, COLUMNS, n_rounds, seed)
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
