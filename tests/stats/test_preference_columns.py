"""distribution_values computes the preference scale's values for many distributions as numpy
columns; every float must be the one the scalar functions give verdict by verdict."""

from __future__ import annotations

import random

import numpy as np
import pytest

import harness.stats.preference_columns as preference_columns
from harness.stats.preference import LEVELS, battle_mass, expected_reward_a, expected_share_a
from harness.stats.preference_columns import distribution_values


def planted(n: int, seed: int) -> list[dict[str, float]]:
    """Distributions in several key orders and sizes, some unnormalised, zero or integer-valued."""
    rng = random.Random(seed)
    out: list[dict[str, float]] = []
    for _ in range(n):
        levels = rng.sample(LEVELS, rng.randint(1, 5))
        kind = rng.random()
        if kind < 0.05:
            out.append(dict.fromkeys(levels, 0.0))
        elif kind < 0.1:
            out.append({level: rng.randint(0, 3) for level in levels})  # integers: the scalar path
        else:
            out.append({level: rng.random() * rng.choice([1.0, 1e-9, 7.5]) for level in levels})
    return out


@pytest.mark.parametrize(("strong_weight", "chunk"), [(1.0, 1 << 16), (3.0, 1 << 16), (3.0, 7)])
def test_every_value_is_the_scalar_functions_bit_for_bit(
    strong_weight: float, chunk: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preference_columns, "CHUNK", chunk)  # 7: rows computed across 429 chunks
    dists = planted(3000, seed=int(strong_weight))
    values = distribution_values(dists, strong_weight)
    expected = np.array([(expected_share_a(d), expected_reward_a(d), *battle_mass(d, strong_weight), sum(d.values()))
                         for d in dists], dtype=float)
    got = np.column_stack([values.share_a, values.reward_a, values.bt_score_a, values.bt_weight, values.total])
    assert np.array_equal(got.view(np.int64), expected.view(np.int64))  # the same bits, signed zeros included


def test_an_unknown_level_fails_as_the_scalar_function_does() -> None:
    with pytest.raises(KeyError):
        expected_reward_a({"A>>B": 0.5, "C": 0.5})
    with pytest.raises(KeyError):
        distribution_values([{"A>>B": 0.5, "C": 0.5}], 1.0)
