"""Plackett-Luce intervals cover planted strengths in a sparse listwise design (30 models, each
item judging a few random 4-tuples), with the prior the Bradley-Terry table uses: one virtual tie
per model shared among the models it met. One tie per pair that met pulled every rating toward
the mean and the item bootstrap, which holds the prior fixed, kept the intervals around it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.stats import bt_prior
from harness.stats import plackett_luce as pl

MODELS, ITEMS, TUPLES, K, WORLDS = 30, 30, 4, 4, 8


def coverage() -> float:
    """Share of models whose 95% interval holds its planted strength (centred like the fit)."""
    covered = []
    for world in range(WORLDS):
        rng = np.random.default_rng(100 + world)
        theta = rng.normal(0.0, 1.0, MODELS)
        rows = []
        for item in range(ITEMS):
            noise = rng.normal(0.0, 0.3, MODELS)
            for _ in range(TUPLES):
                members = rng.choice(MODELS, K, replace=False)
                order = members[np.argsort(-(theta[members] + noise[members] + rng.gumbel(size=K)))]
                rows.append({"item_id": f"i{item}", "ranking": [f"m{j:02d}" for j in order]})
        table = pl.plackett_luce_table(pd.DataFrame(rows), n_bootstrap=200, seed=world)
        truth = 1000 + pl.ELO * theta[table["model"].str[1:].astype(int).to_numpy()]
        truth = truth - truth.mean() + table["score"].mean()
        covered.append(((table["ci_low"] <= truth) & (truth <= table["ci_high"])).mean())
    return float(np.mean(covered))


def test_sparse_listwise_intervals_cover_the_planted_strengths() -> None:
    assert coverage() >= 0.9


def test_one_tie_per_pair_would_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pl, "shared_ties", bt_prior.virtual_ties)
    assert coverage() < 0.75
