"""A rubric panel: judges pooled by the many-facet Rasch rating-scale model, compared on scores.

harness.stats.rasch fits model ability, item difficulty and judge severity together. The pooled
score is the fair score: the expected rubric score of the model on an average item under a
typical judge of the panel, the judge at the panel's median severity, so one harsh (or lenient)
judge neither drags every score down nor changes who is ahead, even where it did not score every
answer. The interval is the ability's +-1.96 model standard error mapped to the score scale;
`raw_mean` keeps the plain mean. Agreement is on each answer's score: interval alpha and
quadratic-weighted kappa (a harsh judge that ranks like the others still disagrees on the level,
which the kappa shows).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate, Task
from harness.protocol.panel_view import PanelLabels, PanelView
from harness.protocol.pooling import Z95, Pooled, kept_apart, noted, ranked


class RubricPanelView(PanelView):
    def pool(self, task: Task, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
        return rasch_pool(task.aggregate(kept_apart(verdicts)), verdicts, by_judge)

    def labels(self, verdicts: dict[str, list[Verdict]], pooled: Aggregate) -> PanelLabels:
        table = rubric_scores(verdicts)
        rows = pd.DataFrame({"judge": table["judge"], "unit": table["request_id"], "label": table["score"]})
        scale = pooled.summary.get("scale")
        categories = ([float(c) for c in range(int(scale[0]), int(scale[1]) + 1)]
                      if isinstance(scale, list) and len(scale) == 2 else None)
        return PanelLabels(rows, "interval", weights="quadratic", categories=categories)


def rubric_scores(verdicts: dict[str, list[Verdict]]) -> pd.DataFrame:
    """One row per parsed rubric verdict of any judge: model, item_id, judge, score, request_id."""
    rows = [{"model": v.data["model"], "item_id": v.item_id, "judge": judge, "score": float(v.data["score"]),
             "request_id": v.request_id}
            for judge, vs in verdicts.items() for v in vs if v.status == "ok" and v.data.get("score") is not None]
    return pd.DataFrame(rows, columns=["model", "item_id", "judge", "score", "request_id"])


def _scale(by_judge: dict[str, Aggregate]) -> tuple[int, int] | None:
    for aggregate in by_judge.values():
        scale = aggregate.summary.get("scale")
        if isinstance(scale, (list, tuple)) and len(scale) == 2:
            return int(scale[0]), int(scale[1])
    return None


def rasch_pool(base: Aggregate, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
    """The Rasch fair scores in place of `base`'s (the protocol's aggregate over every judge),
    or `base` itself, noted as the plain mean, when the scores vary too little to fit."""
    from harness.stats.rasch import fit_rasch

    table = rubric_scores(verdicts)
    try:
        fit = fit_rasch(table[["model", "item_id", "judge", "score"]], scale=_scale(by_judge))
    except ValueError as exc:  # too little variation for a rating scale: the plain mean stands
        summary = noted(base.summary, f"the mean of every judge's scores (no Rasch fit: {exc})")
        return Pooled(replace(base, summary=summary), "mean")
    severities = fit.severities.set_index("judge")
    typical = float(np.median(severities["severity"]))
    abilities = fit.abilities.set_index("model")
    ability, se = abilities["ability"].to_numpy(float), abilities["se"].to_numpy(float)
    fair = pd.DataFrame({
        "score": fit.expected_score(ability, 0.0, typical),
        "ci_low": fit.expected_score(ability - Z95 * se, 0.0, typical),
        "ci_high": fit.expected_score(ability + Z95 * se, 0.0, typical),
        "ability": ability, "ability_se": se,
    }, index=abilities.index)
    scores = base.scores.set_index("model")
    scores["raw_mean"] = scores["score"]
    for column in ("score", "ci_low", "ci_high", "ability", "ability_se"):
        scores[column] = fair[column]
    if "wb_score" in scores:
        scores["wb_score"] = scores["score"]
        scores["wb_score_adjusted"] = (scores["score"] - 5.0) * 2.0
    columns = list(base.scores.columns)
    at = columns.index("n") + 1
    columns[at:at] = ["raw_mean", "ability", "ability_se"]
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[columns].reset_index(drop=True)
    # the protocol's own note describes its score as the mean, which the fair score replaces
    kept = "; ".join(part for part in str(base.summary.get("score_note", "")).split("; ") if not part.startswith("score:"))
    summary = noted({**base.summary, "score_note": kept}, (
        "the many-facet Rasch model: score is the fair score, the expected rubric score on an average item "
        "under a typical judge of the panel (median severity), each judge's severity removed; interval: "
        "ability +-1.96 SE on the score scale; raw_mean: the plain mean of every judge's scores"))
    summary["rasch"] = {"converged": fit.converged, "log_likelihood": round(fit.log_likelihood, 6),
                        "typical_severity": round(typical, 6), "n": int(fit.extras["n"])}
    judges = {str(judge): _severity_facts(fit, table, str(judge), typical) for judge in severities.index}
    aggregate = replace(base, scores=scores, ranking=ranked(scores), summary=summary,
                        title="ranking (Rasch fair score over the judge panel, 95% CI)", rank_label="fair score",
                        columns={"raw mean": "raw_mean", **base.columns})
    return Pooled(aggregate, "rasch", judges)


def _severity_facts(fit: Any, table: pd.DataFrame, judge: str, typical: float) -> dict[str, Any]:
    """A judge's severity in logits (with its SE) and in score points: how much lower, on average
    over the answers it scored, its expected score is than a typical judge's."""
    row = fit.severities.set_index("judge").loc[judge]
    mine = table[table["judge"] == judge]
    theta = fit.abilities.set_index("model")["ability"].reindex(mine["model"]).to_numpy(float)
    delta = fit.difficulties.set_index("item_id")["difficulty"].reindex(mine["item_id"]).to_numpy(float)
    points = fit.expected_score(theta, delta, typical) - fit.expected_score(theta, delta, float(row["severity"]))
    return {
        "severity": round(float(row["severity"]), 6), "severity_se": round(float(row["se"]), 6),
        "severity_points": round(float(np.mean(points)), 6) if len(points) else None,
        "raw_mean": round(float(row["raw_mean"]), 6), "n_scored": int(row["n"]),
    }
