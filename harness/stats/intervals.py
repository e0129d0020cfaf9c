"""Intervals that cannot be estimated are shown as missing, never as a point.

A percentile bootstrap interval has zero width when every resample gives the same value: one
item (each resample repeats it), every item scoring the same, or a rating fixed by definition
(the anchor). [1060, 1060] would read as certainty the data does not have, so such an interval
becomes NaN (printed '-') and the table says why in `ci_note`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

ZERO_WIDTH = "no interval: every bootstrap resample gave the same value (one item, or all items agree)"
ANCHOR = "no interval: the anchor's rating is fixed by definition"
NOTE = "ci_note"


def column_quantiles(values: np.ndarray, q: list[float]) -> np.ndarray:
    """`np.nanquantile(values, q, axis=0)`, the same numbers: columns without NaN through
    `np.quantile` at once (nanquantile walks the columns one by one in Python, a fifth of a
    second for the 1,653 pairs of a 58-model report), the others through nanquantile."""
    values = np.asarray(values, dtype=float)
    out = np.empty((len(q), values.shape[1]))
    gaps = np.isnan(values).any(axis=0)
    if not gaps.all():
        out[:, ~gaps] = np.quantile(values[:, ~gaps], q, axis=0)
    if gaps.any():
        out[:, gaps] = np.nanquantile(values[:, gaps], q, axis=0)
    return out


def zero_width(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """True where an interval is a point (to rounding); NaN ends are not zero-width."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    scale = np.maximum(1.0, np.maximum(np.abs(low), np.abs(high)))
    with np.errstate(invalid="ignore"):
        return np.isfinite(low) & np.isfinite(high) & (high - low <= 1e-9 * scale)


def finite_number(value: Any) -> bool:
    """Whether `value` reads as a finite number (not None, NaN, pandas' NA or text that is no number)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def apart_digits(low: float, high: float, digits: int) -> int:
    """The decimals, `digits` or more, at which an interval's two ends print apart, so a narrow
    interval that is not a point (zero_width) is never shown as [x, x]: two different floats print
    apart by 20 decimals (the cap only guards the loop; a point stays at `digits`)."""
    shown = digits
    while f"{low:.{shown}f}" == f"{high:.{shown}f}" and shown < 20 and low != high:
        shown += 1
    return shown


def blank_zero_width(frame: pd.DataFrame, low: str = "ci_low", high: str = "ci_high", *,
                     reasons: pd.Series | None = None, note: str | None = NOTE) -> pd.DataFrame:
    """A copy with zero-width intervals set to NaN; with `note`, a column saying why (only when
    some interval was blanked). `reasons` (aligned on the index) overrides the default reason."""
    point = zero_width(frame[low].to_numpy(), frame[high].to_numpy())
    if not point.any():
        return frame
    out = frame.copy()
    out.loc[point, [low, high]] = np.nan
    if note is not None:
        why = pd.Series(np.where(point, ZERO_WIDTH, ""), index=out.index, dtype=object)
        if reasons is not None:
            given = reasons.reindex(out.index)
            why = why.where(~(point & given.notna().to_numpy()), given)
        previous = out[note] if note in out.columns else pd.Series("", index=out.index, dtype=object)
        out[note] = [p if p else w for p, w in zip(previous.astype(object).fillna(""), why)]
    return out


def note_missing_intervals(frame: pd.DataFrame, low: str = "ci_low", high: str = "ci_high") -> pd.DataFrame:
    """scores.csv / ranking.csv as written: where a score has no interval, `ci_note` says why
    (a reason already given, e.g. the anchor's, is kept). Unchanged when every interval is there."""
    if frame.empty or not {"score", low, high} <= set(frame.columns):
        return frame
    score = pd.to_numeric(frame["score"], errors="coerce")
    missing = score.notna() & (frame[low].isna() | frame[high].isna())
    if not missing.any():
        return frame
    out = frame.copy()
    previous = out[NOTE].fillna("").astype(str) if NOTE in out.columns else pd.Series("", index=out.index)
    out[NOTE] = [p if p or not m else ZERO_WIDTH for p, m in zip(previous, missing)]
    return out


def blank_every_zero_width(frame: pd.DataFrame, reason: str | None = None) -> pd.DataFrame:
    """Every interval of a table as written (`ci_low`/`ci_high`, `sc_ci_low`/`sc_ci_high`,
    `calibrated_ci_low`/...) without zero-width ones: the last guard before a file, whichever
    statistic made them, and the reader's of a file (harness.running.result_tables). The reason
    goes to `ci_note`, or `<prefix>note` (e.g. `lc_note`); `reason`: another than ZERO_WIDTH."""
    reasons = None if reason is None else pd.Series(reason, index=frame.index, dtype=object)
    for low in [c for c in frame.columns if str(c).endswith("ci_low")]:
        high = low[: -len("low")] + "high"
        if high in frame.columns:
            prefix = low[: -len("ci_low")]
            frame = blank_zero_width(frame, low, high, reasons=reasons, note=f"{prefix}note" if prefix else NOTE)
    return frame
