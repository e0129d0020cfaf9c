"""The audit's statistics, checked by simulation without HTTP: a fair judge's probes are flagged at
most at the nominal rate (Holm across probes), and planted effects fall inside their intervals at
about the nominal coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.audit.effects import ALPHA, adjust, bootstrap_interval, estimate, holm, sign_flip_p

PAIRWISE = (-0.5, 0.5)
PROBES = ("position", "verbosity", "markdown", "authority", "injection")
SEEDS = 150


def fair_item_values(rng: np.random.Generator, n: int, effect: float = 0.0) -> list[float]:
    """One item's share of verdicts preferring the perturbed text minus 1/2, for a judge that
    prefers it with probability 1/2 + effect in each of the two orders (never a tie)."""
    wins = rng.random((n, 2)) < 0.5 + effect
    return list(wins.mean(axis=1) - 0.5)


def binomial_upper(p: float, trials: int, z: float = 3.0) -> float:
    """A generous upper bound for an observed rate whose true value is at most p."""
    return p + z * math.sqrt(p * (1 - p) / trials)


def test_a_fair_judge_flags_some_probe_at_most_at_the_nominal_rate() -> None:
    """Family-wise: without Holm's adjustment five probes would flag a fair judge two to three
    times as often (this bound then fails)."""
    rng = np.random.default_rng(2024)
    any_flagged = 0
    seeds = 300
    for seed in range(seeds):
        effects = adjust({name: estimate(fair_item_values(rng, 30), seed, bounds=PAIRWISE) for name in PROBES})
        any_flagged += any(e.significant for e in effects.values())
    assert any_flagged / seeds <= binomial_upper(ALPHA, seeds, z=2.0)


def test_each_unadjusted_test_holds_its_level() -> None:
    rng = np.random.default_rng(7)
    rejections = sum(estimate(fair_item_values(rng, 20), seed, bounds=PAIRWISE).p_raw < ALPHA for seed in range(SEEDS))
    assert rejections / SEEDS <= binomial_upper(ALPHA, SEEDS)


@pytest.mark.parametrize("planted", [0.1, 0.25])
def test_planted_effects_fall_inside_their_intervals(planted: float) -> None:
    rng = np.random.default_rng(11)
    covered = 0
    for seed in range(SEEDS):
        e = estimate(fair_item_values(rng, 40, planted), seed, bounds=PAIRWISE)
        covered += e.ci_low <= planted <= e.ci_high
    assert covered / SEEDS >= 0.95 - 3 * math.sqrt(0.05 * 0.95 / SEEDS)


def test_a_large_planted_effect_is_detected() -> None:
    rng = np.random.default_rng(3)
    detected = sum(adjust({"p": estimate(fair_item_values(rng, 30, 0.3), seed, bounds=PAIRWISE)})["p"].significant
                   for seed in range(50))
    assert detected >= 45


def test_holm_steps_down_and_stays_monotone() -> None:
    # By hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06.
    adjusted = holm({"a": 0.04, "b": 0.01, "c": 0.03, "untested": None})
    assert adjusted == pytest.approx({"a": 0.06, "b": 0.03, "c": 0.06, "untested": None})


def test_an_interval_is_never_zero_wide() -> None:
    """All items alike (a judge that always ties) leaves the bootstrap nothing to resample; the
    interval is then what 3/n of the items could still change."""
    low, high = bootstrap_interval(np.zeros(30), np.random.default_rng(0), bounds=PAIRWISE)
    assert low < 0 < high and high - low == pytest.approx(2 * 3 / 30)
    # a judge that always prefers A: the interval stays within what an effect can be
    low, high = bootstrap_interval(np.full(12, 0.5), np.random.default_rng(0), bounds=PAIRWISE)
    assert (low, high) == pytest.approx((0.5 - 3 / 12, 0.5))


def test_the_sign_flip_test_is_exact_for_few_items() -> None:
    # 5 items all +0.5: only the all-plus and all-minus patterns reach the observed |sum|: p = 2/32.
    assert sign_flip_p(np.full(5, 0.5), np.random.default_rng(0)) == pytest.approx(2 / 32)


def test_no_items_means_no_effect_and_no_claim() -> None:
    e = adjust({"p": estimate([], 0, bounds=PAIRWISE)})["p"]
    assert e.effect is None and e.n == 0 and not e.significant and e.p_value is None
