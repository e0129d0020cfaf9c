"""Bradley-Terry fit, item bootstrap and leaderboard table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from scipy.stats import kendalltau

from harness.stats import (
    bootstrap_bradley_terry,
    bradley_terry_table,
    fit_bradley_terry,
    interval_ranks,
    item_win_tensor,
    win_rate_matrix,
)

COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]


def battles_frame(rows: list[tuple], weights: list[float] | None = None) -> pd.DataFrame:
    """Rows of (item_id, model_a, model_b, score_a) as the battles DataFrame."""
    frame = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"])
    if weights is not None:
        frame["weight"] = weights
    return frame


def simulated_battles(strengths: dict[str, float], n_items: int, seed: int) -> pd.DataFrame:
    """Every pair of models meets once per item, outcomes drawn from Bradley-Terry."""
    rng = np.random.default_rng(seed)
    names = sorted(strengths)
    rows = []
    for k in range(n_items):
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                p = 1.0 / (1.0 + math.exp(strengths[b] - strengths[a]))
                u = rng.random()
                score = 0.5 if abs(u - p) < 0.05 else float(u < p)
                rows.append((f"item{k:03d}", a, b, score))
    return battles_frame(rows)


# --------------------------------------------------------------------------------------------
# Maximum likelihood
# --------------------------------------------------------------------------------------------


def test_fit_matches_scipy_on_per_battle_likelihood():
    # One entry per battle: (winner, loser, outcome) with outcome 1 = win, 0.5 = tie.
    rng = np.random.default_rng(7)
    m = 5
    battles = []
    for i in range(m):
        for j in range(m):
            if i != j:
                battles += [(i, j, 1.0)] * int(rng.integers(5, 25))
        battles += [(i, (i + 1) % m, 0.5)] * 3

    def nll(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.concatenate([[0.0], free])
        value, grad = 0.0, np.zeros(m)
        for a, b, s in battles:
            p = 1.0 / (1.0 + math.exp(theta[b] - theta[a]))
            value -= s * math.log(p) + (1.0 - s) * math.log(1.0 - p)
            grad[a] -= s - p
            grad[b] += s - p
        return value, grad[1:]

    result = minimize(nll, np.zeros(m - 1), jac=True, method="BFGS", options={"gtol": 1e-11})
    expected = np.concatenate([[0.0], result.x])
    expected -= expected.mean()

    wins = np.zeros((m, m))
    for a, b, s in battles:
        wins[a, b] += s
        wins[b, a] += 1.0 - s
    fitted = fit_bradley_terry(wins)

    np.testing.assert_allclose(fitted, expected, atol=1e-6)
    assert abs(fitted.mean()) < 1e-12


def test_two_models_have_closed_form():
    # With two models the MLE is log(wins_a / wins_b), split around 0.
    fitted = fit_bradley_terry(np.array([[0.0, 6.0], [2.0, 0.0]]))
    np.testing.assert_allclose(fitted, [math.log(3) / 2, -math.log(3) / 2], atol=1e-6)


def test_recovers_planted_strengths():
    rng = np.random.default_rng(11)
    m, per_pair = 20, 200
    planted = rng.permutation(np.linspace(-2.0, 2.0, m))
    wins = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1, m):
            p = 1.0 / (1.0 + math.exp(planted[j] - planted[i]))
            wins[i, j] = rng.binomial(per_pair, p)
            wins[j, i] = per_pair - wins[i, j]
    fitted = fit_bradley_terry(wins)
    tau = kendalltau(planted, fitted).statistic
    assert tau >= 0.95
    assert np.sqrt(np.mean((fitted - (planted - planted.mean())) ** 2)) < 0.1


def test_fit_is_vectorised_over_a_stack():
    a = np.array([[0.0, 6.0], [2.0, 0.0]])
    b = np.array([[0.0, 1.0], [4.0, 0.0]])
    stacked = fit_bradley_terry(np.stack([a, b]))
    np.testing.assert_allclose(stacked, [fit_bradley_terry(a), fit_bradley_terry(b)], atol=1e-12)


def test_diagonal_is_ignored():
    wins = np.array([[5.0, 6.0], [2.0, 9.0]])
    np.testing.assert_allclose(
        fit_bradley_terry(wins), fit_bradley_terry(np.array([[0.0, 6.0], [2.0, 0.0]]))
    )


# --------------------------------------------------------------------------------------------
# Ties and weights
# --------------------------------------------------------------------------------------------


def test_only_ties_give_equal_strengths():
    battles = battles_frame([(f"i{k}", "a", "b", 0.5) for k in range(4)])
    tensor, _ = item_win_tensor(battles, ["a", "b"])
    np.testing.assert_array_equal(tensor.sum(axis=0), [[0.0, 2.0], [2.0, 0.0]])
    fitted = fit_bradley_terry(tensor.sum(axis=0))
    assert fitted[0] == pytest.approx(fitted[1], abs=1e-12)


def test_a_tie_counts_half_a_win_each():
    battles = battles_frame(
        [("i0", "a", "b", 1.0), ("i1", "b", "a", 0.0), ("i2", "a", "b", 1.0), ("i3", "a", "b", 0.5)]
    )
    tensor, _ = item_win_tensor(battles, ["a", "b"])
    wins = tensor.sum(axis=0)
    np.testing.assert_array_equal(wins, [[0.0, 3.5], [0.5, 0.0]])
    fitted = fit_bradley_terry(wins)
    np.testing.assert_array_equal(fitted, fit_bradley_terry(np.array([[0, 3.5], [0.5, 0]])))
    # Closed form log(3.5 / 0.5); the ridge shifts a 4-battle fit by ~2e-6.
    assert fitted[0] - fitted[1] == pytest.approx(math.log(7.0), abs=1e-5)


def test_weight_three_equals_three_rows():
    base = [
        ("i0", "a", "b", 1.0),
        ("i1", "b", "c", 0.5),
        ("i1", "c", "a", 0.0),
        ("i2", "b", "a", 1.0),
    ]
    weighted = battles_frame(base + [("i2", "c", "b", 1.0)], weights=[1, 1, 1, 1, 3])
    repeated = battles_frame(base + [("i2", "c", "b", 1.0)] * 3)
    models = ["a", "b", "c"]
    np.testing.assert_array_equal(
        item_win_tensor(weighted, models)[0], item_win_tensor(repeated, models)[0]
    )
    t_weighted = bradley_terry_table(weighted, n_bootstrap=200)
    t_repeated = bradley_terry_table(repeated, n_bootstrap=200)
    cols = ["model", "rank", "score", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(t_weighted[cols], t_repeated[cols])
    # n counts rows, not weight.
    assert dict(zip(t_weighted.model, t_weighted.n)) == {"a": 3, "b": 4, "c": 3}
    assert dict(zip(t_repeated.model, t_repeated.n)) == {"a": 3, "b": 6, "c": 5}


def test_item_win_tensor_layout():
    battles = battles_frame([("q2", "a", "b", 1.0), ("q1", "c", "a", 0.25), ("q2", "b", "c", 0.0)])
    tensor, items = item_win_tensor(battles, ["a", "b", "c"])
    assert items == ["q1", "q2"]
    expected = np.zeros((2, 3, 3))
    expected[0, 2, 0], expected[0, 0, 2] = 0.25, 0.75
    expected[1, 0, 1] = 1.0
    expected[1, 2, 1] = 1.0
    np.testing.assert_array_equal(tensor, expected)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="not in `models`"):
        item_win_tensor(battles_frame([("i", "a", "z", 1.0)]), ["a", "b"])
    with pytest.raises(ValueError, match="score_a"):
        item_win_tensor(battles_frame([("i", "a", "b", 2.0)]), ["a", "b"])
    with pytest.raises(ValueError, match="itself"):
        item_win_tensor(battles_frame([("i", "a", "a", 1.0)]), ["a"])
    with pytest.raises(ValueError, match="missing values"):
        item_win_tensor(battles_frame([(None, "a", "b", 1.0)]), ["a", "b"])
    with pytest.raises(ValueError, match="weight"):
        item_win_tensor(battles_frame([("i", "a", "b", 1.0)], weights=[-1.0]), ["a", "b"])


# --------------------------------------------------------------------------------------------
# Degenerate data
# --------------------------------------------------------------------------------------------


def test_undefeated_model_ranks_first_with_finite_numbers():
    rows = []
    for k in range(30):
        rows += [(f"i{k}", "champ", "x", 1.0), (f"i{k}", "y", "champ", 0.0)]
        rows += [(f"i{k}", "x", "y", float(k % 3 != 0))]
    table = bradley_terry_table(battles_frame(rows), n_bootstrap=200)
    assert table.model.iloc[0] == "champ"
    assert table["rank"].iloc[0] == 1
    assert (table["rank"].iloc[1:] == 2).all()
    assert np.isfinite(table[["score", "ci_low", "ci_high"]].to_numpy()).all()


def test_model_that_lost_everything_and_model_without_battles():
    wins = np.array([[0.0, 3.0, 4.0, 0.0], [2.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0] * 4])
    fitted = fit_bradley_terry(wins)
    assert np.isfinite(fitted).all()
    assert fitted[2] < -5.0  # lost everything: far below the rest, yet finite
    assert fitted[3] == pytest.approx(fitted.mean(), abs=1e-9)  # no data: at the centre


def test_disconnected_graph():
    wins = np.zeros((4, 4))
    wins[0, 1], wins[1, 0] = 6.0, 2.0
    wins[2, 3], wins[3, 2] = 1.0, 4.0
    fitted = fit_bradley_terry(wins)
    assert np.isfinite(fitted).all()
    # Within a component the gap is that component's own MLE; the ridge centres each component.
    assert fitted[0] - fitted[1] == pytest.approx(math.log(3.0), abs=1e-6)
    assert fitted[2] - fitted[3] == pytest.approx(math.log(0.25), abs=1e-6)
    assert fitted[0] + fitted[1] == pytest.approx(0.0, abs=1e-9)

    rows = [(f"i{k}", "a", "b", float(k % 4 != 0)) for k in range(8)]
    rows += [(f"j{k}", "c", "d", float(k % 2)) for k in range(8)]
    table = bradley_terry_table(battles_frame(rows), n_bootstrap=100)
    assert len(table) == 4
    assert np.isfinite(table[["score", "ci_low", "ci_high"]].to_numpy()).all()


# --------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------


def test_single_item_bootstrap_always_equals_point_estimate():
    rows = [("only", "a", "b", 1.0)] * 5 + [("only", "b", "c", 0.5), ("only", "c", "a", 1.0)]
    tensor, _ = item_win_tensor(battles_frame(rows), ["a", "b", "c"])
    point = fit_bradley_terry(tensor.sum(axis=0))
    boot = bootstrap_bradley_terry(tensor, n_rounds=50, seed=3)
    assert boot.shape == (50, 3)
    np.testing.assert_allclose(boot, np.broadcast_to(point, boot.shape), atol=1e-12)


def test_bootstrap_keeps_each_items_battles_together():
    # Item p: a wins 20 of 25; item q: b wins 20 of 25. Resampling 2 items gives only the
    # multisets {p,p}, {p,q}, {q,q}; resampling battles would give many more outcomes.
    rows = [("p", "a", "b", float(k < 20)) for k in range(25)]
    rows += [("q", "a", "b", float(k >= 20)) for k in range(25)]
    tensor, items = item_win_tensor(battles_frame(rows), ["a", "b"])
    assert items == ["p", "q"]
    candidates = fit_bradley_terry(np.stack([2 * tensor[0], tensor[0] + tensor[1], 2 * tensor[1]]))
    boot = bootstrap_bradley_terry(tensor, n_rounds=400, seed=0)
    distance = np.abs(boot[:, None, :] - candidates[None, :, :]).max(axis=2)
    assert (distance.min(axis=1) < 1e-9).all()
    share = np.bincount(distance.argmin(axis=1), minlength=3) / len(boot)
    np.testing.assert_allclose(share, [0.25, 0.5, 0.25], atol=0.07)


def test_bootstrap_is_seeded():
    battles = simulated_battles({"a": 0.5, "b": 0.0, "c": -0.3}, 30, 1)
    tensor, _ = item_win_tensor(battles, ["a", "b", "c"])
    first = bootstrap_bradley_terry(tensor, n_rounds=100, seed=5)
    np.testing.assert_array_equal(first, bootstrap_bradley_terry(tensor, n_rounds=100, seed=5))
    assert not np.array_equal(first, bootstrap_bradley_terry(tensor, n_rounds=100, seed=6))


# --------------------------------------------------------------------------------------------
# Leaderboard table
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arena() -> pd.DataFrame:
    return simulated_battles({"m1": 1.0, "m2": 0.6, "m3": 0.5, "m4": 0.0, "m5": -1.0}, 60, 2)


def test_table_shape_order_and_intervals(arena):
    table = bradley_terry_table(arena, n_bootstrap=300)
    assert list(table.columns) == COLUMNS
    assert table.model.tolist() == ["m1", "m2", "m3", "m4", "m5"]
    assert table.score.is_monotonic_decreasing
    assert (table.ci_low <= table.score).all() and (table.score <= table.ci_high).all()
    assert (table.ci_low < table.ci_high).all()
    assert (table.n == 4 * 60).all()
    assert table.score.mean() == pytest.approx(1000.0)
    assert table["rank"].dtype == np.int64 and table["n"].dtype == np.int64


def test_table_is_deterministic_and_seeded(arena):
    first = bradley_terry_table(arena, n_bootstrap=200, seed=1)
    again = bradley_terry_table(arena, n_bootstrap=200, seed=1)
    assert first.to_csv().encode() == again.to_csv().encode()
    # Row order of the input does not matter either.
    shuffled = arena.sample(frac=1.0, random_state=0)
    assert first.to_csv() == bradley_terry_table(shuffled, n_bootstrap=200, seed=1).to_csv()
    other = bradley_terry_table(arena, n_bootstrap=200, seed=2)
    pd.testing.assert_series_equal(first.score, other.score)
    assert not np.array_equal(first.ci_low.to_numpy(), other.ci_low.to_numpy())


def test_elo_scale():
    # a scores 35 of 40 (30 wins, 10 ties): odds 7 to 1.
    rows = [(f"i{k}", "a", "b", 1.0) for k in range(15)]
    rows += [(f"j{k}", "b", "a", 0.0) for k in range(15)]
    rows += [(f"t{k}", "a", "b", 0.5) for k in range(10)]
    table = bradley_terry_table(battles_frame(rows), n_bootstrap=20, prior_ties=0.0).set_index("model")
    gap = 400.0 * math.log10(7.0)
    assert table.score["a"] == pytest.approx(1000.0 + gap / 2, abs=1e-3)
    assert table.score["b"] == pytest.approx(1000.0 - gap / 2, abs=1e-3)
    other = bradley_terry_table(
        battles_frame(rows), n_bootstrap=20, scale=1.0, base=math.e, offset=0.0, prior_ties=0.0
    ).set_index("model")
    assert other.score["a"] - other.score["b"] == pytest.approx(math.log(7.0), abs=1e-6)
    # The default prior, one virtual tie between the two: odds (35 + 1/2) to (5 + 1/2).
    prior = bradley_terry_table(battles_frame(rows), n_bootstrap=20, scale=1.0, base=math.e, offset=0.0)
    prior = prior.set_index("model")
    assert prior.score["a"] - prior.score["b"] == pytest.approx(math.log(35.5 / 5.5), abs=1e-6)


def test_anchor_is_pinned(arena):
    plain = bradley_terry_table(arena, n_bootstrap=200).set_index("model")
    anchored = bradley_terry_table(arena, n_bootstrap=200, anchor="m4").set_index("model")
    assert anchored.score["m4"] == 1000.0
    # The anchor's rating is a definition, not an estimate: no [1000, 1000] interval, a reason.
    assert np.isnan(anchored.ci_low["m4"]) and np.isnan(anchored.ci_high["m4"])
    assert "anchor" in anchored.ci_note["m4"] and (anchored.ci_note.drop("m4") == "").all()
    assert (anchored.drop("m4").ci_high > anchored.drop("m4").ci_low).all()
    gaps = plain.score - plain.score["m4"]
    np.testing.assert_allclose((anchored.score - 1000.0)[gaps.index], gaps, atol=1e-6)
    with pytest.raises(ValueError, match="anchor"):
        bradley_terry_table(arena, anchor="nobody")


def test_rank_rule_on_constructed_intervals():
    #                 E      A     B    C      D      F
    low = np.array([21.0, 10.0, 5.0, 0.0, -10.0, -20.0])
    high = np.array([30.0, 20.0, 15.0, 4.0, 3.0, 0.0])
    # E: nobody above. A: only E. B: only E (A's low 10 is not above 15). C: E, A, B.
    # D: E, A, B; C's low 0 is not above D's high 3, so C and D share rank 4.
    # F: E, A, B; C's low 0 merely touches F's high 0, which is not clearly above.
    np.testing.assert_array_equal(interval_ranks(low, high), [1, 2, 2, 4, 4, 4])


def test_points_equal_to_rounding_share_a_rank() -> None:
    """Zero-width intervals at one value, as bootstrap refits give it (the last bits differ),
    rank together; a real gap still ranks apart."""
    point = 888.605845
    low = np.array([1334.18, point, point * (1 + 3e-16), point * (1 - 2e-16), 500.0])
    high = np.array([1334.18, point * (1 + 1e-16), point * (1 + 4e-16), point, 500.0])
    np.testing.assert_array_equal(interval_ranks(low, high), [1, 2, 2, 2, 5])


def test_table_ranks_follow_the_rule(arena):
    table = bradley_terry_table(arena, n_bootstrap=200)
    expected = [1 + int((table.ci_low > high).sum()) for high in table.ci_high]
    assert table["rank"].tolist() == expected
    assert table["rank"].iloc[0] == 1
    assert table["rank"].nunique() < len(table)  # m2 and m3 are too close to separate


def test_empty_battles():
    table = bradley_terry_table(battles_frame([]))
    assert list(table.columns) == COLUMNS
    assert table.empty


def test_win_rate_matrix():
    rows = [("i0", "a", "b", 1.0), ("i1", "a", "b", 0.5), ("i2", "b", "c", 0.0)]
    rates = win_rate_matrix(battles_frame(rows, weights=[1.0, 2.0, 1.0]))
    assert list(rates.index) == ["a", "b", "c"] and list(rates.columns) == ["a", "b", "c"]
    assert rates.loc["a", "b"] == pytest.approx(2.0 / 3.0)
    assert rates.loc["b", "a"] == pytest.approx(1.0 / 3.0)
    assert rates.loc["c", "b"] == 1.0
    assert np.isnan(rates.loc["a", "c"]) and np.isnan(rates.loc["a", "a"])
