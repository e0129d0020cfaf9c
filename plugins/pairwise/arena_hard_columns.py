"""Arena-Hard-Auto's scores as columns of a pairwise run (`options.arena_hard`).

The harness's own rating and Arena-Hard's published score answer the same question with
different conventions (harness.stats.arena_hard_score says which); these columns are Arena-Hard's,
computed from the run's verdicts against its one baseline, so a user can read them beside the
published tables. Each column is named for Arena-Hard, never for another tool's method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.models import Verdict
from harness.stats.arena_hard_score import STYLE, Games, v01_scores, v2_scores
from harness_plugins.pairwise.config import PairwiseConfig

#: scores.csv column -> (what it is, the control of v01_scores or "v2").
COLUMNS: dict[str, tuple[str, str | None]] = {
    "arena_hard_score": ("Arena-Hard v0.1 score (no control)", None),
    "arena_hard_style": ("Arena-Hard v0.1 style-controlled score", "style"),
    "arena_hard_length": ("Arena-Hard v0.1 length-controlled score (length only)", "length"),
    "arena_hard_markdown": ("Arena-Hard v0.1 markdown-controlled score (markdown only)", "markdown"),
    "arena_hard_v2": ("Arena-Hard v2.0 score", "v2"),
}
#: The printed table's columns (scores.csv has every one of COLUMNS).
SHOWN = {"Arena-Hard": "arena_hard_score", "Arena-Hard SC": "arena_hard_style"}
#: Model-side outcome of a level stored from position A's side, by who was A.
_AS_A = {"A>>B": "win_much", "A>B": "win", "A=B": "tie", "B>A": "lose", "B>>A": "lose_much"}
_AS_B = {"A>>B": "lose_much", "A>B": "lose", "A=B": "tie", "B>A": "win", "B>>A": "win_much"}


@dataclass
class ArenaHardColumns:
    table: pd.DataFrame | None  # model + the COLUMNS computed
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def games_frame(verdicts: list[Verdict], baseline: str) -> pd.DataFrame:
    """One row per parsed game against `baseline`: item, model, outcome (model's side), game
    (1: baseline shown first), and Arena-Hard's style counts of both answers when stored."""
    rows = []
    for v in verdicts:
        d = v.data
        if v.status != "ok" or baseline not in (d.get("model_a"), d.get("model_b")):
            continue
        model_is_a = d["model_b"] == baseline
        row: dict[str, Any] = {
            "item_id": v.item_id, "model": d["model_a"] if model_is_a else d["model_b"],
            "outcome": (_AS_A if model_is_a else _AS_B)[d["level"]], "game": 2 if model_is_a else 1,
        }
        mine, theirs = (d.get("style_a"), d.get("style_b")) if model_is_a else (d.get("style_b"), d.get("style_a"))
        for f in STYLE:
            row[f"model_{f}"] = (mine or {}).get(f, np.nan)
            row[f"base_{f}"] = (theirs or {}).get(f, np.nan)
        rows.append(row)
    columns = ["item_id", "model", "outcome", "game", *(f"{s}_{f}" for f in STYLE for s in ("model", "base"))]
    return pd.DataFrame(rows, columns=columns)


def arena_hard_columns(verdicts: list[Verdict], config: PairwiseConfig) -> ArenaHardColumns | None:
    """The columns, or None when not asked for; notes say what could not be computed and why."""
    if not config.arena_hard:
        return None
    if len(config.baselines) != 1:
        return ArenaHardColumns(None, notes=[
            f"Arena-Hard scores: not computed: they are win probabilities against one baseline, and the run has "
            f"{len(config.baselines) or 'no'} baselines ({', '.join(config.baselines) or 'all pairs'}); Arena-Hard "
            "shows one category (one baseline) at a time: import that category's files alone"])
    baseline = config.baselines[0]
    frame = games_frame(verdicts, baseline)
    if frame.empty:
        return ArenaHardColumns(None, notes=[f"Arena-Hard scores: not computed: no parsed game against {baseline}"])
    self_games = {int(k): {_AS_A[level]: float(n) for level, n in counts.items()}
                  for k, counts in config.arena_hard_self_games.get(baseline, {}).items()}
    weight = config.strong_weight
    table = pd.DataFrame({"model": sorted(set(frame["model"]) | {baseline})}).set_index("model")
    summary: dict[str, Any] = {"baseline": baseline, "strong_weight": weight}
    notes: list[str] = []
    table["arena_hard_score"] = v01_scores(Games(frame, baseline, self_games), weight=weight)[0]
    table["arena_hard_v2"] = v2_scores(Games(frame, baseline), weight=weight)
    styled = frame.dropna(subset=[f"{s}_{f}" for f in STYLE for s in ("model", "base")])
    unstyled = sorted(set(frame["model"]) - set(styled["model"]))
    partial = sorted(set(styled["model"]) & set(frame.loc[frame.index.difference(styled.index), "model"]))
    if styled.empty:
        notes.append("Arena-Hard style, length and markdown control: not computed: the verdicts carry no Arena-Hard "
                     "token counts (import with --answers and Arena-Hard's answer files, whose conv_metadata has them)")
    else:
        coefficients = {}
        for column, (_, control) in COLUMNS.items():
            if control in (None, "v2"):
                continue
            scores, coefs = v01_scores(Games(styled, baseline, self_games), control, weight=weight)
            table[column] = scores
            coefficients[column] = {k: round(v, 6) for k, v in coefs.items()}
        summary["style_coefficients"] = coefficients
        if unstyled or partial:
            notes.append("Arena-Hard style control left out the battles without both answers' style features ("
                         + "; ".join(filter(None, [f"all of {', '.join(unstyled)}" if unstyled else "",
                                                   f"some of {', '.join(partial)}" if partial else ""]))
                         + "), as Arena-Hard's code cannot fit them either")
    if self_games:
        summary["self_games"] = int(sum(sum(c.values()) for c in self_games.values()))
    return ArenaHardColumns(table.reset_index(), summary=summary, notes=notes)
