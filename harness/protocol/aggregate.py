"""What a protocol hands back: its numbers for a run (`Aggregate`), and the exception that marks
an unreadable judge output. A leaf of the protocol package, so every view can name these without
importing the task class that returns the views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


class InvalidOutput(Exception):
    """The judge answered, but not in a form the protocol can read. Stored as `invalid`."""


REASK_PROMPT = (
    "Your reply could not be read: {error}. Reply again to the request above, giving your verdict "
    "exactly in the format it asks for."
)


@dataclass
class Aggregate:
    """A protocol's numbers for one run.

    `scores`: one row per model (model, score, ci_low, ci_high, n, protocol columns).
    `ranking`: model, rank, score, ci_low, ci_high, n. `summary`: facts for run.json and the
    printed table (position consistency, invalid counts, ...).
    """

    scores: pd.DataFrame
    ranking: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)
    #: How the CLI prints the result: the table's title, what the ranking's score is called,
    #: and which scores.csv columns to show beside it (header -> column; "score" with its CI).
    title: str = "ranking (95% bootstrap CI over items)"
    rank_label: str = "score"
    columns: dict[str, str] = field(default_factory=dict)
    #: The interval of a shown column, printed beside it (column -> (low column, high column)),
    #: so an estimate with an interval is never shown as a plain number.
    intervals: dict[str, tuple[str, str]] = field(default_factory=dict)
