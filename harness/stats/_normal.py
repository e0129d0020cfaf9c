"""The standard normal distribution's functions, from scipy.special.

`scipy.stats` takes seconds to import on a loaded machine (it builds every distribution and
parses their docstrings), and every `harness aggregate` and `harness report` paid it for
`norm.ppf` alone. These are the functions `scipy.stats.norm` itself evaluates (ndtri, ndtr),
so the values are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri


class norm:
    """norm.ppf, norm.cdf, norm.sf and norm.pdf of the standard normal distribution."""

    @staticmethod
    def ppf(q: Any) -> Any:
        return ndtri(q)

    @staticmethod
    def cdf(x: Any) -> Any:
        return ndtr(x)

    @staticmethod
    def sf(x: Any) -> Any:
        return ndtr(-np.asarray(x, dtype=float))

    @staticmethod
    def pdf(x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        return np.exp(-x**2 / 2.0) / np.sqrt(2 * np.pi)
