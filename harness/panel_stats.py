"""How a panel's judges agree: with each other (Krippendorff's alpha, pairwise Cohen's kappa) and
each with the rest of the panel, plus each judge's position bias and ranking against the pool.

Units are the requests every judge was asked (the same request id for each judge):
- pairwise: the winner of each ordered battle (A, tie, B), nominal; a judge's agreement with the
  pool compares it with the other judges' majority (leave-one-out, so a judge never agrees with
  itself), ties counting half (harness.stats.agreement.accuracy_with_ties);
- rubric: the score of each answer, interval alpha and quadratic-weighted kappa (a harsh judge
  that ranks like the others still disagrees on the level, which the kappa shows);
- checklist: each YES/NO answer to the same question about the same response, nominal.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate
from harness.stats.agreement import (
    Level,
    Weights,
    accuracy_with_ties,
    cohens_kappa,
    krippendorff_alpha,
    rank_correlation,
)

WINNER = {"A>>B": "A", "A>B": "A", "A=B": "tie", "B>A": "B", "B>>A": "B"}
SHARE = {"A": 1.0, "tie": 0.5, "B": 0.0}
POSITION_FACTS = ("first_position_win_rate", "second_position_win_rate", "tie_rate", "position_consistency",
                  "position_consistency_winner", "pairs_with_both_orders")


def judge_labels(protocol: str, verdicts: dict[str, list[Verdict]]) -> tuple[pd.DataFrame, Level] | None:
    """(judge, unit, label) rows of parsed verdicts and the alpha level; None for other protocols."""
    rows: list[tuple[str, str, Any]] = []
    level: Level
    if protocol == "pairwise":
        for judge, vs in verdicts.items():
            rows += [(judge, v.request_id, WINNER[v.data["level"]]) for v in vs
                     if v.status == "ok" and v.data.get("level") in WINNER]
        level = "nominal"
    elif protocol == "rubric":
        for judge, vs in verdicts.items():
            rows += [(judge, v.request_id, float(v.data["score"])) for v in vs
                     if v.status == "ok" and v.data.get("score") is not None]
        level = "interval"
    elif protocol == "checklist":
        from harness_plugins.checklist.aggregate import answered_questions

        for judge, vs in verdicts.items():
            answers = answered_questions(vs)
            rows += [(judge, f"{a.item_id}||{a.model}||{a.question}", "YES" if a.yes else "NO")
                     for a in answers.itertuples()]
        level = "nominal"
    else:
        return None
    return pd.DataFrame(rows, columns=["judge", "unit", "label"]), level


def _round(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)


def agreement(protocol: str, verdicts: dict[str, list[Verdict]], scale: tuple[int, int] | None) -> dict[str, Any]:
    """Inter-judge agreement: Krippendorff's alpha over every judge, Cohen's kappa for each pair."""
    labelled = judge_labels(protocol, verdicts)
    if labelled is None:
        return {"note": f"no agreement measure for protocol {protocol!r}"}
    labels, level = labelled
    if labels.empty:
        return {"level": level, "krippendorff_alpha": None, "units": 0, "cohen_kappa": []}
    table = labels.pivot_table(index="judge", columns="unit", values="label", aggfunc="first")
    shared = int((table.notna().sum(axis=0) >= 2).sum())
    weights: Weights = "quadratic" if protocol == "rubric" else None
    categories = list(range(scale[0], scale[1] + 1)) if protocol == "rubric" and scale else None
    pairs = []
    for a, b in itertools.combinations(sorted(table.index), 2):
        both = table.loc[[a, b]].dropna(axis=1)
        kappa = (cohens_kappa(both.loc[a], both.loc[b], weights=weights,
                              labels=[float(c) for c in categories] if categories else None)
                 if both.shape[1] else math.nan)
        pairs.append({"judges": [a, b], "kappa": _round(kappa), "n": int(both.shape[1])})
    return {
        "level": level,
        "krippendorff_alpha": _round(krippendorff_alpha(table.to_numpy(dtype=object), level=level)),
        "units": shared,
        "cohen_kappa": pairs,
        "kappa_weights": weights,
    }


def with_pool(labels: pd.DataFrame, judge: str) -> dict[str, Any]:
    """A pairwise judge against the rest of the panel's majority on the same ordered battles."""
    mine = labels[labels["judge"] == judge].set_index("unit")["label"]
    others = labels[labels["judge"] != judge]
    if mine.empty or others.empty:
        return {"n": 0}
    share = others.assign(share=others["label"].map(SHARE)).groupby("unit")["share"].mean()
    pool = share.map(lambda s: "A" if s > 0.5 else "B" if s < 0.5 else "tie")
    mine, pool = mine.align(pool, join="inner")
    if mine.empty:
        return {"n": 0}
    scores = accuracy_with_ties(mine.to_numpy(object), pool.to_numpy(object))
    return {"accuracy": _round(scores["accuracy"]), "exact": _round(scores["exact"]),
            "kappa": _round(cohens_kappa(mine.to_numpy(object), pool.to_numpy(object))), "n": int(scores["n"])}


def judge_facts(
    protocol: str, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate], pooled: Aggregate,
) -> dict[str, dict[str, Any]]:
    """Per judge: position bias (pairwise), agreement with the pool, and how its ranking compares."""
    labelled = judge_labels(protocol, verdicts) if protocol == "pairwise" else None
    pooled_scores = pooled.ranking.set_index("model")["score"] if not pooled.ranking.empty else pd.Series(dtype=float)
    facts: dict[str, dict[str, Any]] = {}
    for judge in verdicts:
        entry: dict[str, Any] = {}
        aggregate = by_judge.get(judge)
        if aggregate is not None:
            if protocol == "pairwise":
                entry["position"] = {k: aggregate.summary[k] for k in POSITION_FACTS if k in aggregate.summary}
            ranking = aggregate.ranking
            entry["ranking"] = [str(m) for m in ranking["model"]] if "model" in ranking else []
            if len(ranking) >= 2 and len(pooled_scores) >= 2:
                tau = rank_correlation(ranking.set_index("model")["score"], pooled_scores)["kendall_tau"]
                entry["kendall_tau_with_pool"] = _round(tau)
        if labelled is not None:
            entry["agreement_with_pool"] = with_pool(labelled[0], judge)
        facts[judge] = entry
    return facts
