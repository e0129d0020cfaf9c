"""Input checks and small helpers shared by the agreement, calibration, bias and Rasch modules.
They raise `harness.stats.errors.StatsInputError`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness.stats._normal import norm
from harness.stats.errors import StatsInputError


def as_1d(values: object, name: str) -> pd.Series:
    """A 1-D Series from a list, array or Series; missing values (None/NaN) stay missing."""
    if isinstance(values, pd.Series):
        return values.reset_index(drop=True)
    array = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        raise StatsInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    return pd.Series(list(array), dtype=object if array.dtype == object else array.dtype)


def paired(a: object, b: object, names: tuple[str, str] = ("a", "b")) -> tuple[pd.Series, pd.Series]:
    """Two equally long label sequences with every pair where either side is missing dropped."""
    left, right = as_1d(a, names[0]), as_1d(b, names[1])
    if len(left) != len(right):
        raise StatsInputError(f"{names[0]} and {names[1]} differ in length ({len(left)} vs {len(right)})")
    keep = ~(left.isna().to_numpy() | right.isna().to_numpy())
    return left[keep].reset_index(drop=True), right[keep].reset_index(drop=True)


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise StatsInputError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion: sensible at 0, 1 and small n, unlike the Wald one."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))
