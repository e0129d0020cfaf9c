"""The preference scale's per-verdict values (harness.stats.preference) over many distributions
at once, to the last bit what the one-by-one functions give.

A run of a million soft verdicts called `expected_share_a`, `expected_reward_a` and
`battle_mass` once per verdict: seconds of interpreter time. Here the distributions are grouped
by their levels in order (a judge's distributions mostly share one key order), and each group is
computed as numpy columns with the same operations in the same order as the Python functions
(the sums start from 0 and add the levels as the dict lists them), so every float is identical.
A group the array path cannot reproduce exactly (a value that is not a float, a level outside
the scale) is computed by the functions themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np

from harness.stats.preference import REWARD_A, SHARE_A, STRONG, battle_mass, expected_reward_a, expected_share_a


@dataclass(frozen=True)
class DistributionValues:
    """Per distribution: `share_a` (expected_share_a), `reward_a` (expected_reward_a, unnormalised),
    `bt_score_a` and `bt_weight` (battle_mass), `total` (the sum of its weights)."""

    share_a: np.ndarray
    reward_a: np.ndarray
    bt_score_a: np.ndarray
    bt_weight: np.ndarray
    total: np.ndarray


#: Distributions computed together: the groups' indices, weights and columns of temporaries are
#: this many rows at most (a million at once held 160 bytes a verdict more at the peak).
CHUNK = 1 << 16


def distribution_values(dists: Sequence[dict[str, float]], strong_weight: float) -> DistributionValues:
    """The values of every distribution in `dists` (each a dict level -> weight). Every row's
    values depend on its distribution alone, so they are computed CHUNK rows at a time."""
    n = len(dists)
    out = DistributionValues(*(np.empty(n, dtype=float) for _ in range(5)))
    for begin in range(0, n, CHUNK):
        _fill_rows(out, dists, range(begin, min(begin + CHUNK, n)), strong_weight)
    return out


def _fill_rows(out: DistributionValues, dists: Sequence[dict[str, float]], indices: range, strong_weight: float) -> None:
    """The values of dists[i] for i in `indices`, into out[i]."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index in indices:
        groups.setdefault(tuple(dists[index]), []).append(index)
    for levels, rows in groups.items():
        weights = list(chain.from_iterable(map(dict.values, [dists[i] for i in rows])))
        if all(level in REWARD_A for level in levels) and set(map(type, weights)) <= {float}:
            _fill_group(out, np.asarray(rows), levels, np.array(weights, dtype=float).reshape(len(rows), len(levels)),
                        strong_weight)
        else:
            for i in rows:
                _fill_one(out, i, dists[i], strong_weight)


def _fill_group(out: DistributionValues, rows: np.ndarray, levels: tuple[str, ...], p: np.ndarray,
                strong_weight: float) -> None:
    """One key order's distributions as columns, each operation as the scalar functions do it."""
    n = len(rows)
    reward = np.zeros(n)  # sum(...) starts from the integer 0: 0 + x is x
    shared = np.zeros(n)
    total = np.zeros(n)
    wins = np.zeros(n)
    losses = np.zeros(n)
    for column, level in enumerate(levels):
        weight = p[:, column]
        reward = reward + weight * float(REWARD_A[level])
        shared = shared + weight * SHARE_A[level]
        total = total + weight
        w = weight * (strong_weight if level in STRONG else 1.0)
        wins = wins + w * SHARE_A[level]
        losses = losses + w * (1.0 - SHARE_A[level])
    mass = wins + losses
    with np.errstate(divide="ignore", invalid="ignore"):
        out.share_a[rows] = shared / np.where(total == 0, 1.0, total)
        out.bt_score_a[rows] = np.where(mass > 0, wins / np.where(mass > 0, mass, 1.0), 0.5)
    out.reward_a[rows] = reward
    out.bt_weight[rows] = mass
    out.total[rows] = total


def _fill_one(out: DistributionValues, i: int, dist: dict[str, float], strong_weight: float) -> None:
    out.share_a[i] = expected_share_a(dist)
    out.reward_a[i] = expected_reward_a(dist)
    out.bt_score_a[i], out.bt_weight[i] = battle_mass(dist, strong_weight)
    out.total[i] = sum(dist.values())
