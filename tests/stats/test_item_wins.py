"""The win counts of a large leaderboard kept as the columns of the pairs that met (ItemWins):
a design against one baseline meets 2(m - 1) of its m² ordered pairs, so the whole items x m x m
tensor (408 MB at 5,000 items and 101 models) and the bootstrap's product over it are mostly
zeros. The columns must hold exactly the counts the whole tensor held, and the bootstrap must
give the rounds the whole tensor gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.stats.bradley_terry import COMPACT_CELLS, bootstrap_bradley_terry, item_win_tensor, item_wins


def baseline_battles(models: int, items: int, seed: int = 0) -> pd.DataFrame:
    """Every model against one baseline on every item, both orders, ties and weights mixed."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(items):
        for m in range(1, models):
            for a, b in ((f"m{m:03d}", "base"), ("base", f"m{m:03d}")):
                rows.append((f"item{k:05d}", a, b, float(rng.choice([0.0, 0.5, 1.0])), float(rng.choice([1.0, 3.0]))))
    return pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a", "weight"])


def whole_tensor(battles: pd.DataFrame, models: list[str]) -> np.ndarray:
    """The tensor as the harness counted it before ItemWins: one bincount over every cell."""
    m = len(models)
    codes, items = pd.factorize(battles["item_id"], sort=True)
    a = pd.Index(models).get_indexer(battles["model_a"])
    b = pd.Index(models).get_indexer(battles["model_b"])
    s, w = battles["score_a"].to_numpy(), battles["weight"].to_numpy()
    size = len(items) * m * m
    flat = np.bincount((codes * m + a) * m + b, weights=s * w, minlength=size)
    flat += np.bincount((codes * m + b) * m + a, weights=(1.0 - s) * w, minlength=size)
    return flat.reshape(len(items), m, m)


def test_the_columns_hold_exactly_the_whole_tensors_counts() -> None:
    battles = baseline_battles(models=12, items=40)
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    wins, items = item_wins(battles, models)
    whole = whole_tensor(battles, models)
    assert len(wins.cells) == 2 * (len(models) - 1)  # only the pairs that met
    assert np.array_equal(wins.dense(), whole)
    assert np.array_equal(item_win_tensor(battles, models)[0], whole)
    assert np.array_equal(wins.total(), whole.sum(axis=0))
    assert np.array_equal(wins.judged(), (whole.sum(axis=2) + whole.sum(axis=1)) > 0)
    assert items == sorted(set(battles["item_id"]))


def test_a_large_sparse_design_bootstraps_on_its_columns_to_the_whole_tensors_rounds() -> None:
    battles = baseline_battles(models=41, items=700, seed=1)
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    wins, _ = item_wins(battles, models)
    assert wins.wins.shape[0] * wins.m ** 2 >= COMPACT_CELLS and wins.compact  # the columns' path is taken
    whole = whole_tensor(battles, models)
    from_columns = bootstrap_bradley_terry(wins, n_rounds=200, seed=3)
    from_whole = bootstrap_bradley_terry(whole, n_rounds=200, seed=3)
    # BLAS may sum a narrower product in another order: the same rounds to rounding, nothing more
    np.testing.assert_allclose(from_columns, from_whole, rtol=0, atol=1e-9)
    assert np.ptp(from_whole, axis=0).min() > 0.01  # the rounds do vary: the comparison means something


def test_a_small_or_dense_design_keeps_the_whole_tensor() -> None:
    small, _ = item_wins(baseline_battles(models=5, items=30), [f"m{i:03d}" for i in range(1, 5)] + ["base"])
    assert not small.compact
    rows = [(f"i{k}", f"m{a}", f"m{b}", 1.0) for k in range(3000) for a in range(20) for b in range(a + 1, 20)
            if (k + a + b) % 7 == 0]
    round_robin = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    dense, _ = item_wins(round_robin, [f"m{i}" for i in range(20)])
    assert len(dense.cells) == 20 * 19 and not dense.compact  # every pair met: nothing to leave out


def test_rounds_fitted_in_blocks_are_the_rounds_fitted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """_bootstrap fits ROUND_BLOCK rounds at a time to bound its memory: the same rounds, to the
    bit on a baseline design, to rounding on one whose rounds leave pairs unmet."""
    import harness.stats.bradley_terry as bradley_terry

    battles = baseline_battles(models=9, items=60, seed=2)
    models = sorted(set(battles["model_a"]) | set(battles["model_b"]))
    rng = np.random.default_rng(4)
    sparse = np.zeros((80, 12, 12))  # one battle an item between two of 12 models: graphs fall apart
    for item in range(80):
        a, b = rng.choice(12, 2, replace=False)
        sparse[item, a, b] = 1.0
    for design, exact in ((whole_tensor(battles, models), True), (sparse, False)):
        monkeypatch.setattr(bradley_terry, "ROUND_BLOCK", 1000)
        at_once = bradley_terry.bootstrap_bradley_terry(design, n_rounds=300, seed=5)
        monkeypatch.setattr(bradley_terry, "ROUND_BLOCK", 7)
        in_blocks = bradley_terry.bootstrap_bradley_terry(design, n_rounds=300, seed=5)
        if exact:
            assert np.array_equal(in_blocks, at_once)
        else:
            np.testing.assert_allclose(in_blocks, at_once, rtol=0, atol=1e-9)
        assert np.ptp(at_once, axis=0).max() > 0.01  # rounds that differ: the comparison means something
