"""A run as the report reads it (`RunData`), and what a protocol contributes to `harness report` and `harness compare`, with generic defaults.

The report code knows no protocol by name: it asks the run's view. A protocol returns its view
from `Task.report_view()` (the built-in pairwise, rubric and checklist protocols override parts
of it, a third-party protocol may too); a run whose protocol is not loaded gets this base class,
which treats every verdict with a `model` and a numeric `score` as a graded answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from harness.models import Item

if TYPE_CHECKING:
    from collections.abc import Callable

    from harness.protocol.calibrator import Calibrator

@dataclass
class RunData:
    """One run directory as the report reads it: manifest, verdicts, scores, the items when
    reachable, and the protocol's report view. Runs come from `harness run` (any protocol) and
    from importers, so every column is optional: the view turns whatever is present into per-item
    scores and its own frames. `harness.reports.reading.read_run` builds one. It lives with the
    view because each names the other."""

    directory: Path
    manifest: dict[str, Any]
    protocol: str
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    #: What the run's protocol contributes to reports (the generic view when it is not loaded).
    view: ReportView
    items: dict[str, Item] = field(default_factory=dict)
    items_note: str = ""
    #: The protocol's `Task.calibrator` (asked only when the run holds a calibration); None when
    #: the protocol is not loaded.
    calibrator_of: Callable[[], Calibrator | None] | None = None
    #: Derived frames computed once per run (item scores, a protocol's own frames).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        task = self.manifest.get("task") or {}
        return str(task.get("name") or self.directory.name)

    @property
    def config(self) -> dict[str, Any]:
        return (self.manifest.get("protocol") or {}).get("config") or {}

    @property
    def judge_label(self) -> str:
        spec = (self.manifest.get("judge") or {}).get("spec") or {}
        if isinstance(spec, dict) and spec.get("backend"):
            return f"{spec['backend']}:{spec['model']}" if spec.get("model") else str(spec["backend"])
        judges = self.verdicts["judge"].dropna().unique() if "judge" in self.verdicts else []
        return ", ".join(map(str, judges[:3])) or "unknown judge"


# --------------------------------------------------------------------------------------------
# Canonical frames
# --------------------------------------------------------------------------------------------


def ok_verdicts(run: RunData) -> pd.DataFrame:
    return run.verdicts[run.verdicts["status"] == "ok"]


def item_scores(run: RunData) -> pd.DataFrame:
    """One score per (item, model) as the run's protocol defines it (cached)."""
    if "item_scores" not in run.cache:
        run.cache["item_scores"] = run.view.item_scores(run)
    return run.cache["item_scores"]


def mean_per_item(frame: pd.DataFrame) -> pd.DataFrame:
    """item_id, model, category, score: the mean score of each (item, model)."""
    frame = frame.assign(model=frame["model"].astype(str), category=frame["category"].fillna("(none)").astype(str))
    out = frame.groupby(["item_id", "model"], sort=True).agg(category=("category", "first"), score=("score", "mean"))
    return out.reset_index()[["item_id", "model", "category", "score"]]


def verdict_models(row: dict[str, Any]) -> list[str]:
    """The models a verdict is about, whatever the protocol."""
    names = [row.get(k) for k in ("model_a", "model_b", "model")]
    return [str(n) for n in names if isinstance(n, str) and n]


