"""`harness check BASELINE_RUN NEW_RUN --model NAME`: a regression gate for CI pipelines.

A separate command rather than a mode of `harness compare`: compare describes how runs agree and
always exits 0 when it could compare; a gate's exit code *is* its answer (EXIT_REGRESSION), and a
pipeline must be able to tell "worse" from "could not tell" (1, incomplete run) and "wrong
arguments" (2).

The model's score in NEW_RUN is set against its score in BASELINE_RUN overall and in every item
category (scores.csv, scores_by_category.csv: the protocol's own score with its item-bootstrap
interval). Significantly worse: a one-sided z test on the difference, each run's standard error
read from its 95% interval, the p-values of all scopes Holm-adjusted together. The two runs'
intervals are treated as independent; when they share items this overstates the variance, so the
test errs towards passing (it never calls noise a regression more often than alpha says). A scope
with fewer than MIN_ITEMS items in either run, or without an interval, is not tested for
significance (said in its row), as everywhere in harness. `--threshold X` also fails the gate
wherever the model's new score is below X (the point estimate; no test needed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.by_category import MIN_ITEMS, SCORES_BY_CATEGORY_FILE
from harness.errors import BadInput

#: The exit code of a failed gate: the model is significantly worse, or below the threshold.
EXIT_REGRESSION = 3
Z95 = 1.959963984540054
OVERALL = "(overall)"
COLUMNS = ["scope", "items", "baseline", "baseline_ci_low", "baseline_ci_high", "new", "new_ci_low", "new_ci_high",
           "diff", "p_value", "p_adjusted", "verdict"]


@dataclass
class Score:
    score: float
    low: float
    high: float
    items: int


def add_parser(commands: Any) -> None:
    check = commands.add_parser("check", help="regression gate: exit 3 when a model got significantly worse "
                                              "(or fell below --threshold) overall or in any category")
    check.add_argument("baseline", metavar="BASELINE_RUN", help="the run directory to compare against")
    check.add_argument("new", metavar="NEW_RUN", help="the run directory of the candidate")
    check.add_argument("--model", required=True, help="the model to gate (named in both runs)")
    check.add_argument("--threshold", type=float, metavar="SCORE",
                       help="also fail where the model's new score is below SCORE (overall or any category)")
    check.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm (default 0.05)")
    check.add_argument("--out", metavar="FILE", help="also write the table as CSV (or JSON when FILE ends in .json)")


def check_command(args: argparse.Namespace) -> int:
    """Print the gate's table and its one-line verdict; the exit code says pass (0), regression
    (EXIT_REGRESSION), or incomplete runs that cannot gate (1)."""
    if not 0.0 < args.alpha < 1.0:
        raise BadInput("--alpha must lie strictly between 0 and 1")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise BadInput(f"--threshold {args.threshold}: must be a finite score")  # nan: no score is below it
    baseline, new = Path(args.baseline), Path(args.new)
    incomplete = [str(d) for d in (baseline, new) if not _complete(d)]
    if incomplete:
        print(f"harness: check: cannot gate: {', '.join(incomplete)} is incomplete (see its run.json completeness); "
              "finish it with the same `harness run` command and --out first", file=sys.stderr)
        return 1
    table = gate_table(baseline, new, args.model, threshold=args.threshold, alpha=args.alpha)
    _print(table)
    if args.out:
        _write(table, Path(args.out))
    failed = table[table["verdict"].str.startswith(("worse", "below"))]
    if len(failed):
        scopes = ", ".join(f"{r.scope} ({r.verdict})" for r in failed.itertuples())
        print(f"harness: check: regression: {args.model} in {scopes}", file=sys.stderr)
        return EXIT_REGRESSION
    tested = int(table["p_value"].notna().sum())
    scored = int(table["new"].notna().sum())  # scopes the threshold could be held against
    if not tested and (args.threshold is None or not scored):
        print(f"harness: check: cannot tell: no scope of {args.model} could be tested (see the verdicts: "
              f"fewer than 20 items, no interval, or no score){'' if args.threshold is None else ', and none has a new score'}",
              file=sys.stderr)
        return 1
    untested = len(table) - tested
    print(f"harness: check: passed: {args.model} is not significantly worse in {tested} tested scope(s)"
          + (f" ({untested} not tested: see the table)" if untested else "")
          + (f" and not below {args.threshold:g} in the {scored} scope(s) with a new score"
             + (f" ({len(table) - scored} without one)" if scored < len(table) else "")
             if args.threshold is not None else ""))
    return 0


def gate_table(baseline: Path, new: Path, model: str, *, threshold: float | None, alpha: float) -> Any:
    """One row per scope (overall, then each category of either run): both scores with their
    intervals, the difference, the p-values and the verdict."""
    import pandas as pd

    from harness.stats.significance import holm

    old_scores, new_scores = read_scores(baseline, model), read_scores(new, model)
    protocols = {_protocol(baseline), _protocol(new)}
    if len(protocols) > 1:
        raise BadInput(f"check: the runs use different protocols ({', '.join(sorted(map(str, protocols)))}); "
                       "their scores are not on one scale")
    filters = {json.dumps(_manifest(run).get("category_filter") or []) for run in (baseline, new)}
    if len(filters) > 1:
        raise BadInput("check: the runs cover different categories (run.json category_filter); "
                       "their overall scores are not comparable")
    rows = []
    for scope in [OVERALL, *sorted((set(old_scores) | set(new_scores)) - {OVERALL})]:
        old, cur = old_scores.get(scope), new_scores.get(scope)
        rows.append({"scope": scope, "items": min(s.items for s in (old, cur) if s) if old or cur else 0,
                     "baseline": _get(old, "score"), "baseline_ci_low": _get(old, "low"),
                     "baseline_ci_high": _get(old, "high"), "new": _get(cur, "score"), "new_ci_low": _get(cur, "low"),
                     "new_ci_high": _get(cur, "high"), "p_value": _p_worse(old, cur), "why": _untested(old, cur)})
    table = pd.DataFrame(rows)
    table["diff"] = table["new"] - table["baseline"]
    table["p_adjusted"] = holm(table["p_value"].to_numpy(float))
    table["verdict"] = [_verdict(r, threshold, alpha) for r in table.itertuples()]
    return table[COLUMNS]


def read_scores(run: Path, model: str) -> dict[str, Score]:
    """The model's score overall and per category in a run directory."""
    from harness.running.result_tables import read_result_table

    scores_file = run / "scores.csv"
    if not (run / "run.json").is_file() or not scores_file.is_file():
        raise BadInput(f"{run}: not a finished run directory (needs run.json and scores.csv)")
    scores = read_result_table(scores_file, required=("model", "score", "ci_low", "ci_high"))
    if model not in set(scores["model"].astype(str)):
        raise BadInput(f"--model {model!r}: not in {scores_file} (models: {', '.join(sorted(scores['model'].astype(str)))})")
    row = scores[scores["model"].astype(str) == model].iloc[0]
    # read_result_table blanks an interval of zero width (an older harness's file, or another
    # tool's): no test rests on a standard error of zero, and none is printed
    judged = _judged_items(run, model)
    found = {OVERALL: Score(float(row["score"]), float(row["ci_low"]), float(row["ci_high"]), len(judged))}
    by_category = run / SCORES_BY_CATEGORY_FILE
    if by_category.is_file():
        table = read_result_table(by_category, required=("category", "model", "score", "ci_low", "ci_high", "items"),
                                  key=("category", "model"))
        for r in table[table["model"].astype(str) == model].itertuples():
            # the category's items the model has a usable verdict on (its `items` counts the category's)
            items = sum(1 for category in judged.values() if category == str(r.category))
            found[str(r.category)] = Score(float(r.score), float(r.ci_low), float(r.ci_high), items)
    return found


