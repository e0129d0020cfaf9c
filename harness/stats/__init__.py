"""Statistics, one module per method, each public by its path (`harness.stats.bootstrap`, ...;
modules starting with `_` are private). This package re-exports the ranking functions only:
Bradley-Terry ratings with item-level bootstrap confidence intervals, online Elo, style control,
pairwise significance tests, win rates and rank aggregation across tasks. docs/plugins.md
("Adding a statistic") lists every module and how a new statistic reaches scores.csv.

The re-exports load on first use (module `__getattr__`): importing any `harness.stats.X` runs this
file first, and importing every re-exported module here made each of them (pandas, scipy) load
for code that needed one small module, such as a calibration map or the preference helpers."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

#: Each re-exported name and the module that defines it.
_HOMES = {
    **dict.fromkeys(
        ("RIDGE", "battle_models", "bootstrap_bradley_terry", "bradley_terry_table", "fit_bradley_terry",
         "interval_ranks", "item_win_tensor", "win_rate_matrix"),
        "bradley_terry",
    ),
    **dict.fromkeys(("elo_table", "online_elo"), "elo"),
    "StatsInputError": "errors",
    "aggregate_rankings": "rank_aggregation",
    **dict.fromkeys(("bonferroni", "holm", "paired_score_significance", "pairwise_significance"), "significance"),
    **dict.fromkeys(("StyleControlResult", "style_controlled_table", "style_features"), "style_control"),
    "baseline_win_rates": "win_rates",
}

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


def __getattr__(name: str) -> Any:
    """A re-exported name, imported from its module on first use and then kept here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
