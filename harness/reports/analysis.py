"""The numbers a report shows, as DataFrames: ranking, significance of every pair, win rates,
per-category scores. Writers (HTML, Markdown, CSV) only format these."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.errors import BadInput
from harness.reports.rundata import RunData, item_scores
from harness.running.completeness import task_models, with_model_rows
from harness.stats.significance import MIN_ITEMS

RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]
PAIR_COLUMNS = ["model_1", "model_2", "diff", "ci_low", "ci_high", "p_value", "p_adjusted", "significant", "items",
                "statement"]


@dataclass
class Analysis:
    protocol: str
    ranking: pd.DataFrame
    score_label: str
    pairs: pd.DataFrame
    pairs_note: str
    win_rates: pd.DataFrame
    win_rates_note: str
    categories: pd.DataFrame
    item_scores: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: The significance test's bootstrap rounds and level.
    rounds: int = 1000
    alpha: float = 0.05


def analyse(run: RunData, *, n_rounds: int = 1000, seed: int = 0, alpha: float = 0.05) -> Analysis:
    scores = item_scores(run)
    try:
        pairs, pairs_note = significance(run, scores, n_rounds=n_rounds, seed=seed, alpha=alpha)
    except BadInput as exc:  # data the test cannot use must not cost the rest of the report
        pairs, pairs_note = pd.DataFrame(columns=PAIR_COLUMNS), f"no significance test: {exc}"
    rates, rates_note = win_rates(run, scores)
    return Analysis(
        protocol=run.protocol, ranking=ranking_table(run, scores), score_label=score_label(run),
        pairs=pairs, pairs_note=pairs_note, win_rates=rates, win_rates_note=rates_note,
        categories=category_table(scores), item_scores=scores,
        notes=few_items_notes(scores, pairs, dataset_items(run)) + unresolvable_notes(pairs, n_rounds, alpha), rounds=n_rounds, alpha=alpha,
    )


def unresolvable_pairs(pairs: pd.DataFrame, n_rounds: int, alpha: float) -> int:
    """How many pairs were tested when so many that none can be significant, else 0: a bootstrap
    p-value is at least 1 / (n_rounds + 1), and Holm's correction multiplies the smallest by
    the number of pairs tested (1,000 rounds: 51 pairs, 11 models, are already too many)."""
    tested = int(pairs["p_value"].notna().sum()) if "p_value" in pairs.columns else 0
    return tested if tested and tested / (n_rounds + 1) > alpha else 0


def unresolvable_notes(pairs: pd.DataFrame, n_rounds: int, alpha: float) -> list[str]:
    """Say so when the significance test cannot call any pair significant, so that 'not
    significant' is not read as 'no difference'."""
    tested = unresolvable_pairs(pairs, n_rounds, alpha)
    if not tested:
        return []
    return [f"{tested:,} pairs tested with {n_rounds:,} bootstrap rounds: no p-value can fall below "
            f"1/{n_rounds + 1:,}, and Holm's correction over {tested:,} pairs needs {alpha / tested:.1g} for the "
            f"first, so no pair can be called significant whatever the data; 'not significant' here is not "
            "'no difference': read each pair's interval"]


def dataset_items(run: RunData) -> int | None:
    """The dataset's number of items as run.json records it (None when it does not)."""
    items = (run.manifest.get("dataset") or {}).get("items")
    return items if isinstance(items, int) and not isinstance(items, bool) else None


def few_items_notes(scores: pd.DataFrame, pairs: pd.DataFrame, dataset: int | None = None) -> list[str]:
    """A warning when the run has too few items for significance statements (MIN_ITEMS); with
    `dataset` (its item count) larger than the items judged, it says of how many, as the CLI's
    warning does (a partial or budgeted run of a large dataset)."""
    n_items = int(scores["item_id"].nunique()) if "item_id" in scores.columns else 0
    untested = int(pairs["p_value"].isna().sum()) if not pairs.empty else 0
    if n_items == 0 or (n_items >= MIN_ITEMS and untested == 0):
        return []
    if n_items < MIN_ITEMS:
        of = f" of {dataset}" if dataset is not None and dataset > n_items else ""
        return [f"only {n_items}{of} item(s) judged: the numbers are shown, but their intervals (and the ranks drawn "
                f"from them) are rough and no difference is called significant below {MIN_ITEMS} items "
                "(docs/statistics.md)"]
    return [f"{untested} pair(s) share fewer than {MIN_ITEMS} items: shown without a p-value (docs/statistics.md)"]


