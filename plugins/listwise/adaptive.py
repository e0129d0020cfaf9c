"""`tuples: adaptive` (K-Sort Arena's idea): a Gaussian-skill posterior and an upper-confidence
matchmaker choose the next K-tuples, in rounds, from the orders judged so far.

Before each round the skills' posterior is approximated by a Gaussian: the Plackett-Luce mode
under a N(0, 1) prior on every log-strength, and the inverse curvature there (Laplace). Each tuple
of the round is then built around an anchor model drawn with probability proportional to its
posterior variance (the under-sampled first), filled with the K - 1 partners drawn with weight
sd_j * exp(-(mu_j - mu_anchor)^2 / (2 (var_j + var_anchor + 1/4))): close to the anchor (the
order is still in doubt) and uncertain (an upper-confidence bonus). The draws are random, not the
best-looking choice, for the reason docs/adaptive.md measured: always taking the best-looking
tuple compares lucky models with lucky models and pushes the estimates further apart than the item
bootstrap sees. After each pick the chosen models' variances shrink as if the tuple were judged, so
a round spreads over the models. Items are taken in a seeded order, round robin, skipping items
a tuple's models did not all answer and items that already had that tuple.

Everything is a function of the seed and of the stored orders, so a resumed run chooses the same
rounds again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.models import Verdict
from harness.stats.plackett_luce import gaussian_posterior
from harness_plugins.listwise.tuples import Cell, base_order, full_design_cells, tuple_size

#: Precision of the N(0, 1/PRIOR) prior on log-strengths used for choosing (not for the ratings).
PRIOR = 1.0
#: A round is at least the base size and at least this share of the tuples judged so far.
GROWTH = 0.1
#: Information (nats^-2) one judged order is taken to add to each of its models when a round is
#: chosen before its verdicts exist.
PICK_INFORMATION = 0.3
#: Closeness never weighs a partner below this (every model keeps some chance to meet any other).
FLOOR = 0.05


class AdaptiveTuples:
    """The tuples of one run under `tuples: adaptive`."""

    def __init__(self, answered: Sequence[Sequence[str]], k: int, *, seed: int, target: int, rotations: int,
                 concurrency: int | None = None, batch_calls: int | None = None):
        self.answered = [set(a) for a in answered]
        self.models = sorted({m for a in answered for m in a})
        self.index = {m: i for i, m in enumerate(self.models)}
        self.k = min(k, len(self.models))
        self.seed = seed
        self.target = target
        self.rotations = rotations
        self.full = full_design_cells(answered, k)
        calls = batch_calls or max(64, 2 * (concurrency or 0))
        self.base = max(1, calls // max(1, rotations))
        self.item_order = [int(i) for i in np.random.default_rng([seed, 13]).permutation(len(answered))]
        self.cursor = 0
        self.used: set[tuple[int, frozenset[str]]] = set()
        self.rounds: list[int] = []
        self.stopped_by: str | None = None

    @property
    def chosen(self) -> int:
        return int(sum(self.rounds))

    def first_round(self) -> list[Cell]:
        return self._round(np.zeros(len(self.models)), np.full(len(self.models), 1.0 / PRIOR))

    def next_round(self, verdicts: Sequence[Verdict]) -> list[Cell]:
        if self.stopped_by is not None:
            return []
        rows = [[self.index[m] for m in v.data["ranking"]] for v in verdicts if v.status == "ok"]
        width = max((len(r) for r in rows), default=2)
        rankings = np.full((len(rows), width), -1, dtype=np.int64)
        for j, r in enumerate(rows):
            rankings[j, : len(r)] = r
        mu, cov = gaussian_posterior(rankings, len(self.models), precision=PRIOR)
        return self._round(mu, np.clip(np.diag(cov), 1e-9, None))

    def _round(self, mu: np.ndarray, var: np.ndarray) -> list[Cell]:
        remaining = min(self.target, self.full) - self.chosen
        if remaining <= 0:
            self.stopped_by = "budget" if self.target < self.full else "design exhausted"
            return []
        size = min(remaining, max(self.base, math.ceil(GROWTH * self.chosen)))
        rng = np.random.default_rng([self.seed, self.chosen])
        var = var.copy()
        cells: list[Cell] = []
        attempts = 0
        while len(cells) < size and attempts < 20 * size:
            attempts += 1
            group = self._draw(mu, var, rng)
            cell = self._place(group)
            if cell is None:
                continue
            cells.append(cell)
            members = [self.index[m] for m in group]
            var[members] = 1.0 / (1.0 / var[members] + PICK_INFORMATION * self.rotations)
        if not cells:
            self.stopped_by = "design exhausted"
            return []
        self.rounds.append(len(cells))
        return cells

    def _draw(self, mu: np.ndarray, var: np.ndarray, rng: np.random.Generator) -> list[str]:
        anchor = int(rng.choice(len(mu), p=var / var.sum()))
        group = [anchor]
        for _ in range(self.k - 1):
            spread = var + var[anchor] + 0.25
            weight = np.sqrt(var) * np.maximum(np.exp(-((mu - mu[anchor]) ** 2) / (2.0 * spread)), FLOOR)
            weight[group] = 0.0
            group.append(int(rng.choice(len(mu), p=weight / weight.sum())))
        return [self.models[j] for j in group]

    def _place(self, group: list[str]) -> Cell | None:
        """The next item (round robin in the seeded order) that every model of the group answered
        and that has not had this tuple; None when there is none."""
        key = frozenset(group)
        n = len(self.item_order)
        for step in range(n):
            i = self.item_order[(self.cursor + step) % n]
            if key <= self.answered[i] and (i, key) not in self.used and tuple_size(len(self.answered[i]), self.k) == len(group):
                self.used.add((i, key))
                self.cursor = (self.cursor + step + 1) % n
                return i, base_order(group, i, self.seed)
        return None

    def facts(self) -> dict[str, Any]:
        return {"rounds": len(self.rounds), "stopped_by": self.stopped_by, "round_tuples": self.rounds}
