"""The report's verdict sample: round-robin over categories, each category in hash order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.reports.sampling import _round_robin


def test_round_robin_takes_one_of_each_category_before_a_second_in_hash_order() -> None:
    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(1, 200))
        verdicts = pd.DataFrame({"category": rng.choice(["b", "a", "Zed", "é", None], n)})
        order = pd.Series([f"{x:05x}" for x in rng.integers(0, 40 if trial % 2 else 10**6, n)])
        positions = np.sort(rng.choice(n, int(rng.integers(0, n + 1)), replace=False))
        limit = int(rng.integers(0, n + 3))
        picked = _round_robin(verdicts, order, positions, limit)
        assert len(picked) == min(limit, len(positions)) and len(set(picked)) == len(picked)
        assert set(picked) <= set(positions.tolist())
        category = verdicts["category"].fillna("(none)").to_numpy()
        queues = {c: sorted((p for p in positions.tolist() if category[p] == c), key=lambda p: (order[p], p))
                  for c in sorted(set(category[positions]))}
        expected = [q[d] for d in range(n) for q in queues.values() if d < len(q)][:limit]
        assert picked == expected
