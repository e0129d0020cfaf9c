"""How consistent is a judge with itself? Statistics for repeated judgments of the same items.

Sampling a judge several times per item (temperature > 0, or several runs) shows how much of a
score is noise. Reported here: exact agreement of all repeats, mean pairwise agreement (exact and
within one point), Krippendorff's alpha (nominal, ordinal, interval; repeats play the raters), the
within-item standard deviation, and the one-way random-effects intraclass correlations of Shrout &
Fleiss (1979): ICC(1) for a single judgment and ICC(1,k) for the mean of k repeats. The one-way
model fits because repeats of one judge are interchangeable, not distinct raters.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from harness.stats._input import require_columns
from harness.stats.agreement import krippendorff_alpha
from harness.stats.errors import StatsInputError

__all__ = ["repeated_judgment_reliability", "repeats_table"]


def repeats_table(scores: Any, *, item: str = "item_id", score: str = "score") -> np.ndarray:
    """An (items x repeats) float array with NaN padding, from a wide table or a long frame.

    A DataFrame with `item` and `score` columns is read as long format (one row per judgment);
    anything else as a wide table whose rows are items and columns repeats.
    """
    if isinstance(scores, pd.DataFrame) and item in scores.columns:
        require_columns(scores, (item, score), "the scores table")
        values = pd.to_numeric(scores[score], errors="coerce")
        grouped = values.groupby(scores[item], sort=False)
        width = int(grouped.size().max()) if len(values) else 0
        rows = [np.pad(g.dropna().to_numpy(float), (0, width - g.notna().sum()), constant_values=np.nan) for _, g in grouped]
        return np.vstack(rows) if rows else np.empty((0, 0))
    try:
        table = np.asarray(scores, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"repeated scores must be numeric: {exc}") from None
    if table.ndim != 2:
        raise StatsInputError(f"repeated scores must be a 2-D (items x repeats) table, got shape {table.shape}")
    return table


def _one_way_icc(rows: list[np.ndarray]) -> tuple[float, float, float]:
    """ICC(1), ICC(1,k) and k0 from a one-way ANOVA; k0 is the (possibly fractional) group size."""
    sizes = np.array([r.size for r in rows], dtype=float)
    n, total = len(rows), sizes.sum()
    if n < 2 or total - n <= 0:
        return (math.nan, math.nan, math.nan)
    grand = np.concatenate(rows).mean()
    ss_between = sum(r.size * (r.mean() - grand) ** 2 for r in rows)
    ss_within = sum(((r - r.mean()) ** 2).sum() for r in rows)
    ms_between, ms_within = ss_between / (n - 1), ss_within / (total - n)
    k0 = (total - (sizes**2).sum() / total) / (n - 1)  # equals k when every item has k repeats
    denominator = ms_between + (k0 - 1) * ms_within
    icc1 = (ms_between - ms_within) / denominator if denominator > 0 else math.nan
    icck = (ms_between - ms_within) / ms_between if ms_between > 0 else math.nan
    return (float(icc1), float(icck), float(k0))


def repeated_judgment_reliability(scores: Any, *, item: str = "item_id", score: str = "score") -> dict[str, float]:
    """Consistency statistics of repeated scores per item (see the module docstring).

    Items with fewer than two scores are left out. Agreement shares average over items (each item
    counts once, whatever its number of repeats); `mean_pairwise_agreement` is the share of equal
    pairs among an item's repeats, `within_one_agreement` of pairs at most one point apart.
    """
    table = repeats_table(scores, item=item, score=score)
    rows = [r[np.isfinite(r)] for r in table]
    rows = [r for r in rows if r.size >= 2]
    if not rows:
        raise StatsInputError("no item has two or more scores; reliability needs repeated judgments")
    exact = [float(np.all(r == r[0])) for r in rows]
    pairwise, within_one = [], []
    for r in rows:
        pairs = list(combinations(r.tolist(), 2))
        pairwise.append(sum(a == b for a, b in pairs) / len(pairs))
        within_one.append(sum(abs(a - b) <= 1 for a, b in pairs) / len(pairs))
    icc1, icck, k0 = _one_way_icc(rows)
    width = max(r.size for r in rows)
    padded = np.vstack([np.pad(r, (0, width - r.size), constant_values=np.nan) for r in rows])
    return {
        "n_items": len(rows),
        "n_scores": int(sum(r.size for r in rows)),
        "repeats_per_item": k0,
        "mean_score": float(np.concatenate(rows).mean()),
        "exact_agreement": float(np.mean(exact)),
        "mean_pairwise_agreement": float(np.mean(pairwise)),
        "within_one_agreement": float(np.mean(within_one)),
        "alpha_nominal": krippendorff_alpha(padded.T, level="nominal"),
        "alpha_ordinal": krippendorff_alpha(padded.T, level="ordinal"),
        "alpha_interval": krippendorff_alpha(padded.T, level="interval"),
        "within_item_sd": float(np.mean([r.std(ddof=1) for r in rows])),
        "pooled_within_sd": float(math.sqrt(np.mean([r.var(ddof=1) for r in rows]))),
        "icc1": icc1,
        "icc1k": icck,
    }
