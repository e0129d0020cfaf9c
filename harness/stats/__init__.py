"""Ranking statistics: Bradley-Terry ratings with item-level bootstrap confidence intervals."""

from harness.stats.bradley_terry import (
    RIDGE,
    battle_models,
    bootstrap_bradley_terry,
    bradley_terry_table,
    fit_bradley_terry,
    interval_ranks,
    item_win_tensor,
    win_rate_matrix,
)

__all__ = [
    "RIDGE",
    "battle_models",
    "bootstrap_bradley_terry",
    "bradley_terry_table",
    "fit_bradley_terry",
    "interval_ranks",
    "item_win_tensor",
    "win_rate_matrix",
]