def _judged_items(run: Path, model: str) -> dict[str, str | None]:
    """The items the model's scores rest on, with each one's category: those with an ok verdict
    about the model in the exported verdicts (each line checked as `harness report` checks it).
    Not the run's items: a model answering 3 of 24 items has a score resting on 3."""
    from harness.by_category import recorded_categories
    from harness.running.completeness import models_named
    from harness.store import read_verdict_lines

    path = run / "verdicts.jsonl"
    if not path.is_file():
        raise BadInput(f"{run}: not a finished run directory (needs verdicts.jsonl)")
    categories = recorded_categories(_manifest(run), [])  # run.json's record; else each verdict's own below
    judged: dict[str, str | None] = {}
    for record in read_verdict_lines(path):
        data = record.get("data") or {}
        if record.get("status") == "ok" and model in models_named(data):
            item = str(record.get("item_id"))
            judged[item] = categories.get(item, data.get("category"))
    return judged


def _manifest(run: Path) -> dict[str, Any]:
    from harness.store import read_manifest_file

    if not (run / "run.json").is_file():
        raise BadInput(f"{run}: not a run directory (no run.json)")
    return read_manifest_file(run / "run.json")  # not an object: bad input, not an incomplete run


def _protocol(run: Path) -> Any:
    return (_manifest(run).get("protocol") or {}).get("name")


