"""Pool a judge panel's verdicts into one result: scores.csv and ranking.csv of a panel run.

Each protocol's own `aggregate()` stays per judge (scores_by_judge.csv); pooling is done here:

- rubric: the many-facet Rasch rating-scale model (harness.stats.rasch) fits model ability, item
  difficulty and judge severity together. The pooled score is the fair score: the expected rubric
  score of the model on an average item under a typical judge of the panel, the judge at the
  panel's median severity, so one harsh (or lenient) judge neither drags every score down nor
  changes who is ahead, even where it did not score every answer. The interval is the ability's
  +-1.96 model standard error mapped to the score scale. `raw_mean` keeps the plain mean.
- pairwise: Bradley-Terry over every judge's battles (the protocol's own aggregate over the
  verdicts of all judges, each judge's requests kept apart so both orders of a pair pair up per
  judge); WB-Reward and win rates are averages over all judges' battles.
- checklist: each response's pass rate averaged over the judges that scored it, then the item
  bootstrap as for one judge.
- any other protocol: its own aggregate over every judge's verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate, Task
from harness.stats.bradley_terry import interval_ranks

Z95 = 1.959963984540054
RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]


@dataclass
class Pooled:
    aggregate: Aggregate
    #: How the pooled score was made (for run.json and the report).
    method: str
    #: Per judge facts the pooling learned (rubric: severity), judge label -> facts.
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)


def kept_apart(verdicts: dict[str, list[Verdict]]) -> list[Verdict]:
    """Every judge's verdicts in one list, request ids prefixed with the judge so they stay distinct."""
    return [v.model_copy(update={"request_id": f"{judge}||{v.request_id}"})
            for judge, vs in verdicts.items() for v in vs]


def pool(task: Task, protocol: str, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
    """The pooled Aggregate of a panel (see the module docstring for each protocol's method)."""
    base = task.aggregate(kept_apart(verdicts))
    if protocol == "rubric":
        return _rubric(base, verdicts, by_judge)
    if protocol == "checklist":
        return _checklist(task, base, verdicts)
    if protocol == "pairwise":
        note = "Bradley-Terry over every judge's battles"
        return Pooled(replace(base, summary=_noted(base.summary, note)), "bradley_terry")
    return Pooled(replace(base, summary=_noted(base.summary, "the protocol's aggregate over every judge's verdicts")),
                  "all_verdicts")


def _noted(summary: dict[str, Any], how: str) -> dict[str, Any]:
    note = summary.get("score_note", "")
    return {**summary, "score_note": f"panel, pooled by {how}. {note}".strip()}


def _ranked(scores: pd.DataFrame) -> pd.DataFrame:
    """ranking.csv from scores with intervals: rank 1 + the models whose interval lies above."""
    ranking = scores[scores["score"].notna()][["model", "score", "ci_low", "ci_high", "n"]].copy()
    low = ranking["ci_low"].fillna(ranking["score"]).to_numpy(float)
    high = ranking["ci_high"].fillna(ranking["score"]).to_numpy(float)
    ranking["rank"] = interval_ranks(low, high) if len(ranking) else []
    ranking = ranking.sort_values(["rank", "score", "model"], ascending=[True, False, True])
    ranking["rank"] = ranking["rank"].astype(int)
    return ranking[RANKING_COLUMNS].reset_index(drop=True)


# -- rubric: many-facet Rasch -----------------------------------------------------------------


def rubric_scores(verdicts: dict[str, list[Verdict]]) -> pd.DataFrame:
    """One row per parsed rubric verdict of any judge: model, item_id, judge, score."""
    rows = [{"model": v.data["model"], "item_id": v.item_id, "judge": judge, "score": float(v.data["score"])}
            for judge, vs in verdicts.items() for v in vs if v.status == "ok" and v.data.get("score") is not None]
    return pd.DataFrame(rows, columns=["model", "item_id", "judge", "score"])


def _scale(by_judge: dict[str, Aggregate]) -> tuple[int, int] | None:
    for aggregate in by_judge.values():
        scale = aggregate.summary.get("scale")
        if isinstance(scale, (list, tuple)) and len(scale) == 2:
            return int(scale[0]), int(scale[1])
    return None


def _rubric(base: Aggregate, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
    from harness.stats.rasch import fit_rasch

    table = rubric_scores(verdicts)
    try:
        fit = fit_rasch(table, scale=_scale(by_judge))
    except ValueError as exc:  # too little variation for a rating scale: the plain mean stands
        summary = _noted(base.summary, f"the mean of every judge's scores (no Rasch fit: {exc})")
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
    summary = _noted(base.summary, (
        "the many-facet Rasch model: score is the fair score, the expected rubric score on an average item "
        "under a typical judge of the panel (median severity), each judge's severity removed; interval: "
        "ability +-1.96 SE on the score scale; raw_mean: the plain mean of every judge's scores"))
    summary["rasch"] = {"converged": fit.converged, "log_likelihood": round(fit.log_likelihood, 6),
                        "typical_severity": round(typical, 6), "n": int(fit.extras["n"])}
    judges = {str(judge): _severity_facts(fit, table, str(judge), typical) for judge in severities.index}
    aggregate = replace(base, scores=scores, ranking=_ranked(scores), summary=summary,
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


# -- checklist: mean pass rate over judges ----------------------------------------------------


def checklist_pass_rates(verdicts: dict[str, list[Verdict]]) -> pd.DataFrame:
    """Per (judge, item, model): the response's pass rate (0-100) and expected pass rate."""
    from harness_plugins.checklist.aggregate import answered_questions, response_pass_rates

    frames = [response_pass_rates(answered_questions(vs)).assign(judge=judge) for judge, vs in verdicts.items()]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["judge", "item_id", "model", "pass_rate", "expected_pass_rate"])
    return pd.concat(frames, ignore_index=True)


def _checklist(task: Task, base: Aggregate, verdicts: dict[str, list[Verdict]]) -> Pooled:
    from harness.stats.bootstrap import model_score_frame

    rates = checklist_pass_rates(verdicts)
    responses = rates.groupby(["item_id", "model"], as_index=False)[["pass_rate", "expected_pass_rate"]].mean()
    models = list(base.scores["model"])
    config = task.config
    pooled = model_score_frame(responses, models, value="pass_rate",
                               n_rounds=int(getattr(config, "n_bootstrap", 1000)), seed=int(getattr(config, "seed", 0)))
    scores = base.scores.set_index("model")
    for column in ("score", "ci_low", "ci_high", "n"):
        scores[column] = pooled[column]
    scores["n"] = scores["n"].fillna(0).astype(int)
    scores["pass_rate"] = scores["score"]
    if "expected_pass_rate" in scores:
        scores["expected_pass_rate"] = responses.groupby("model")["expected_pass_rate"].mean() if len(responses) else np.nan
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[list(base.scores.columns)].reset_index(drop=True)
    summary = _noted(base.summary, "averaging each response's pass rate over the judges")
    aggregate = replace(base, scores=scores, ranking=_ranked(scores), summary=summary)
    return Pooled(aggregate, "mean_pass_rate")
