"""Pairwise calibration: agreement with the humans, ECE / Brier / log loss of the judge's
P(model_a better) before and after a map (after: out-of-fold, folds by item), and the map.

`auto` picks the method with the lower out-of-fold Brier score (log loss punishes isotonic
regression's 0 and 1 steps so hard on held-out items that it would nearly always pick Platt).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.calibrate.matching import (
    human_pair_outcomes,
    judge_pair_labels,
    judge_pair_rows,
    match_pairs,
    pair_label,
)
from harness.errors import BadInput
from harness.models import Verdict
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

METHODS = ("isotonic", "platt")


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
        "kind": "pairwise",
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


def step_ends(knots: np.ndarray, values: np.ndarray) -> tuple[list[float], list[float]]:
    """The knots where the isotonic map's value changes (both ends of every flat step): the
    same interpolation with a fraction of the knots, so the file stays small."""
    keep = [
        i
        for i in range(len(knots))
        if i in (0, len(knots) - 1) or values[i] != values[i - 1] or values[i] != values[i + 1]
    ]
    return [float(knots[i]) for i in keep], [float(values[i]) for i in keep]


def _scores(p: np.ndarray, y: np.ndarray, n_bins: int) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(p, y, n_bins=n_bins),
        "brier": brier_score(p, y),
        "log_loss": log_loss(p, y),
    }


def _table(frame: pd.DataFrame) -> list[dict[str, float]]:
    return [{k: (int(v) if k == "n" else float(v)) for k, v in row.items()} for row in frame.to_dict(orient="records")]
