"""Which K-tuples of models a listwise run judges on which items, and in which presentation orders.

A cell is (item index, tuple): the models of the tuple in their presentation base order, a seeded
shuffle of the tuple, so no model is always shown first. Each cell is judged in `rotations`
presentation orders: cyclic rotations of the base order (rotation r shows base[r:] + base[:r]);
with all K rotations every model of the tuple is shown once in every label position (a cyclic
Latin square), so a judge's position preference cancels within every tuple.

- `all`: every K-combination of the models that answered an item, on every item.
- `uniform`: a balanced random sample: items are visited in a seeded order, and each visit splits
  the item's models, in a fresh seeded order, into consecutive K-tuples (the last one filled up
  with models drawn from the rest), so every model is judged about equally often; passes repeat
  over the items until the budget is spent (a tuple already judged on an item is skipped). A
  larger budget continues the smaller one's sequence, so it keeps the smaller sample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from itertools import combinations

import numpy as np

Cell = tuple[int, tuple[str, ...]]  # (item index, models in presentation base order)


def base_order(models: Sequence[str], item: int, seed: int) -> tuple[str, ...]:
    """The presentation base order of a tuple on an item: a shuffle fixed by (seed, item, tuple)."""
    ordered = sorted(models)
    key = int.from_bytes(hashlib.sha256("|".join(ordered).encode()).digest()[:4], "big")
    perm = np.random.default_rng([seed, item, key, len(ordered)]).permutation(len(ordered))
    return tuple(ordered[int(j)] for j in perm)


def rotations_of(order: tuple[str, ...], count: int) -> list[tuple[str, ...]]:
    return [order[r:] + order[:r] for r in range(count)]


def tuple_size(n_models: int, k: int) -> int:
    return min(n_models, k)


def full_design_cells(answered: Sequence[Sequence[str]], k: int) -> int:
    """K-tuples over all items (an item answered by fewer than K models gives one smaller tuple)."""
    return sum(math.comb(len(a), tuple_size(len(a), k)) for a in answered if len(a) >= 2)


def all_cells(answered: Sequence[Sequence[str]], k: int, seed: int) -> list[Cell]:
    return [(i, base_order(t, i, seed)) for i, models in enumerate(answered) if len(models) >= 2
            for t in combinations(models, tuple_size(len(models), k))]


def uniform_cells(answered: Sequence[Sequence[str]], k: int, seed: int, count: int) -> list[Cell]:
    """The first `count` cells of the balanced sequence (see the module docstring)."""
    full = full_design_cells(answered, k)
    if count >= full:
        return all_cells(answered, k, seed)
    out: list[Cell] = []
    seen: set[tuple[int, frozenset[str]]] = set()
    for cell in _balanced(answered, k, seed):
        if len(out) >= count:
            break
        key = (cell[0], frozenset(cell[1]))
        if key not in seen:
            seen.add(key)
            out.append(cell)
    return out


def _balanced(answered: Sequence[Sequence[str]], k: int, seed: int) -> Iterator[Cell]:
    usable = [i for i, a in enumerate(answered) if len(a) >= 2]
    rng = np.random.default_rng([seed, 11])
    while usable:
        for i in rng.permutation(usable):
            models = list(answered[int(i)])
            size = tuple_size(len(models), k)
            shuffled = [models[int(j)] for j in rng.permutation(len(models))]
            for start in range(0, len(shuffled), size):
                group = shuffled[start: start + size]
                if len(group) < size:
                    rest = [m for m in shuffled if m not in group]
                    group += [rest[int(j)] for j in rng.choice(len(rest), size - len(group), replace=False)]
                yield int(i), base_order(group, int(i), seed)