def number(value: Any) -> float | None:
    """A float, or None for what is not a finite number."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(result) else result


UNIT_COLUMNS = ["unit", "item_id", "value"]


@dataclass
class ReportSection:
    """A protocol's own section of the report: a table with a title and a one-line note.
    `id` is the HTML anchor (letters, digits and dashes)."""

    id: str
    title: str
    table: pd.DataFrame
    note: str = ""


class ReportView:
    """Generic behaviour; every method may be overridden by a protocol's view."""

    #: Verdict columns that mark this protocol's runs when run.json does not name the protocol.
    verdict_columns: ClassVar[frozenset[str]] = frozenset()
    #: Verdict fields shown as tags in a verdict card's header line, in this order.
    card_headline: ClassVar[tuple[str, ...]] = ("score",)
    #: What the score distributions of the report show.
    distribution_note: ClassVar[str] = "per-item scores of each model"

    def score_label(self, run: RunData) -> str:
        """What the ranking's score means."""
        return "score"

    def interval_label(self, run: RunData) -> str:
        """What the ranking's interval is."""
        return "95% bootstrap over items"

    def item_scores(self, run: RunData) -> pd.DataFrame:
        """One score per (item, model): item_id, model, category, score; the numbers a model's
        score averages. Default: the mean `score` of the verdicts on that answer."""
        frame = ok_verdicts(run)
        if not {"model", "score"} <= set(frame.columns):
            return pd.DataFrame(columns=["item_id", "model", "category", "score"])
        scored = pd.DataFrame({
            "item_id": frame["item_id"], "model": frame["model"], "category": frame["category"],
            "score": pd.to_numeric(frame["score"], errors="coerce"),
        })
        return mean_per_item(scored[scored["model"].notna()])

    def ranking_extras(self, scores: pd.DataFrame) -> pd.DataFrame:
        """scores.csv as it joins the ranking (columns the ranking already has are left out)."""
        return scores

    def ranking_note(self, run: RunData) -> str:
        """What the ranking's extra columns mean, shown under the ranking. Default: nothing."""
        return ""

    def significance(self, run: RunData, scores: pd.DataFrame, *, n_rounds: int, seed: int,
                     alpha: float) -> tuple[pd.DataFrame, str]:
        """Every pair of models (model_1, model_2, diff, ci_low, ci_high, p_value, p_adjusted,
        significant) and what was tested. Default: the paired per-item score difference."""
        from harness.stats.significance import paired_score_significance

        if scores.empty or scores["model"].nunique() < 2:
            return pd.DataFrame(), "fewer than two scored models"
        frame = paired_score_significance(scores[["item_id", "model", "score"]], n_rounds=n_rounds, seed=seed,
                                          alpha=alpha)
        return frame, (f"mean per-item score difference on shared items, 95% item-bootstrap interval, "
                       f"bootstrap p-value, Holm-adjusted over {len(frame)} pairs")

    def win_rates(self, run: RunData, scores: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        """Row model's win rate against the column model, ties half. Default: per item, by score."""
        if scores.empty:
            return pd.DataFrame(), ""
        matrix = scores.pivot_table(index="item_id", columns="model", values="score", aggfunc="mean")
        models = [str(m) for m in matrix.columns]
        values = matrix.to_numpy(float)
        rate = np.full((len(models), len(models)), np.nan)
        for i in range(len(models)):
            for j in range(len(models)):
                if i == j:
                    continue
                both = np.isfinite(values[:, i]) & np.isfinite(values[:, j])
                if both.any():
                    a, b = values[both, i], values[both, j]
                    rate[i, j] = float(((a > b) + 0.5 * (a == b)).mean())
        note = "share of items where the row model scored higher than the column model, ties half"
        return pd.DataFrame(rate, index=pd.Index(models, name="model"), columns=models), note

    def diagnostics(self, run: RunData) -> list[dict[str, Any]]:
        """Rows (group, metric, value, n, note) about the judge. Default: length bias of scores."""
        return answer_length_rows(run)

    def disagreements(self, run: RunData) -> np.ndarray:
        """A boolean per verdict row: the judge contradicts itself or is unsure (shown first in
        the sample of verdict cards). Default: none."""
        return np.zeros(len(run.verdicts), dtype=bool)

    def comparison_units(self, runs: list[RunData]) -> tuple[str, str, list[pd.DataFrame]]:
        """(what a unit is, its measurement level, one frame per run with unit, item_id, value):
        what `harness compare` checks the runs agree on. Default: each answer's score."""
        frames = []
        for run in runs:
            scores = self.item_scores(run)
            frames.append(pd.DataFrame({"unit": scores["item_id"] + "::" + scores["model"],
                                        "item_id": scores["item_id"], "value": scores["score"].astype(float)}))
        return "one answer on one item: its score", "interval", frames

    def card_texts(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        """(title, text) blocks a verdict card shows after the instruction; the fields they came
        from are not repeated in the card's field table. Default: none."""
        return []

    def card_text_fields(self) -> tuple[str, ...]:
        """The verdict fields `card_texts` shows."""
        return ()

    def sections(self, run: RunData) -> list[ReportSection]:
        """The protocol's own report sections, after the categories. Default: none."""
        return []

    @classmethod
    def recognises(cls, columns: set[str]) -> bool:
        return bool(cls.verdict_columns) and cls.verdict_columns <= columns


def diagnostic_row(group: str, metric: str, value: Any, n: int | None = None, note: str = "") -> dict[str, Any]:
    """One row of the diagnostics table."""
    return {"group": group, "metric": metric, "value": value, "n": n, "note": note}


def answer_length_rows(run: RunData) -> list[dict[str, Any]]:
    """For runs that score each answer: P(the longer of two answers to one item scores higher). Answer lengths come
    from the dataset, or from a `length` field of the verdicts (importers record it)."""
    scores = item_scores(run)
    if scores.empty:
        return []
    if run.items:
        lengths = [len(run.items[i].answers[m]) if i in run.items and m in run.items[i].answers else np.nan
                   for i, m in zip(scores["item_id"], scores["model"])]
    elif {"length", "model"} <= set(run.verdicts.columns):
        ok = run.verdicts[run.verdicts["status"] == "ok"]
        given = pd.to_numeric(ok["length"], errors="coerce").groupby([ok["item_id"], ok["model"].astype(str)]).mean()
        lengths = [given.get((i, m), np.nan) for i, m in zip(scores["item_id"], scores["model"])]
    else:
        return []
    scores = scores.assign(length=lengths).dropna(subset=["length", "score"])
    longer_higher = total = 0
    for _, group in scores.groupby("item_id"):
        s, ln = group["score"].to_numpy(float), group["length"].to_numpy(float)
        ds, dl = np.sign(s[:, None] - s[None, :]), np.sign(ln[:, None] - ln[None, :])
        decisive = np.triu((ds != 0) & (dl != 0), 1)
        total += int(decisive.sum())
        longer_higher += int((decisive & (ds == dl)).sum())
    if total == 0:
        return []
    return [diagnostic_row("length", "P(longer answer scores higher)", longer_higher / total, total,
                 "pairs of answers to one item with different lengths and scores; 0.5 means no length preference")]
