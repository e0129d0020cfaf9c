"""Win rates against a baseline model, with item-bootstrap intervals.

The number AlpacaEval and WildBench headline: how often a model beats one fixed baseline (ties
count half). It needs no model of the other systems, so it is easy to explain; its interval comes
from resampling items, like every interval in harness.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.stats.bootstrap import item_bootstrap_counts
from harness.stats.bradley_terry import _validated, _weights
from harness.stats.errors import StatsInputError
from harness.stats.intervals import column_quantiles


def baseline_win_rates(
    battles: pd.DataFrame,
    baseline: str,
    *,
    n_rounds: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    weighted: bool = False,
) -> pd.DataFrame:
    """Columns model, win_rate, ci_low, ci_high, n: percent of battles against `baseline` won
    (ties half), for every model that met it, sorted by win rate descending.

    Battles not involving the baseline are ignored; a battle counts from whichever side the model
    was on. With `weighted`, the `weight` column (e.g. 3 for strong verdicts) weighs the battles;
    by default every battle counts once, as in WildBench's and AlpacaEval's win rates. n counts
    battle rows.
    """
    if not 0.0 < ci < 1.0:
        raise StatsInputError("ci must be strictly between 0 and 1")
    if n_rounds < 1:
        raise StatsInputError("n_rounds must be at least 1")
    try:
        _validated(battles)
    except ValueError as exc:
        raise StatsInputError(str(exc)) from None
    columns = ["model", "win_rate", "ci_low", "ci_high", "n"]
    as_a = battles["model_b"] == baseline
    as_b = battles["model_a"] == baseline
    if not (as_a | as_b).any():
        raise StatsInputError(f"baseline {baseline!r} has no battles")
    weight = _weights(battles) if weighted else np.ones(len(battles))
    score = battles["score_a"].to_numpy(dtype=float)
    rows = pd.DataFrame(
        {
            "item_id": pd.concat([battles["item_id"][as_a], battles["item_id"][as_b]]).to_numpy(),
            "model": pd.concat([battles["model_a"][as_a], battles["model_b"][as_b]]).to_numpy(),
            "won": np.concatenate([score[as_a.to_numpy()], 1.0 - score[as_b.to_numpy()]]),
            "weight": np.concatenate([weight[as_a.to_numpy()], weight[as_b.to_numpy()]]),
        }
    )
    item_codes, items = pd.factorize(rows["item_id"], sort=True)
    model_codes, models = pd.factorize(rows["model"], sort=True)
    shape = (len(items), len(models))
    wins = np.zeros(shape)
    mass = np.zeros(shape)
    np.add.at(wins, (item_codes, model_codes), rows["won"].to_numpy() * rows["weight"].to_numpy())
    np.add.at(mass, (item_codes, model_codes), rows["weight"].to_numpy())
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = 100.0 * wins.sum(axis=0) / mass.sum(axis=0)
        draws = item_bootstrap_counts(len(items), n_rounds, seed).astype(float)
        boot = 100.0 * (draws @ wins) / (draws @ mass)
        tail = (1.0 - ci) / 2.0
        low, high = column_quantiles(boot, [tail, 1.0 - tail])
    table = pd.DataFrame(
        {
            "model": pd.Series([str(m) for m in models], dtype=object),
            "win_rate": rate,
            "ci_low": low,
            "ci_high": high,
            "n": np.bincount(model_codes, minlength=len(models)).astype(np.int64),
        }
    )[columns]
    table = table.sort_values(["win_rate", "model"], ascending=[False, True], kind="mergesort")
    return table.reset_index(drop=True)
