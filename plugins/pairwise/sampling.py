"""Which (item, model pair) comparisons a pairwise run judges: a uniform random subset of the full
design, or rounds chosen adaptively from the verdicts so far (see harness.stats.active_ranking).

A comparison is one item and one pair of models, always judged in both answer orders. Everything
here is a function of the seed and of the verdicts of earlier rounds, so a killed run that is
started again replays the same rounds from its stored verdicts and makes the same choices, and a
rerun with a larger budget extends the last round and goes on from there.

Adaptive rounds take items from one seeded order: each pair takes the next items in that order
that both of its models answered, so a pair compared n times has used exactly the first n items it
can use. Pairs that share a baseline start at the same place in the order, so the models are
compared with the baseline on common items (their differences are then paired, which is most of
the gain on real data, where items differ a lot in difficulty). Pairs with nothing in common (all
pairs) start at evenly spaced places instead: started together, a design with many pairs and a
small budget would judge every pair on the same handful of items, and an item bootstrap over a
handful of items understates the uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.stats.active_ranking import (
    adjacent_settled,
    closeness_weights,
    fisher_covariance,
    greedy_batch,
)
from harness.stats.bradley_terry import bootstrap_bradley_terry
from harness.stats.bt_newton import fit_bradley_terry

#: Precision of the N(0, 1/PRIOR) prior on log-strengths used for choosing (not for the reported
#: ranking): keeps a model with one lucky win from looking settled.
PRIOR = 1.0
#: Weight every contrast keeps however settled its order looks. Choosing by the verdicts pushes
#: estimates apart (a pair that looks separated by chance stops being compared and keeps its lucky
#: gap, which the item bootstrap cannot see); a floor keeps every part of the ranking measured, and
#: brought the intervals' coverage from about 0.8 back near nominal in bench/adaptive.py.
FLOOR = 0.1
#: A round is at least the base size and at least this share of the comparisons made so far, so a
#: large budget takes a few dozen rounds, not thousands.
GROWTH = 0.1
#: Comparisons per model before the stopping rule is consulted (a bootstrap of a handful of items
#: says nothing).
MIN_COMPARISONS = 10
#: Bootstrap rounds behind the stopping rule.
STOP_BOOTSTRAP = 200
#: Elo points per unit of natural-log strength (400 points = odds of 10 to 1).
ELO = 400.0 / math.log(10.0)

Cell = tuple[int, int]  # (item index, pair index)


def resolve_budget(budget: int | float | None, full: int) -> int:
    """Comparisons (each two calls) a budget allows: a whole number of calls, or a fraction of
    the full design's; None is the full design. At least one comparison."""
    if budget is None:
        return full
    if isinstance(budget, float):
        return min(full, max(1, math.ceil(budget * full)))
    return min(full, max(1, budget // 2))


def start_groups(pairs: Sequence[tuple[str, str]], pair_order: np.ndarray) -> list[int]:
    """For every pair, the group whose members start at the same place in the item order: pairs
    share a group when they share their anchor, the member that is in strictly more pairs than the
    other (a baseline); a pair without one (all pairs) is a group of its own. Groups are numbered
    by the first appearance of a member in `pair_order`."""
    in_pairs: dict[str, int] = {}
    for a, b in pairs:
        in_pairs[a] = in_pairs.get(a, 0) + 1
        in_pairs[b] = in_pairs.get(b, 0) + 1
    numbers: dict[object, int] = {}
    group = [0] * len(pairs)
    for k in pair_order:
        a, b = pairs[int(k)]
        key: object = a if in_pairs[a] > in_pairs[b] else b if in_pairs[b] > in_pairs[a] else int(k)
        group[int(k)] = numbers.setdefault(key, len(numbers))
    return group


def _rotated(available: list[list[int]], group: list[int]) -> list[list[int]]:
    """Each pair's items from its group's starting place: group g of G starts g/G of the way in."""
    groups = max(group, default=0) + 1
    out = []
    for items, g in zip(available, group):
        start = g * len(items) // groups
        out.append(items[start:] + items[:start])
    return out


class SamplingPlan:
    """The comparisons of one run under `uniform` or `adaptive` sampling."""

    def __init__(
        self,
        kind: str,
        models: Sequence[str],
        pairs: Sequence[tuple[str, str]],
        answered: Sequence[set[str]],
        *,
        budget: int | float | None,
        seed: int,
        batch_size: int | None = None,
        concurrency: int | None = None,
        stop_confidence: float | None = None,
        stop_margin: float = 0.0,
    ):
        self.kind = kind
        self.models = list(models)
        index = {m: i for i, m in enumerate(self.models)}
        self.first = np.array([index[a] for a, _ in pairs], dtype=np.int64)
        self.second = np.array([index[b] for _, b in pairs], dtype=np.int64)
        rng = np.random.default_rng(seed)
        item_order = rng.permutation(len(answered))
        #: Candidate order for the choice; also spaces the pairs' starting places in the items.
        self.pair_order = rng.permutation(len(pairs))
        #: For every pair, the items both of its models answered, in the seeded order; adaptive
        #: rounds take them from the pair's starting place (see the module docstring).
        self.available = [[int(i) for i in item_order if a in answered[i] and b in answered[i]] for a, b in pairs]
        if kind == "adaptive":
            self.available = _rotated(self.available, start_groups(pairs, self.pair_order))
        self.full = sum(len(av) for av in self.available)
        self.target = resolve_budget(budget, self.full)
        self.budget = budget
        self.seed = seed
        self._uniform_order = rng.permutation(self.full)
        calls = batch_size or max(64, 2 * (concurrency or 0))
        self.base = max(1, calls // 2)
        self.batch_calls = 2 * self.base
        self.stop_confidence = stop_confidence
        self.stop_margin = stop_margin
        self.neighbours: list[dict[str, Any]] | None = None
        self.counts = np.zeros(len(pairs), dtype=np.int64)
        self.rounds: list[int] = []
        self.stopped_by: str | None = None

    @property
    def requested(self) -> int:
        return int(sum(self.rounds))

    # -- rounds --------------------------------------------------------------------------------
    def first_round(self) -> list[Cell]:
        """`uniform`: the whole seeded subset at once; `adaptive`: the opening round."""
        if self.kind == "uniform":
            every = [(item, k) for k, av in enumerate(self.available) for item in av]
            chosen = sorted(every[int(j)] for j in self._uniform_order[: self.target])
            self.rounds.append(len(chosen))
            self.stopped_by = "budget" if self.target < self.full else "design exhausted"
            return chosen
        return self.next_round(np.zeros((len(self.models), len(self.models))))

    def next_round(
        self, wins: np.ndarray, item_tensor: Callable[[], np.ndarray] | None = None
    ) -> list[Cell]:
        """The next adaptive round given the win matrix of every verdict so far (wins[i, j]:
        weighted wins of model i over j, ties half); [] when the plan is done.

        `item_tensor` gives the per-item wins (items, m, m) for the stopping rule's bootstrap.
        """
        if self.kind != "adaptive" or self.stopped_by is not None:
            return []
        remaining = self.target - self.requested
        capacity = np.array([len(av) for av in self.available]) - self.counts
        if remaining <= 0 or capacity.sum() == 0:
            self.stopped_by = "budget" if remaining <= 0 else "design exhausted"
            return []
        if self.stop_confidence is not None and item_tensor is not None and self._settled(wins, item_tensor):
            self.stopped_by = "confidence"
            return []
        # The round's nominal size never depends on the budget, so a smaller budget's last round
        # is a prefix of a larger budget's: raising the budget continues where the run stopped.
        size = max(self.base, math.ceil(GROWTH * self.requested))
        picks = self._choose(wins, capacity, size)[:remaining]
        cells = []
        for k in picks:
            cells.append((self.available[k][self.counts[k]], k))
            self.counts[k] += 1
        self.rounds.append(len(cells))
        return cells

    def _choose(self, wins: np.ndarray, capacity: np.ndarray, size: int) -> list[int]:
        games = wins + wins.T
        theta = fit_bradley_terry(wins, ridge=PRIOR)
        cov = fisher_covariance(games, theta, PRIOR)
        weights = closeness_weights(theta, cov, floor=FLOOR)
        order = self.pair_order
        a, b = self.first[order], self.second[order]
        p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
        n_games = games[np.triu_indices_from(games, 1)].sum()
        # One comparison is two battles, each worth the mean battle weight seen so far (strong
        # verdicts count more), or 1 before any verdict.
        per_battle = n_games / max(1, 2 * self.requested) if self.requested else 1.0
        information = 2.0 * per_battle * p * (1.0 - p)
        # Drawn from a generator seeded by the plan's seed and the comparisons made so far, so a
        # resumed run draws the same round again.
        draw = np.random.default_rng([self.seed, self.requested])
        picks = greedy_batch(cov, weights, a, b, information, capacity[order], size, draw=draw)
        return [int(order[j]) for j in picks]

    def _settled(self, wins: np.ndarray, item_tensor: Callable[[], np.ndarray]) -> bool:
        """The stopping rule: every neighbour pair of the ranking ordered at `stop_confidence`, or
        tied within `stop_margin` Elo points; only once every model has MIN_COMPARISONS."""
        per_model = np.zeros(len(self.models))
        np.add.at(per_model, self.first, self.counts)
        np.add.at(per_model, self.second, self.counts)
        if per_model.min() < MIN_COMPARISONS:
            return False
        tensor = item_tensor()
        theta = fit_bradley_terry(wins)
        boot = bootstrap_bradley_terry(tensor, n_rounds=STOP_BOOTSTRAP, seed=self.seed, start=theta)
        settled, self.neighbours = adjacent_settled(
            ELO * theta, ELO * boot, confidence=float(self.stop_confidence or 0.95), margin=self.stop_margin
        )
        return settled

    # -- facts for run.json --------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """Which sampling chose the comparisons and what it saved against the full design."""
        asked = 2 * self.requested
        full = 2 * self.full
        facts: dict[str, Any] = {
            "sampling": self.kind,
            "budget": self.budget,
            "budget_calls": 2 * self.target,
            "full_design_calls": full,
            "calls": asked,
            "calls_saved": full - asked,
            "fraction_of_full_design": round(asked / full, 6) if full else None,
            "seed": self.seed,
            "rounds": len(self.rounds),
            "stopped_by": self.stopped_by,
        }
        if self.kind == "adaptive":
            facts["batch_size"] = self.batch_calls
            facts["stop_confidence"] = self.stop_confidence
            facts["stop_margin"] = self.stop_margin
            if self.neighbours is not None:  # the stopping rule's last look at the ranking
                facts["neighbours"] = [
                    {"upper": self.models[n["upper"]], "lower": self.models[n["lower"]],
                     "same_order": round(n["same_order"], 4),
                     "elo_difference_ci": [round(n["ci_low"], 2), round(n["ci_high"], 2)]}
                    for n in self.neighbours
                ]
            facts["comparisons_per_pair"] = {
                f"{self.models[a]} vs {self.models[b]}": int(n)
                for a, b, n in zip(self.first, self.second, self.counts)
            }
        return facts
