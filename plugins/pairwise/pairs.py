"""Which pairs of models are compared: against one or several baselines, or all pairs."""

from __future__ import annotations

from itertools import combinations

from harness.errors import BadInput


def choose_pairs(models: list[str], baselines: list[str]) -> list[tuple[str, str]]:
    """Unordered pairs in a stable order; with baselines, each pair is (model, baseline)."""
    if len(models) < 2:
        raise BadInput("options: pairwise comparison needs answers from at least two models")
    if not baselines:
        return list(combinations(models, 2))
    unknown = [b for b in baselines if b not in models]
    if unknown:
        raise BadInput(f"options.baselines: {unknown[0]!r} has no answers in the dataset (models: {', '.join(models)})")
    pairs: list[tuple[str, str]] = []
    seen: set[frozenset[str]] = set()
    for baseline in baselines:
        for model in models:
            key = frozenset((model, baseline))
            if model != baseline and key not in seen:
                seen.add(key)
                pairs.append((model, baseline))
    return pairs