def score_label(run: RunData) -> str:
    return run.view.score_label(run)


def ranking_table(run: RunData, scores: pd.DataFrame) -> pd.DataFrame:
    """ranking.csv with the protocol's extra columns from scores.csv; rebuilt from per-item
    scores (mean and item-bootstrap-free interval left empty) when the run has no ranking."""
    ranking = run.ranking
    if ranking.empty or "model" not in ranking.columns:
        if scores.empty:
            return pd.DataFrame(columns=RANKING_COLUMNS)
        means = scores.groupby("model")["score"].agg(["mean", "count"]).sort_values("mean", ascending=False)
        ranking = pd.DataFrame({"model": means.index, "score": means["mean"].to_numpy(),
                                "ci_low": np.nan, "ci_high": np.nan, "n": means["count"].to_numpy()})
        ranking["rank"] = ranking["score"].rank(ascending=False, method="min").astype(int)
    table = ranking.copy()
    for column in RANKING_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    extra = run.scores
    if not extra.empty and "model" in extra.columns and extra is not ranking:
        extra = run.view.ranking_extras(extra)  # e.g. scores.csv's score under another name
        keep = [c for c in extra.columns if c not in table.columns]
        if keep:
            table = table.merge(extra[["model", *keep]], on="model", how="left")
    table["model"] = table["model"].astype(str)
    table = with_model_rows(table, task_models(run.manifest))  # a run from before every model was kept
    table = table[["rank", "model", "score", "ci_low", "ci_high", "n", *[c for c in table.columns if c not in RANKING_COLUMNS]]]
    return table.sort_values(["rank", "score"], ascending=[True, False]).reset_index(drop=True)


def significance(
    run: RunData, scores: pd.DataFrame, *, n_rounds: int, seed: int, alpha: float
) -> tuple[pd.DataFrame, str]:
    """Every pair of models with a Holm-adjusted p-value, as the run's protocol tests them
    (by default the paired per-item score difference)."""
    frame, note = run.view.significance(run, scores, n_rounds=n_rounds, seed=seed, alpha=alpha)
    if frame.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS), note
    frame = frame.copy()
    if "items" not in frame.columns:  # a plugin's own test may not count them: at most the run's
        frame["items"] = int(scores["item_id"].nunique()) if "item_id" in scores.columns else pd.NA
    too_few = pd.to_numeric(frame["items"], errors="coerce") < MIN_ITEMS  # whoever computed the test
    frame.loc[too_few, ["p_value", "p_adjusted"]] = np.nan
    frame.loc[too_few, "significant"] = False
    frame["statement"] = [statement(r.model_1, r.model_2, r.diff, r.p_adjusted, r.significant, alpha, items=r.items)
                          for r in frame.itertuples()]
    return frame[PAIR_COLUMNS].reset_index(drop=True), note


def statement(first: str, second: str, diff: float, p_adjusted: float, significant: bool, alpha: float,
              *, items: int | None = None) -> str:
    """'A > B (p < 0.05)' when the adjusted p-value clears alpha, else 'A ~ B (not significant)';
    'A ? B (not tested ...)' for a pair on too few items to test."""
    if p_adjusted is None or (isinstance(p_adjusted, float) and math.isnan(p_adjusted)):
        if isinstance(items, (int, np.integer)) and items > 0:
            return f"{first} ? {second} (not tested: {int(items)} item(s), fewer than the {MIN_ITEMS} a p-value needs)"
        return f"{first} ? {second} (no shared items)"
    if significant:
        hi, lo = (first, second) if diff >= 0 else (second, first)
        return f"{hi} > {lo} (p {format_p(p_adjusted)})"
    return f"{first} ~ {second} (not significant, p {format_p(p_adjusted)})"


def format_p(p: float) -> str:
    if p < 0.001:
        return "< 0.001"
    if p < 0.01:
        return f"= {p:.3f}"
    return f"= {p:.2f}"


def win_rates(run: RunData, scores: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Row model's win rate against the column model, ties half; NaN where they never met."""
    return run.view.win_rates(run, scores)


def category_table(scores: pd.DataFrame) -> pd.DataFrame:
    """category, model, score (mean per-item score), n (items)."""
    if scores.empty:
        return pd.DataFrame(columns=["category", "model", "score", "n"])
    table = scores.groupby(["category", "model"])["score"].agg(["mean", "count"]).reset_index()
    return table.rename(columns={"mean": "score", "count": "n"})
