"""Each probe's effect with a 95% item-bootstrap interval, a sign-flip test and Holm's adjustment.

The unit is the item: a probe gives one number per item (pairwise: the share of that item's
verdicts preferring the perturbed text, ties half, minus 1/2; rubric: the perturbed text's score
minus the control's), so verdicts of one item, which are not independent, are resampled together.

The test is a sign-flip randomisation test of "mean 0": under a judge without the bias, each
item's number is as likely to be d as -d (the pair is judged in both orders, or the perturbation
is irrelevant to the judge). It holds its level at small n and with ties, where a t-test need
not. Holm's step-down adjustment keeps the chance of flagging any probe of a fair judge at most
`alpha` however many probes are run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
N_BOOTSTRAP = 2000
N_FLIPS = 10000
#: Below this many items a sign-flip test is run exactly (2^n sign patterns).
EXACT_FLIPS_UP_TO = 13


@dataclass(frozen=True)
class Effect:
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    p_value: float | None
    #: The raw (unadjusted) p-value; `p_value` is Holm-adjusted across the audit's probes.
    p_raw: float | None = None
    significant: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"effect": self.effect, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "p_value": self.p_value, "p_raw": self.p_raw, "significant": self.significant}


def bootstrap_interval(values: np.ndarray, rng: np.random.Generator, *, bounds: tuple[float, float],
                       n_bootstrap: int = N_BOOTSTRAP, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the item mean. When every item gave the same number the bootstrap
    has no width; then the interval is the one the data cannot rule out: up to 3/n of the items
    (the rule of three) could lie anywhere in `bounds`, the range an item's number can take, so
    the mean could move by 3/n of that range (within the bounds)."""
    n = len(values)
    mean = float(values.mean())
    if np.ptp(values) == 0:
        half = (bounds[1] - bounds[0]) * 3.0 / n
        return max(bounds[0], mean - half), min(bounds[1], mean + half)
    draws = values[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return float(low), float(high)


def sign_flip_p(values: np.ndarray, rng: np.random.Generator, n_flips: int = N_FLIPS) -> float:
    """Two-sided p-value of "the mean is 0" under sign symmetry; exact for small n, else Monte
    Carlo with the observed pattern counted in (so p is never 0)."""
    n = len(values)
    observed = abs(values.sum())
    if observed == 0:
        return 1.0
    if n <= EXACT_FLIPS_UP_TO:
        patterns = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float(np.mean(np.abs(patterns @ values) >= observed - 1e-12))
    signs = rng.integers(0, 2, size=(n_flips, n), dtype=np.int8).astype(float) * 2.0 - 1.0
    sums = np.abs(signs @ values)
    return float((np.sum(sums >= observed - 1e-12) + 1) / (n_flips + 1))


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjusted p-values (None stays None and does not count as a test)."""
    tested = sorted((p, name) for name, p in p_values.items() if p is not None)
    m = len(tested)
    adjusted: dict[str, float | None] = dict.fromkeys(p_values)
    running = 0.0
    for rank, (p, name) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[name] = running
    return adjusted


def estimate(values: Sequence[float], seed: int, *, bounds: tuple[float, float]) -> Effect:
    """One probe's effect from its per-item numbers (unadjusted p; see `adjust`)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Effect(None, None, None, 0, None)
    rng = np.random.default_rng(seed)
    low, high = bootstrap_interval(data, rng, bounds=bounds)
    p = sign_flip_p(data, rng)
    return Effect(float(data.mean()), low, high, int(data.size), p, p_raw=p)


def adjust(effects: Mapping[str, Effect], alpha: float = ALPHA) -> dict[str, Effect]:
    """Holm-adjust the probes' p-values together; significant = adjusted p below `alpha`."""
    adjusted = holm({name: e.p_raw for name, e in effects.items()})
    out = {}
    for name, e in effects.items():
        p = adjusted[name]
        out[name] = Effect(e.effect, e.ci_low, e.ci_high, e.n, p, p_raw=e.p_raw,
                           significant=p is not None and p < alpha)
    return out
