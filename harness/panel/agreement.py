"""How a panel's judges agree: with each other (Krippendorff's alpha, pairwise Cohen's kappa) and
each with the rest of the panel, plus each judge's own facts and ranking against the pool.

The units and labels compared come from the protocol's panel view (`Task.panel_view().labels()`):
the requests every judge was asked, labelled by what the protocol reads from a verdict.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate
from harness.protocol.panel_view import PanelLabels, PanelView
from harness.stats.agreement import cohens_kappa, krippendorff_alpha, rank_correlation


def rounded(value: float | None) -> float | None:
    """A statistic for run.json: 6 places, None for a missing or NaN value."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)


def agreement(labelled: PanelLabels | None, protocol: str) -> dict[str, Any]:
    """Inter-judge agreement: Krippendorff's alpha over every judge, Cohen's kappa for each pair."""
    if labelled is None:
        return {"note": f"no agreement measure for protocol {protocol!r}"}
    labels, level, weights, categories = labelled.labels, labelled.level, labelled.weights, labelled.categories
    if labels.empty:
        return {"level": level, "krippendorff_alpha": None, "units": 0, "cohen_kappa": []}
    table = labels.pivot_table(index="judge", columns="unit", values="label", aggfunc="first")
    shared = int((table.notna().sum(axis=0) >= 2).sum())
    pairs = []
    for a, b in itertools.combinations(sorted(table.index), 2):
        both = table.loc[[a, b]].dropna(axis=1)
        kappa = (cohens_kappa(both.loc[a], both.loc[b], weights=weights, labels=categories)
                 if both.shape[1] else math.nan)
        pairs.append({"judges": [a, b], "kappa": rounded(kappa), "n": int(both.shape[1])})
    return {
        "level": level,
        "krippendorff_alpha": rounded(krippendorff_alpha(table.to_numpy(dtype=object), level=level)),
        "units": shared,
        "cohen_kappa": pairs,
        "kappa_weights": weights,
    }


def judge_facts(
    view: PanelView, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate], pooled: Aggregate,
    labelled: PanelLabels | None,
) -> dict[str, dict[str, Any]]:
    """Per judge: the protocol's facts of its own aggregate, how its ranking compares with the
    pool's, and its agreement with the rest of the panel where the protocol measures one."""
    pooled_scores = pooled.ranking.set_index("model")["score"] if not pooled.ranking.empty else pd.Series(dtype=float)
    facts: dict[str, dict[str, Any]] = {}
    for judge in verdicts:
        entry: dict[str, Any] = {}
        aggregate = by_judge.get(judge)
        if aggregate is not None:
            entry.update(view.judge_facts(aggregate))
            ranking = aggregate.ranking
            entry["ranking"] = [str(m) for m in ranking["model"]] if "model" in ranking else []
            if len(ranking) >= 2 and len(pooled_scores) >= 2:
                tau = rank_correlation(ranking.set_index("model")["score"], pooled_scores)["kendall_tau"]
                entry["kendall_tau_with_pool"] = rounded(tau)
        with_pool = view.agreement_with_pool(labelled, judge) if labelled is not None else None
        if with_pool is not None:
            entry["agreement_with_pool"] = with_pool
        facts[judge] = entry
    return facts
