"""The statistics behind adaptive sampling: Fisher covariance, closeness weights, greedy batches,
and the stopping rule's look at neighbours."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from harness.stats.active_ranking import (
    adjacent_settled,
    closeness_weights,
    fisher_covariance,
    flip_probabilities,
    greedy_batch,
    laplacian,
)


def test_fisher_variance_of_two_models_is_one_over_n_p_q():
    theta = np.array([0.4, -0.4])
    n = 50.0
    cov = fisher_covariance(np.array([[0.0, n], [n, 0.0]]), theta, prior=1e-9)
    p = 1.0 / (1.0 + np.exp(-0.8))
    contrast = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    assert contrast == pytest.approx(1.0 / (n * p * (1 - p)), rel=1e-4)


def test_closeness_weights_favour_close_uncertain_pairs():
    theta = np.array([0.0, 0.05, 2.0])
    cov = np.eye(3) * 0.05
    w = closeness_weights(theta, cov)
    assert np.allclose(w, w.T) and np.all(np.diag(w) == 0)
    assert w[0, 1] > 10 * w[0, 2]
    flips = flip_probabilities(theta, cov)
    assert flips[0, 1] > 0.4 and flips[0, 2] < 1e-6
    floored = closeness_weights(theta, cov, floor=0.1)
    assert floored[0, 2] > w[0, 2] and floored[0, 1] == pytest.approx(w[0, 1] + 0.1)


def _objective(cov0, weights, first, second, information, picks):
    """Closeness-weighted contrast variance after `picks`, from the explicit inverse."""
    info = np.linalg.inv(cov0)
    for k in picks:
        z = np.zeros(len(cov0))
        z[first[k]], z[second[k]] = 1.0, -1.0
        info += information[k] * np.outer(z, z)
    return float(np.trace(laplacian(weights) @ np.linalg.inv(info)))


def test_greedy_batch_beats_an_even_spread_and_respects_capacity():
    rng = np.random.default_rng(3)
    m = 6
    theta = np.array([1.5, 0.3, 0.25, 0.2, -1.0, -2.0])
    pairs = list(combinations(range(m), 2))
    first = np.array([a for a, _ in pairs])
    second = np.array([b for _, b in pairs])
    games = rng.integers(2, 6, size=(m, m)).astype(float)
    games = np.triu(games, 1) + np.triu(games, 1).T
    cov = fisher_covariance(games, theta, prior=1.0)
    weights = closeness_weights(theta, cov)
    p = 1.0 / (1.0 + np.exp(-(theta[first] - theta[second])))
    information = 2.0 * p * (1 - p)
    capacity = np.full(len(pairs), 8)
    picks = greedy_batch(cov, weights, first, second, information, capacity, 30)
    assert len(picks) == 30 and max(np.bincount(picks)) <= 8
    even = list(range(len(pairs))) * 2
    assert _objective(cov, weights, first, second, information, picks) < \
        _objective(cov, weights, first, second, information, even)
    # The three close middle models get most of the batch.
    middle = {pairs.index(pair) for pair in [(1, 2), (1, 3), (2, 3)]}
    assert sum(k in middle for k in picks) >= 15
    # Capacity runs out before the count: every open comparison is taken once, no more.
    small = greedy_batch(cov, weights, first, second, information, np.ones(len(pairs), dtype=int), 100)
    assert sorted(small) == list(range(len(pairs)))


def test_adjacent_settled_needs_every_neighbour_ordered_or_tied_within_the_margin():
    rng = np.random.default_rng(0)
    theta = np.array([300.0, 0.0, 2.0])
    boot = theta + rng.normal(0.0, 5.0, size=(400, 3))
    settled, facts = adjacent_settled(theta, boot, confidence=0.95, margin=0.0)
    assert not settled and [f["upper"] for f in facts] == [0, 2]
    assert facts[0]["same_order"] == 1.0 and facts[1]["same_order"] < 0.95
    settled, _ = adjacent_settled(theta, boot, confidence=0.95, margin=25.0)
    assert settled


def test_greedy_batch_low_rank_updates_pick_as_a_full_recomputation_would():
    rng = np.random.default_rng(8)
    m = 7
    pairs = list(combinations(range(m), 2))
    first = np.array([a for a, _ in pairs])
    second = np.array([b for _, b in pairs])
    theta = rng.normal(0.0, 0.7, m)
    cov = fisher_covariance(np.full((m, m), 3.0) - 3.0 * np.eye(m), theta, prior=1.0)
    weights = closeness_weights(theta, cov, floor=0.1)
    information = rng.uniform(0.2, 0.5, len(pairs))
    picks = greedy_batch(cov, weights, first, second, information, np.full(len(pairs), 3), 25)
    naive, info, left = [], np.linalg.inv(cov), np.full(len(pairs), 3)
    for _ in range(25):
        gains = []
        for k in range(len(pairs)):
            z = np.zeros(m)
            z[first[k]], z[second[k]] = 1.0, -1.0
            after = np.linalg.inv(info + information[k] * np.outer(z, z))
            before = np.linalg.inv(info)
            gains.append(np.trace(laplacian(weights) @ (before - after)) if left[k] else -np.inf)
        k = int(np.argmax(gains))
        naive.append(k)
        left[k] -= 1
        z = np.zeros(m)
        z[first[k]], z[second[k]] = 1.0, -1.0
        info = info + information[k] * np.outer(z, z)
    assert picks == naive


def test_drawn_batches_repeat_for_a_seed_respect_capacity_and_never_draw_a_useless_pair():
    # Only the order of models 0 and 1 is in doubt: comparing 2 with 3 can teach nothing about it.
    pairs = list(combinations(range(4), 2))
    first = np.array([a for a, _ in pairs])
    second = np.array([b for _, b in pairs])
    weights = np.zeros((4, 4))
    weights[0, 1] = weights[1, 0] = 1.0
    capacity = np.array([5, 50, 50, 50, 50, 50])
    args = (np.eye(4), weights, first, second, np.full(len(pairs), 0.5), capacity, 120)
    drawn = greedy_batch(*args, draw=np.random.default_rng(7))
    assert drawn == greedy_batch(*args, draw=np.random.default_rng(7))
    assert drawn != greedy_batch(*args, draw=np.random.default_rng(8))
    counts = np.bincount(drawn, minlength=len(pairs))
    assert len(drawn) == 120 and np.all(counts <= capacity)
    assert counts[pairs.index((2, 3))] == 0
    assert counts[pairs.index((0, 1))] == 5  # the direct comparison is worth most: used up
