"""The verdicts of a sampled pairwise run as Bradley-Terry win counts, kept up to date round by
round, so choosing the next round costs work in proportion to the new verdicts only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.stats.bradley_terry import item_win_tensor
from harness_plugins.pairwise.aggregate import bradley_terry_battles, judged_battles
from harness_plugins.pairwise.config import PairwiseConfig


class SampledBattles:
    """Win matrix and per-item battles, scored exactly as the run's aggregation scores them
    (length rule, soft verdicts, strong-verdict weight), so the plan ranks what the report ranks."""

    def __init__(self, models: Sequence[str], config: PairwiseConfig):
        self.models = list(models)
        self.config = config
        self._index = {m: i for i, m in enumerate(self.models)}
        self.wins = np.zeros((len(self.models), len(self.models)))
        self._seen: set[str] = set()
        self._frames: list[pd.DataFrame] = []

    def add(self, verdicts: Iterable[Verdict]) -> None:
        """Count the verdicts not counted yet (invalid and failed ones count as no battle)."""
        new = [v for v in verdicts if v.request_id not in self._seen]
        self._seen.update(v.request_id for v in new)
        battles = judged_battles(new, self.config)
        if battles.empty:
            return
        a = battles["model_a"].map(self._index).to_numpy()
        b = battles["model_b"].map(self._index).to_numpy()
        score = battles["bt_score_a"].to_numpy(dtype=float)
        weight = battles["bt_weight"].to_numpy(dtype=float)
        np.add.at(self.wins, (a, b), score * weight)
        np.add.at(self.wins, (b, a), (1.0 - score) * weight)
        self._frames.append(bradley_terry_battles(battles))

    def item_tensor(self) -> np.ndarray:
        """Per-item wins, shape (items, m, m), for an item bootstrap."""
        frame = pd.concat(self._frames, ignore_index=True)
        return item_win_tensor(frame, self.models)[0]
