"""What a protocol supplies to be calibrated against human labels, and how the core finds it.

The core owns the path every protocol shares: reading both run directories, the judge setup a map
is valid for (identity.py), the map file and its checks (mapfile.py), storing the applied map in
the run and the report's section. What a verdict means is the protocol's: its registered task
class returns a `Calibrator` from `Task.calibrator()` (None, the default: its runs cannot be
calibrated), which matches judge to human verdicts, fits the map, applies it and says which
figures the report shows. A calibration file's `kind` is the name of the protocol that wrote it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import pandas as pd
    from pydantic import BaseModel

    from harness.calibrate.mapfile import Calibration
    from harness.models import Verdict

#: A plotted series: name, colour, points (judge value, human value, n; n 0 draws no dot).
Series = tuple[str, str, list[tuple[float, float, int]]]
RAW_COLOR, CALIBRATED_COLOR, MAP_COLOR = "#cc0000", "#204a87", "#888"


@dataclass(frozen=True)
class RunVerdicts:
    """One side of a calibration: a run directory, its run.json and its verdicts in store order."""

    directory: Path
    manifest: dict[str, Any]
    verdicts: list[Verdict]


@dataclass(frozen=True)
class FitOptions:
    """`harness calibrate`'s options: the map method asked for (`auto` lets the protocol choose),
    the fewest matched units accepted, cross-validation folds by item, ECE bins, seed."""

    method: str = "auto"
    min_pairs: int = 20
    folds: int = 5
    n_bins: int = 10
    seed: int = 0


@dataclass
class Calibrated:
    """A map applied to a run: `scores` (model, the calibrator's `columns`, n) joins scores.csv,
    `ranking` is ranking_calibrated.csv (ranking.csv's columns), `label` the CLI's column
    (header -> scores.csv column)."""

    scores: pd.DataFrame
    ranking: pd.DataFrame
    label: dict[str, str]


@dataclass(frozen=True)
class ReliabilityPlot:
    """The report's reliability diagram: series on the judge (x) and human (y) scales."""

    series: list[Series]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    labels: tuple[str, str]
    #: Perfect calibration, from one end to the other.
    diagonal: tuple[tuple[float, float], tuple[float, float]]


class Calibrator(ABC):
    """A protocol's calibration against human labels. Stateless: the figures live in the file."""

    #: What the file's `n_pairs` counts (pairs, answers), in messages and the report.
    unit: ClassVar[str] = "pairs"
    #: Raw and calibrated scores.csv columns the report's side-by-side ranking shows when the
    #: run has them (column -> header), e.g. a raw win rate beside the calibrated one.
    compared: ClassVar[dict[str, str]] = {}

    @abstractmethod
    def fit(self, judge: RunVerdicts, human: RunVerdicts, options: FitOptions) -> dict[str, Any]:
        """Match the judge's verdicts to the humans', measure them and fit the map: the file's
        content after `kind` (`n_pairs`, `n_items`, `folds`, `map` with its `method`, figures).
        Too little to fit on: raise harness.errors.BadInput with the counts."""

    @abstractmethod
    def apply(
        self, calibration: Calibration, verdicts: list[Verdict], config: BaseModel, *, n_rounds: int, seed: int
    ) -> Calibrated:
        """The run's verdicts read through the map (`calibration(values)`), per model and ranked;
        intervals with `n_rounds` item-bootstrap rounds and `seed`."""

    def summary_lines(self, document: dict[str, Any]) -> list[str]:
        """What `harness calibrate` prints after the line naming the judge and the counts."""
        return []

    def figures(self, document: dict[str, Any]) -> list[tuple[str, Any, Any]]:
        """The report's figures: (name, raw, calibrated out-of-fold or None) per row."""
        return []

    def reliability(self, document: dict[str, Any]) -> ReliabilityPlot | None:
        """The report's reliability diagram, or None for none."""
        return None


def number(document: dict[str, Any], key: str, digits: int = 3) -> str:
    """A figure of the file for people: fixed digits, `-` when missing or NaN."""
    value = document.get(key)
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def interval_table(frame: pd.DataFrame, columns: list[str], n_rounds: int, seed: int) -> pd.DataFrame:
    """model, the three `columns` (mean, ci_low, ci_high), n: the mean `value` per model with its
    item-bootstrap interval, from rows of item_id, model, value."""
    import pandas as pd

    from harness.stats.bootstrap import bootstrap_group_means

    stats = bootstrap_group_means(frame, item="item_id", group="model", value="value", n_rounds=n_rounds, seed=seed)
    if stats.empty:
        return pd.DataFrame(columns=["model", *columns, "n"])
    return pd.DataFrame(
        {
            "model": stats["model"],
            columns[0]: stats["mean"].astype(float),
            columns[1]: stats["ci_low"].astype(float),
            columns[2]: stats["ci_high"].astype(float),
            "n": stats["n"],
        }
    )
