"""Statistics, one module per method, each public by its path (`harness.stats.bootstrap`, ...;
modules starting with `_` are private). This package re-exports the ranking functions only:
Bradley-Terry ratings with item-level bootstrap confidence intervals, online Elo, style control,
pairwise significance tests, win rates and rank aggregation across tasks. docs/plugins.md
("Adding a statistic") lists every module and how a new statistic reaches scores.csv."""

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
from harness.stats.elo import elo_table, online_elo
from harness.stats.errors import StatsInputError
from harness.stats.rank_aggregation import aggregate_rankings
from harness.stats.significance import (
    bonferroni,
    holm,
    paired_score_significance,
    pairwise_significance,
)
from harness.stats.style_control import StyleControlResult, style_controlled_table, style_features
from harness.stats.win_rates import baseline_win_rates

__all__ = [
    "RIDGE",
    "StatsInputError",
    "StyleControlResult",
    "aggregate_rankings",
    "baseline_win_rates",
    "battle_models",
    "bonferroni",
    "bootstrap_bradley_terry",
    "bradley_terry_table",
    "elo_table",
    "fit_bradley_terry",
    "holm",
    "interval_ranks",
    "item_win_tensor",
    "online_elo",
    "paired_score_significance",
    "pairwise_significance",
    "style_controlled_table",
    "style_features",
    "win_rate_matrix",
]
