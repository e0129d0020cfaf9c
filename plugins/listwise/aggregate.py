"""Listwise numbers: Plackett-Luce ratings on the Elo scale with item-bootstrap intervals, how
often each model comes first and where it lands, and the judge's position behaviour (how often
each label position is ranked first, and whether the rotations of a tuple agree)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd

from harness.models import Verdict
from harness.protocol import Aggregate
from harness.stats.plackett_luce import plackett_luce_table
from harness_plugins.listwise.config import ListwiseConfig
from harness_plugins.listwise.verdicts import labels_for

SCORE_COLUMNS = ["model", "score", "ci_low", "ci_high", "n", "first_rate", "mean_position", "invalid", "failed"]


def judged_orders(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per valid verdict: item_id, the models as shown (label order), the order (labels,
    best first) and the ranking (models, best first)."""
    rows = [{"item_id": v.item_id, "shown": list(v.data["models"]), "order": v.data["order"],
             "ranking": list(v.data["ranking"])} for v in verdicts if v.status == "ok"]
    return pd.DataFrame(rows, columns=["item_id", "shown", "order", "ranking"])


def position_stats(orders: pd.DataFrame) -> dict[str, Any]:
    """Share of verdicts ranking each label position first (even: 1/K), per tuple size, and how
    often the rotations of one tuple on one item gave the same order (and the same winner)."""
    stats: dict[str, Any] = {"judged": len(orders)}
    if orders.empty:
        return stats
    k = max(len(s) for s in orders["shown"])
    full = orders[orders["shown"].map(len) == k]
    firsts = full["order"].str[0].value_counts()
    stats["position_first_rates"] = {label: round(float(firsts.get(label, 0)) / len(full), 6) for label in labels_for(k)}
    stats["position_mean_rank"] = {
        label: round(float(full["order"].map(lambda o, lab=label: o.index(lab) + 1).mean()), 6) for label in labels_for(k)}
    groups: dict[tuple[str, frozenset[str]], list[tuple[str, ...]]] = defaultdict(list)
    for row in orders.itertuples():
        groups[(row.item_id, frozenset(row.shown))].append(tuple(row.ranking))
    repeated = [g for g in groups.values() if len(g) > 1]
    stats["tuples_with_several_orders"] = len(repeated)
    if repeated:
        stats["rotation_consistency"] = round(sum(len(set(g)) == 1 for g in repeated) / len(repeated), 6)
        stats["rotation_consistency_winner"] = round(sum(len({r[0] for r in g}) == 1 for g in repeated) / len(repeated), 6)
    return stats


def problem_counts(verdicts: list[Verdict], status: str) -> pd.Series:
    models = [m for v in verdicts if v.status == status for m in v.data["models"]]
    return pd.Series(models, dtype=object).value_counts()


def aggregate_listwise(verdicts: list[Verdict], config: ListwiseConfig) -> Aggregate:
    orders = judged_orders(verdicts)
    models = sorted({m for v in verdicts for m in v.data["models"]})
    ranking = plackett_luce_table(orders[["item_id", "ranking"]], n_bootstrap=config.n_bootstrap, seed=config.seed)
    scores = pd.DataFrame({"model": models}).set_index("model")
    rated = ranking.set_index("model")
    for column in ("score", "ci_low", "ci_high", "n"):
        scores[column] = rated[column]
    positions = [(m, p + 1, len(r)) for r in orders["ranking"] for p, m in enumerate(r)]
    frame = pd.DataFrame(positions, columns=["model", "position", "size"])
    by_model = frame.groupby("model")
    scores["first_rate"] = 100.0 * by_model["position"].apply(lambda s: float((s == 1).mean()))
    scores["mean_position"] = by_model["position"].mean()
    scores["invalid"] = problem_counts(verdicts, "invalid")
    scores["failed"] = problem_counts(verdicts, "failed")
    counts = ["n", "invalid", "failed"]
    scores[counts] = scores[counts].fillna(0).astype(int)
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    summary = {
        "verdicts": {s: sum(v.status == s for v in verdicts) for s in ("ok", "invalid", "failed")},
        "k": config.k,
        "score_note": ("rating: Plackett-Luce on the Elo scale (1000 + 400/ln 10 x log-strength, as the pairwise "
                       "Bradley-Terry rating); first rate: % of the model's orders it topped; mean position: "
                       "1 = best"),
        **position_stats(orders),
    }
    return Aggregate(
        scores=scores[SCORE_COLUMNS].reset_index(drop=True), ranking=ranking, summary=summary,
        title="ranking (Plackett-Luce, 95% bootstrap CI over items)", rank_label="rating",
        columns={"first %": "first_rate", "mean position": "mean_position"},
    )
