"""The standard normal distribution's functions, from scipy.special.

`scipy.stats` takes seconds to import on a loaded machine (it builds every distribution and
parses their docstrings), and every `harness aggregate` and `harness report` paid it for
`norm.ppf` alone. These are the functions `scipy.stats.norm` itself evaluates (ndtri, ndtr),
so the values are the same. scipy.special itself (~0.1 s) loads on the first call: importing
this module is free for code that never evaluates the distribution.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class norm:
    """norm.ppf, norm.cdf, norm.sf and norm.pdf of the standard normal distribution."""

    @staticmethod
    def ppf(q: Any) -> Any:
        from scipy.special import ndtri

        return ndtri(q)

    @staticmethod
    def cdf(x: Any) -> Any:
        from scipy.special import ndtr

        return ndtr(x)

    @staticmethod
    def sf(x: Any) -> Any:
        from scipy.special import ndtr

        return ndtr(-np.asarray(x, dtype=float))

    @staticmethod
    def pdf(x: Any) -> Any:
        x = np.asarray(x, dtype=float)
        return np.exp(-x**2 / 2.0) / np.sqrt(2 * np.pi)
