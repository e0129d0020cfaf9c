"""Why significance needs `MIN_ITEMS` (20) items: how often the bootstrap test calls two equal
models different, against the number of items, at a nominal 5% (one pair, no correction).

Two worlds with nothing to find: per-item scores of two models drawn from the same normal
(`paired_score_significance`), and pairwise verdicts of two equal models in both orders
(`pairwise_significance`). A calibrated test rejects 5% of the time; the shift bootstrap cannot
show more variety than the items have, so with few items it rejects far more often.

    python bench/significance_min_items.py [--reps 1000] [--rounds 400]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from harness.stats.significance import paired_score_significance, pairwise_significance

SIZES = (3, 5, 10, 15, 20, 30)


def false_positive_rates(n_items: int, reps: int, rounds: int, rng: np.random.Generator) -> tuple[float, float]:
    """(per-item scores, pairwise verdicts): the share of null worlds with p < 0.05."""
    items = [f"q{k}" for k in range(n_items)]
    scored = verdicts = 0
    for rep in range(reps):
        values = rng.normal(size=2 * n_items)
        scores = pd.DataFrame({"item_id": items * 2, "model": ["a"] * n_items + ["b"] * n_items, "score": values})
        kw = {"n_rounds": rounds, "seed": rep, "correction": "none", "min_items": 0}
        scored += paired_score_significance(scores, **kw)["p_value"].iloc[0] < 0.05
        first_wins = (rng.random(2 * n_items) < 0.5).astype(float)
        battles = pd.DataFrame({"item_id": np.repeat(items, 2), "model_a": ["a", "b"] * n_items,
                                "model_b": ["b", "a"] * n_items, "score_a": first_wins})
        verdicts += pairwise_significance(battles, **kw)["p_value"].iloc[0] < 0.05
    return scored / reps, verdicts / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="null worlds per size (default 1000)")
    parser.add_argument("--rounds", type=int, default=400, help="bootstrap rounds per test (default 400)")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    print("items  per-item scores  pairwise verdicts   (share of p < 0.05 when nothing differs; 0.05 is calibrated)")
    for n in SIZES:
        scored, verdicts = false_positive_rates(n, args.reps, args.rounds, rng)
        print(f"{n:5d}  {scored:15.3f}  {verdicts:17.3f}", flush=True)


if __name__ == "__main__":
    main()
