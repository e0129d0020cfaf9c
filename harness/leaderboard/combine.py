"""Rank models across tasks: Kemeny-Young consensus and Borda points over the tasks' rankings,
with intervals from resampling items within each task.

Each task ranks its models by its protocol's score (scores.csv `score`); scores of different
protocols are on different scales, so only the orders are combined (harness.stats.rank_aggregation;
"What are the best systems?", Colombo et al. 2022). Uncertainty: each bootstrap round draws every
task's items with replacement, runs the task's own aggregation on the drawn items (a drawn item
counted as often as it was drawn), and combines again; the 2.5%/97.5% quantiles of a model's
consensus rank and Borda points over the rounds are its interval. An interval that every round
gave the same value is left empty with a note (harness.stats.intervals), never shown as a point.

A model missing from a task (not in its run, or without a score there) takes no part in that
task's comparisons: Borda points and Kemeny preferences count only the tasks where both models
were ranked. `tasks` and `missing_tasks` say how many tasks a model's figures rest on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from harness.stats.intervals import blank_zero_width
from harness.stats.rank_aggregation import MAX_EXACT, aggregate_rankings

if TYPE_CHECKING:
    from harness.leaderboard.stored import StoredRun
    from harness.models import Verdict

COLUMNS = ["model", "rank", "rank_ci_low", "rank_ci_high", "borda", "borda_ci_low", "borda_ci_high",
           "tasks", "missing_tasks", "missing_from"]


@dataclass
class Leaderboard:
    #: One row per model of any run: COLUMNS, then `rank:<task>` and `score:<task>` per task.
    table: pd.DataFrame
    #: One row per task: task, run, protocol, items, models, complete.
    tasks: pd.DataFrame
    rounds: int
    kemeny: str
    notes: list[str] = field(default_factory=list)


def task_scores(runs: list[StoredRun], names: list[str]) -> pd.DataFrame:
    """task, model, score: each run's scores.csv, models without a score left out."""
    rows = []
    for name, run in zip(names, runs):
        frame = run.scores[["model", "score"]].assign(task=name)
        rows.append(frame[pd.to_numeric(frame["score"], errors="coerce").notna()])
    return pd.concat(rows, ignore_index=True)[["task", "model", "score"]]


def task_names(runs: list[StoredRun]) -> list[str]:
    """Each run's task name, made unique with its directory's name where two runs share one."""
    names = [run.name for run in runs]
    return [f"{n} ({run.directory.name})" if names.count(n) > 1 else n for n, run in zip(names, runs)]


def combine(runs: list[StoredRun], *, rounds: int = 200, seed: int = 0) -> Leaderboard:
    names = task_names(runs)
    every_model = sorted({m for run in runs for m in run.models})
    observed = task_scores(runs, names)
    approximate = len(every_model) > MAX_EXACT
    point = aggregate_rankings(observed, approximate=approximate)
    rng = np.random.default_rng(seed)
    ranks = np.full((rounds, len(every_model)), np.nan)
    borda = np.full((rounds, len(every_model)), np.nan)
    index = {m: k for k, m in enumerate(every_model)}
    for b in range(rounds):
        sample = pd.concat([_resampled_scores(run, rng).assign(task=name) for name, run in zip(names, runs)],
                           ignore_index=True)
        sample = sample[pd.to_numeric(sample["score"], errors="coerce").notna()][["task", "model", "score"]]
        combined = aggregate_rankings(sample, approximate=approximate)
        for row in combined.itertuples():
            ranks[b, index[str(row.model)]] = row.kemeny_rank
            borda[b, index[str(row.model)]] = row.borda
    table = _table(point, every_model, ranks, borda, observed, names)
    tasks = pd.DataFrame([{
        "task": name, "run": str(run.directory), "protocol": (run.manifest.get("protocol") or {}).get("name"),
        "items": len({v.item_id for v in run.verdicts}), "models": len(run.models),
        "complete": run.complete,
    } for name, run in zip(names, runs)])
    notes = [f"{name}: the run is incomplete; its ranking rests on the verdicts it has"
             for name, run in zip(names, runs) if not run.complete]
    missing = table[table["missing_tasks"] > 0]
    if len(missing):
        notes.append(f"{len(missing)} model(s) missing from some task: their points count only the tasks they are in "
                     f"({', '.join(f'{r.model}: {r.missing_from}' for r in missing.itertuples())})")
    return Leaderboard(table=table, tasks=tasks, rounds=rounds, kemeny=str(point.attrs.get("kemeny", "exact")),
                       notes=notes)


def _resampled_scores(run: StoredRun, rng: np.random.Generator) -> pd.DataFrame:
    """model, score of the run's protocol on one draw of its items with replacement."""
    by_item: dict[str, list[Verdict]] = {}
    for v in run.verdicts:
        by_item.setdefault(v.item_id, []).append(v)
    ids = sorted(by_item)
    drawn = rng.integers(0, len(ids), size=len(ids))
    verdicts = [
        v.model_copy(update={"item_id": f"{ids[i]}#{k}", "request_id": f"{v.request_id}#{k}",
                             "request_key": f"{v.request_key}#{k}"})
        for k, i in enumerate(drawn) for v in by_item[ids[i]]
    ]
    return run.scores_of(verdicts)[["model", "score"]]


def _table(point: pd.DataFrame, models: list[str], ranks: np.ndarray, borda: np.ndarray,
           observed: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"model": models}).merge(point[["model", "kemeny_rank", "borda"]], on="model", how="left")
    table = table.rename(columns={"kemeny_rank": "rank"})
    with np.errstate(all="ignore"):
        for column, values in (("rank", ranks), ("borda", borda)):
            finite = np.isfinite(values).any(axis=0)
            low = np.full(len(models), np.nan)
            high = np.full(len(models), np.nan)
            if finite.any():
                low[finite], high[finite] = np.nanquantile(values[:, finite], [0.025, 0.975], axis=0)
            table[f"{column}_ci_low"], table[f"{column}_ci_high"] = low, high
    present = observed.groupby("model")["task"].apply(set)
    table["tasks"] = [len(present.get(m, set())) for m in models]
    table["missing_tasks"] = len(names) - table["tasks"]
    table["missing_from"] = ["; ".join(t for t in names if t not in present.get(m, set())) for m in models]
    for name in names:
        scores = observed[observed["task"] == name].set_index("model")["score"].astype(float)
        order = scores.rank(ascending=False, method="min")
        table[f"rank:{name}"] = table["model"].map(order).astype("Int64")
        table[f"score:{name}"] = table["model"].map(scores)
    table["rank"] = table["rank"].astype("Int64")
    table = table.sort_values(["rank", "borda", "model"], ascending=[True, False, True], na_position="last")
    table = table[[*COLUMNS, *[c for c in table.columns if c not in COLUMNS]]].reset_index(drop=True)
    table = blank_zero_width(table, "rank_ci_low", "rank_ci_high", note="rank_note")
    return blank_zero_width(table, "borda_ci_low", "borda_ci_high", note="borda_note")
