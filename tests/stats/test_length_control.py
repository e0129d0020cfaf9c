"""Length-controlled win rate: planted truth in synthetic judgments, and the paper's stated properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from harness.stats.length_control import length_controlled_win_rates, length_features


def synthetic(models: dict[str, tuple[float, float, float, float]], n_items: int = 805, seed: int = 1, soft: bool = True):
    """Judgments drawn from the GLM itself: per model (theta, phi, psi, mean length difference);
    difficulty gamma ~ N(0, 1). `soft`: the judge's probability (AlpacaEval's weighted judge),
    else a hard verdict drawn from it. Returns the frame and each model's true LC win rate
    (the length term zero, the true gamma)."""
    rng = np.random.default_rng(seed)
    gamma = rng.normal(0.0, 1.0, n_items)
    rows, truth = [], {}
    for model, (theta, phi, psi, shift) in models.items():
        len_baseline = rng.integers(500, 2500, n_items)
        len_model = np.maximum(1, len_baseline + rng.normal(shift, 600, n_items)).astype(int)
        p = expit(theta + phi * length_features(len_model, len_baseline) + psi * gamma)
        target = p if soft else (rng.random(n_items) < p).astype(float)
        truth[model] = 100.0 * expit(theta + psi * gamma).mean()
        rows += [{"model": model, "item_id": f"q{i}", "p": float(target[i]), "len_model": int(len_model[i]),
                  "len_baseline": int(len_baseline[i])} for i in range(n_items)]
    return pd.DataFrame(rows), truth


LEADERBOARD = {  # theta, phi, psi, mean length difference in characters
    "verbose": (-0.5, 1.5, 1.0, 900.0), "terse": (0.4, 1.5, 1.0, -700.0), "plain": (0.0, 0.0, 1.0, 0.0),
    "strong": (1.5, 0.8, 0.6, 300.0), "weak": (-2.0, 1.0, 1.4, -300.0), "mid": (0.3, 0.5, 0.8, 100.0),
    "long_weak": (-1.2, 2.0, 1.2, 600.0), "short_strong": (1.0, 1.2, 0.9, -900.0),
}


def test_recovers_the_planted_length_controlled_win_rate() -> None:
    frame, truth = synthetic(LEADERBOARD)
    table = length_controlled_win_rates(frame, n_bootstrap=200).set_index("model")
    for model, expected in truth.items():
        assert table.loc[model, "lc_win_rate"] == pytest.approx(expected, abs=1.5), model
        assert table.loc[model, "lc_ci_low"] <= table.loc[model, "lc_win_rate"] <= table.loc[model, "lc_ci_high"]
    # the raw win rate is pushed by length; LC removes it: verbose looks better raw, terse worse
    assert table.loc["verbose", "win_rate"] > truth["verbose"] + 5
    assert table.loc["terse", "win_rate"] < truth["terse"] - 5
    assert table.loc["verbose", "phi"] == pytest.approx(1.5, abs=0.3)


def test_identity_a_model_judged_like_the_baseline_gets_fifty() -> None:
    """The paper's identity property: comparing the baseline with itself gives 50%."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(100, 3000, 400)
    frame = pd.DataFrame({"model": "same", "item_id": [f"q{i}" for i in range(400)], "p": 0.5,
                          "len_model": lengths, "len_baseline": lengths})
    table = length_controlled_win_rates(frame)
    assert table.loc[0, "lc_win_rate"] == pytest.approx(50.0, abs=1e-6)


def test_a_judge_that_only_counts_length_gives_fifty_after_control() -> None:
    """Preference driven by length alone (theta = psi = 0): raw win rate far from 50, LC near 50."""
    frame, truth = synthetic({"verbose": (0.0, 2.0, 0.0, 900.0)}, n_items=3000, seed=5, soft=False)
    table = length_controlled_win_rates(frame).set_index("model")
    assert truth["verbose"] == pytest.approx(50.0)
    assert table.loc["verbose", "win_rate"] > 70
    assert table.loc["verbose", "lc_win_rate"] == pytest.approx(50.0, abs=3.0)


def test_empty_frame_gives_an_empty_table() -> None:
    empty = pd.DataFrame(columns=["model", "item_id", "p", "len_model", "len_baseline"])
    assert length_controlled_win_rates(empty).empty