def _complete(run: Path) -> bool:
    return bool((_manifest(run).get("completeness") or {}).get("complete", False))


def _get(score: Score | None, field: str) -> float:
    return float(getattr(score, field)) if score is not None else math.nan


def _untested(old: Score | None, cur: Score | None) -> str:
    """Why a scope gets no significance test ("" when it gets one)."""
    if old is None or cur is None:
        return f"not tested: absent from the {'baseline' if old is None else 'new'} run"
    if math.isnan(old.score) or math.isnan(cur.score):
        return "not tested: no score in " + ("the baseline" if math.isnan(old.score) else "the new run")
    if min(old.items, cur.items) < MIN_ITEMS:
        return f"not tested: {min(old.items, cur.items)} items, fewer than {MIN_ITEMS}"
    if any(math.isnan(x) for x in (old.low, old.high, cur.low, cur.high)):
        return "not tested: no interval"
    return ""


def _p_worse(old: Score | None, cur: Score | None) -> float:
    """One-sided p-value that the new score is lower (NaN when untested)."""
    if _untested(old, cur):
        return math.nan
    assert old is not None and cur is not None
    se = math.hypot((old.high - old.low) / (2 * Z95), (cur.high - cur.low) / (2 * Z95))
    return 0.5 * math.erfc(-((cur.score - old.score) / se) / math.sqrt(2))


def _verdict(row: Any, threshold: float | None, alpha: float) -> str:
    if threshold is not None and not math.isnan(row.new) and row.new < threshold:
        return f"below threshold {threshold:g}"
    if not math.isnan(row.p_adjusted) and row.p_adjusted < alpha:
        return "worse (significant)"
    return row.why or "ok"


def _print(table: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    shown = Table(title="regression gate (one-sided, Holm-adjusted over scopes)")
    for column in ("scope", "items", "baseline [CI]", "new [CI]", "diff", "p (Holm)", "verdict"):
        shown.add_column(column, justify="left" if column in ("scope", "verdict") else "right")
    for r in table.itertuples():
        shown.add_row(escape(str(r.scope)), str(r.items), _interval(r.baseline, r.baseline_ci_low, r.baseline_ci_high),
                      _interval(r.new, r.new_ci_low, r.new_ci_high), _number(r.diff),
                      "-" if math.isnan(r.p_adjusted) else f"{r.p_adjusted:.3g}", escape(r.verdict))
    Console(width=160).print(shown)


def _interval(score: float, low: float, high: float) -> str:
    from harness.stats.intervals import apart_digits

    if math.isnan(score):
        return "-"
    if math.isnan(low) or math.isnan(high):
        return f"{score:.1f} [-]"
    shown = apart_digits(low, high, 1)  # a narrow interval's ends print apart
    return f"{score:.{shown}f} [{low:.{shown}f}, {high:.{shown}f}]"


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _write(table: Any, path: Path) -> None:
    from harness.store import frame_to_csv

    text = table.to_json(orient="records", indent=1) if path.suffix == ".json" else frame_to_csv(table)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:  # a typo in the path is bad input (2), never "could not tell" (1)
        raise BadInput(f"--out {path}: cannot write the table ({exc.strerror})") from None
