"""Percentile bootstrap of per-group means, resampling items (prompts), not single judgments.

Judgments of one item are correlated (same instruction, both orders, several opponents), so
the item is the unit of resampling; resampling single judgments would give intervals too narrow.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from harness.stats.intervals import blank_zero_width, column_quantiles


@lru_cache(maxsize=32)
def item_bootstrap_counts(n_items: int, n_rounds: int, seed: int) -> np.ndarray:
    """How often each item is drawn in each round: shape (n_rounds, n_items), read-only.

    Drawn once per process for each size (0.1 s at 805 items x 1,000 rounds): the scores, the
    win rates, style control, the Bradley-Terry, Plackett-Luce and length-control bootstraps and
    every category of the same size use the same draws; within a run directory's commands they are
    also remembered there (harness.stats.memo), in the narrowest integer type that holds them)."""
    from harness.stats.memo import remembered

    def draw() -> np.ndarray:
        rng = np.random.default_rng(seed)
        counts = rng.multinomial(n_items, np.full(n_items, 1.0 / n_items), size=n_rounds)
        return counts.astype(np.min_scalar_type(int(counts.max(initial=0))))  # every count unchanged

    counts = remembered("item_draws", (n_items, n_rounds, seed), draw, code=("harness.stats.bootstrap",))
    counts = counts.astype(np.int64)  # the multinomial's own type, whichever way the counts came
    counts.flags.writeable = False
    return counts


def bootstrap_group_means(
    frame: pd.DataFrame,
    *,
    item: str,
    group: str,
    value: str,
    n_rounds: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Columns group, mean, ci_low, ci_high, n (rows with a NaN value are left out). An interval
    that would have zero width (one item, or every item alike) is NaN: no resample varied."""
    columns = [group, "mean", "ci_low", "ci_high", "n"]
    frame = frame[frame[value].notna()]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    item_codes, items = pd.factorize(frame[item], sort=True)
    group_codes, groups = pd.factorize(frame[group], sort=True)
    sums = np.zeros((len(items), len(groups)))
    counts = np.zeros((len(items), len(groups)))
    np.add.at(sums, (item_codes, group_codes), frame[value].to_numpy(dtype=float))
    np.add.at(counts, (item_codes, group_codes), 1.0)
    mean = sums.sum(axis=0) / counts.sum(axis=0)
    if n_rounds > 0:
        draws = item_bootstrap_counts(len(items), n_rounds, seed)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (draws @ sums) / (draws @ counts)
        alpha = (1.0 - ci) / 2.0
        low, high = column_quantiles(boot, [alpha, 1.0 - alpha])
    else:
        low = high = np.full(len(groups), np.nan)
    table = pd.DataFrame(
        {group: list(groups), "mean": mean, "ci_low": low, "ci_high": high, "n": counts.sum(axis=0).astype(int)}
    )
    return blank_zero_width(table, note=None)


def model_score_frame(
    frame: pd.DataFrame, models: list[str], *, value: str, n_rounds: int, seed: int, item: str = "item_id"
) -> pd.DataFrame:
    """The first scores.csv columns for per-item values: index `model` (every model listed, even
    one with no usable value), score = mean, ci_low / ci_high from the item bootstrap, n.

    What a protocol that scores each answer on its own (rubric, checklist, a plugin's) starts
    its scores table from.
    """
    stats = bootstrap_group_means(frame, item=item, group="model", value=value, n_rounds=n_rounds, seed=seed)
    stats = stats.set_index("model")
    scores = pd.DataFrame(index=pd.Index(models, name="model"))
    scores["score"] = stats["mean"].astype(float)
    scores["ci_low"] = stats["ci_low"].astype(float)
    scores["ci_high"] = stats["ci_high"].astype(float)
    scores["n"] = stats["n"]
    return scores
