"""Pairwise numbers: WB-Reward with item-bootstrap intervals, Bradley-Terry ranking, and the
judge's position behaviour (consistency across orders, first-position win rate)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import BadInput
from harness.models import Verdict
from harness.protocol import Aggregate
from harness.protocol.verdict_columns import (
    MISSING,
    Absent,
    VerdictColumns,
    kept_columns,
    present,
    release_columns,
    verdict_columns,
)
from harness.stats.bootstrap import bootstrap_group_means
from harness.stats.bradley_terry import bradley_terry_table
from harness.stats.bt_prior import PRIOR_TIES
from harness.stats.preference import (
    A_WINS,
    B_WINS,
    REWARD_A,
    SLIGHT,
    adjust_distribution,
    apply_length_rule,
    battle_mass,
    expected_reward_a,
    expected_share_a,
    position_consistency,
)
from harness.stats.preference_columns import distribution_values
from harness_plugins.pairwise.arena_hard_columns import COLUMNS as ARENA_HARD_COLUMNS
from harness_plugins.pairwise.arena_hard_columns import SHOWN as ARENA_HARD_SHOWN
from harness_plugins.pairwise.arena_hard_columns import arena_hard_columns
from harness_plugins.pairwise.config import PairwiseConfig


def prior_ties(config: PairwiseConfig) -> float:
    """Virtual ties per model (bt_prior.shared_ties): the task's `prior_ties`, else one."""
    return design_prior_ties(config.prior_ties)


def design_prior_ties(value: float | None) -> float:
    """The prior of a run from its recorded `prior_ties` (None: the default, one virtual tie per
    model for every design), so that the report's significance tests refit Bradley-Terry with
    the prior the aggregate used. Tournaments once needed a tenth of a tie per pair; the prior
    shared per model covers as well at every design (bench/bt_coverage.py)."""
    return PRIOR_TIES if value is None else float(value)


#: Each level's position on the scale (REWARD_A's order), and its WB-Reward by that position.
LEVEL_CODES = {level: code for code, level in enumerate(REWARD_A)}
HARD_REWARDS = np.array(list(REWARD_A.values()), dtype=np.int64)

#: The gathered verdict columns only the battles and style control read.
PAIRWISE_FIELDS = ("request_id", "model", "model_a", "model_b", "level", "len_a", "len_b", "probs", "length_unknown",
                   "style_a", "style_b")
OUTCOME_COLUMNS = {100: "win_much", 50: "win", 0: "tie", -50: "lose", -100: "lose_much"}
SCORE_COLUMNS = [
    "model", "score", "ci_low", "ci_high", "n", "wb_reward", "expected_reward", "win_rate",
    "win_much", "win", "tie", "lose", "lose_much", "invalid", "failed",
]


def judged_battles(verdicts: list[Verdict], config: PairwiseConfig) -> pd.DataFrame:
    """One row per parsed verdict, the length rule applied, from position A's side.

    Each verdict is a distribution over the five levels: a point mass at the parsed level, or,
    with `soft`, the judge's logprob distribution when it has one. `reward_a` (used for the
    score) and the Bradley-Terry win/loss mass are expectations under it; `hard_reward_a` is
    always the parsed verdict's (WB-Reward), `expected_a` always the distribution's.
    """
    columns = ["item_id", "request_id", "model_a", "model_b", "raw_level", "level", "hard_reward_a", "share_a",
               "len_a", "len_b", "length_known", "reward_a", "expected_a", "bt_score_a", "bt_weight", "soft_fallback"]
    table = verdict_columns(verdicts)
    pick = judged_positions(table)
    count = len(table) if pick is None else len(pick)
    if not count:
        return pd.DataFrame([], columns=columns)

    def judged(column: Sequence[Any], required: str | None = None) -> Sequence[Any]:
        """The column's values of the ok verdicts; `required`: a data field every one must have."""
        values = of_judged(column, pick)
        if required is not None and MISSING in values:
            raise KeyError(required)
        return values

    # A verdict without a distribution is a point mass at its level: what it is worth depends on
    # the level alone, so it is computed once per level (by the same functions, so the same floats).
    # The distributions are computed as columns (harness.stats.preference_columns, the same floats
    # as one call per verdict), and the table is built column by column, not row by row.
    point = np.array([(expected_share_a({level: 1.0}), expected_reward_a({level: 1.0}),
                       *battle_mass({level: 1.0}, config.strong_weight)) for level in REWARD_A])
    model_a, model_b = judged(table.model_a, "model_a"), judged(table.model_b, "model_b")
    len_a, len_b, raw = judged(table.len_a, "len_a"), judged(table.len_b, "len_b"), judged(table.level, "level")
    k = config.length_k
    # the rule changes only the slight levels (A>B, B>A): the others pass without a call
    level = [apply_length_rule(lvl, a, b, k) if lvl in SLIGHT else lvl
             for lvl, a, b in zip(raw, len_a, len_b)] if k >= 0 else raw
    probs = judged(table.probs)  # MISSING is false, as None is
    soft = ([adjust_distribution(p, a, b, k) if p else None for p, a, b in zip(probs, len_a, len_b)] if k >= 0
            else [(p if p.__class__ is dict else dict(p)) if p else None for p in probs])  # read, never changed
    # rows with a distribution, as an index array (a list of a million ints held 36 bytes a row)
    with_soft = np.flatnonzero(np.fromiter(map(bool, soft), dtype=bool, count=len(soft)))
    values = distribution_values([s for s in soft if s], config.strong_weight)
    # each row's point-mass values looked up by its level's position on the scale (KeyError as before)
    codes = np.fromiter(map(LEVEL_CODES.__getitem__, level), dtype=np.intp, count=len(level))
    share_a, reward_a, bt_score_a, bt_weight = (point[codes, column] for column in range(4))
    expected_a = np.full(count, np.nan)
    expected_a[with_soft] = values.reward_a
    if config.soft:
        for target, source in ((share_a, values.share_a), (reward_a, values.reward_a),
                               (bt_score_a, values.bt_score_a), (bt_weight, values.bt_weight)):
            target[with_soft] = source
    # text columns as object arrays of the verdicts' own strings: pandas' default string columns
    # copy every text into Arrow and make new objects of them whenever they are read back (60 MB per
    # column at a million), and the names and levels are held once each
    cols = {
        "item_id": _texts(judged(table.item_id)), "request_id": _texts(judged(table.request_id)),
        "model_a": _texts(model_a), "model_b": _texts(model_b),
        "raw_level": _texts(raw), "level": _texts(level), "hard_reward_a": HARD_REWARDS[codes], "share_a": share_a,
        "len_a": len_a, "len_b": len_b, "length_known": _length_known(judged(table.length_unknown)),
        "reward_a": reward_a, "expected_a": expected_a, "bt_score_a": bt_score_a, "bt_weight": bt_weight,
        "soft_fallback": [bool(config.soft and not s) for s in soft],
    }
    return pd.DataFrame(cols, columns=columns, copy=False)


def judged_positions(table: VerdictColumns) -> list[int] | None:
    """The positions of the judged (ok) verdicts, or None when every verdict is judged."""
    return None if table.all_ok() else table.ok_positions()


def of_judged(column: Sequence[Any], pick: list[int] | None) -> Sequence[Any]:
    """A gathered column's values at `pick` (judged_positions), or the column itself for None."""
    return column if pick is None else list(map(column.__getitem__, pick))


def _texts(values: Sequence[Any]) -> pd.Series:
    """A column of texts as an object column holding the same string objects (pandas would make
    it a `str` column: a copy of every text)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return pd.Series(array, dtype=object, copy=False)


def _length_known(unknown: Sequence[Any]) -> list[bool]:
    """Whether each verdict's answer lengths are known: not when its data says length_unknown."""
    if unknown.count(MISSING) == len(unknown):  # the usual case: no verdict says so
        return [True] * len(unknown)
    return [not (flag if flag is not MISSING else False) for flag in unknown]


class JudgedRows:
    """The judged battles of one list of verdicts, kept so that a subset of it (a category's
    verdicts) takes its rows from them instead of computing them again: each row depends on its
    own verdict alone, so the subset's rows are judged_battles of the subset."""

    def __init__(self, verdicts: list[Verdict], battles: pd.DataFrame):
        self.verdicts = verdicts  # held, so the ids below stay those of these verdicts
        self.battles = battles
        # each judged verdict's identity, sorted, and its row: two arrays (16 bytes a row) where a
        # dict of them held 140 bytes a row, 140 MB at a million verdicts
        ids = _identities(verdicts)
        self.order = np.argsort(ids, kind="stable")
        self.ids = ids[self.order]

    def of(self, subset: list[Verdict]) -> pd.DataFrame | None:
        """The battles of `subset`, or None when one of its verdicts is not among the kept ones."""
        wanted = _identities(subset)
        at = np.searchsorted(self.ids, wanted)
        found = at < len(self.ids)
        if not found.all() or not (self.ids[at] == wanted).all():
            return None
        return self.battles.iloc[self.order[at]].reset_index(drop=True)


def _identities(verdicts: list[Verdict]) -> np.ndarray:
    """The judged (ok) verdicts' object identities, in order, as integers (their statuses read
    from the gathered columns when shared: an identity needs no visit to the object)."""
    table = kept_columns(verdicts)
    if table is None:
        return np.fromiter((id(v) for v in verdicts if v.status == "ok"), dtype=np.uint64)
    judged = of_judged(verdicts, judged_positions(table))
    return np.fromiter(map(id, judged), dtype=np.uint64, count=len(judged))


def soft_fallbacks(battles: pd.DataFrame, models: list[str]) -> dict[str, Any]:
    """With `soft`: the verdicts that had no logprobs and count as their parsed level (a point
    mass), in all and per model (each verdict counts for both its models), so a soft score says
    what it rests on (deepeval #1029: a weighted score must not fall back silently)."""
    fell = battles[battles["soft_fallback"].astype(bool)]
    per_model = {m: int(((fell["model_a"] == m) | (fell["model_b"] == m)).sum()) for m in models}
    return {"verdicts": int(len(fell)), "of": int(len(battles)), "by_model": per_model}


LC_COLUMNS = {"lc_win_rate": "length_controlled_win_rate", "lc_ci_low": "lc_ci_low", "lc_ci_high": "lc_ci_high"}


def length_controlled(frame: pd.DataFrame | None, config: PairwiseConfig) -> pd.DataFrame | None:
    """AlpacaEval's length-controlled win rate of every model against the one baseline (0-100).

    Only with exactly one baseline and every answer's length known; None otherwise. The GLM has
    one row per (model, instruction), as AlpacaEval's: both answer orders of an item count once,
    with their mean preference, so judging both orders does not weaken its regularisation.
    `frame`: the GLM's rows, baseline_frame(battles, config).
    """
    if frame is None:
        return None
    from harness.stats.length_control import length_controlled_win_rates
    from harness.stats.memo import remembered_frame

    def compute() -> pd.DataFrame:
        table = length_controlled_win_rates(frame, n_bootstrap=config.n_bootstrap, seed=config.seed)
        return table[["model", *LC_COLUMNS]].rename(columns=LC_COLUMNS).reset_index(drop=True)

    # 57,000 bootstrap fits at 46k verdicts: an aggregate again with other options reads them back
    return remembered_frame("length_controlled", (frame, config.n_bootstrap, config.seed), compute,
                            code=(__name__, "harness.stats.length_control", "harness.stats.soft_logistic"))


def baseline_frame(battles: pd.DataFrame, config: PairwiseConfig) -> pd.DataFrame | None:
    """The GLMs' rows: one per (model, instruction) against the one baseline, in first-appearance
    order (an import's file order: AlpacaEval's instruction index), both answer orders of an item
    as their mean preference. None without exactly one baseline or with an answer's length unknown."""
    if len(config.baselines) != 1 or battles.empty or not battles["length_known"].all():
        return None
    baseline = config.baselines[0]
    a_is_base, b_is_base = battles["model_a"] == baseline, battles["model_b"] == baseline
    against = a_is_base ^ b_is_base
    vs_base = battles if against.all() else battles[against]  # no copy of a million rows when all are
    if vs_base.empty:
        return None
    base_a = (vs_base["model_a"] == baseline).to_numpy()
    frame = pd.DataFrame({
        "model": np.where(base_a, vs_base["model_b"], vs_base["model_a"]),
        "item_id": vs_base["item_id"].to_numpy(),
        "p": np.where(base_a, 1.0 - vs_base["share_a"], vs_base["share_a"]),
        "len_model": np.where(base_a, vs_base["len_b"], vs_base["len_a"]),
        "len_baseline": np.where(base_a, vs_base["len_a"], vs_base["len_b"]),
    })
    return frame.groupby(["model", "item_id"], as_index=False, sort=False).agg(
        p=("p", "mean"), len_model=("len_model", "first"), len_baseline=("len_baseline", "first"))


def length_notes(battles: pd.DataFrame, config: PairwiseConfig) -> list[str]:
    """What verdicts without their answers' lengths leave out, said: the length-controlled win
    rate (its GLM needs every length; its columns are then absent) and the K rule (not applied to
    them)."""
    unknown = int((~battles["length_known"].astype(bool)).sum()) if len(battles) else 0
    if not unknown:
        return []
    of = f"{unknown} of {len(battles)} verdicts"
    notes = []
    if len(config.baselines) == 1:
        notes.append(f"length-controlled win rate: not computed: the answer lengths of {of} are unknown")
    if config.length_k >= 0:
        notes.append(f"length_k {config.length_k}: not applied to the {of} whose answer lengths are unknown")
    return notes


def alpaca_eval_length_controlled(frame: pd.DataFrame | None, config: PairwiseConfig) -> tuple[pd.DataFrame, str] | None:
    """AlpacaEval's LC win rate as AlpacaEval's code computes it (harness.stats.alpaca_glm), with a
    note saying whether its gamed-baseline term was fitted; None unless asked for and computable.
    `frame`: the GLM's rows, baseline_frame(battles, config)."""
    if not config.alpaca_eval_lc or frame is None:
        return None
    from harness.stats.alpaca_glm import alpaca_eval_lc, is_gamed_baseline, several_models
    from harness.stats.memo import remembered_frame

    baseline = config.baselines[0]

    def compute() -> pd.DataFrame:
        table = (alpaca_eval_lc(frame, baseline, difficulty_fit="l1", slope="own") if config.alpaca_eval_lc_exact
                 else alpaca_eval_lc(frame, baseline))
        return table[["model", "lc_win_rate"]].reset_index(drop=True)

    try:
        table = remembered_frame("alpaca_eval_lc", (frame, baseline, config.alpaca_eval_lc_exact), compute,
                                 code=(__name__, "harness.stats.alpaca_glm", "harness.stats.length_control",
                                       "harness.stats.soft_logistic"))
    except np.linalg.LinAlgError:
        # its unpenalised joint fit has no finite optimum when the verdicts separate perfectly
        # (every model beats the baseline on every item, say): no number, said, never a crash
        models = sorted(str(m) for m in frame["model"].unique())
        return (pd.DataFrame({"model": models, "alpaca_eval_lc": np.nan}),
                "AlpacaEval LC (its GLM): not computed: its fit has no finite optimum on these verdicts (they "
                "separate perfectly, e.g. a model won every one); the harness's own length-controlled win rate "
                "stands")
    gamed = sorted(str(m) for m in frame["model"].unique() if is_gamed_baseline(str(m), baseline))
    models = frame["model"].nunique()
    several = several_models(frame, baseline)
    note = ("AlpacaEval LC (its GLM): "
            + (f"instruction difficulty fitted on the {models} models of this run "
               "(AlpacaEval's on its leaderboard's models); " if several else
               "no instruction difficulty (one model: fitted on its own verdicts it would absorb them); ")
            + (f"gamed-baseline term fitted from {', '.join(gamed)}" if gamed else
               f"no gamed-baseline term (import {baseline}_verbose and {baseline}_concise annotations for it: "
               "AlpacaEval's published numbers use it)"
               + ("; in its place each model's length slope is pulled toward the run's pooled slope"
                  if several and not config.alpaca_eval_lc_exact else "")))
    if config.alpaca_eval_lc_exact:
        note += "; fitted in every part as AlpacaEval's code fits it (alpaca_eval_lc_exact: L1 difficulty, own slopes)"
    return table[["model", "lc_win_rate"]].rename(columns={"lc_win_rate": "alpaca_eval_lc"}), note


def per_model_rows(battles: pd.DataFrame) -> pd.DataFrame:
    """Each battle twice, once from each model's side."""
    side_a = pd.DataFrame({
        "item_id": battles["item_id"], "model": battles["model_a"], "reward": battles["reward_a"],
        "hard": battles["hard_reward_a"], "expected": battles["expected_a"], "share": battles["share_a"],
    })
    side_b = pd.DataFrame({
        "item_id": battles["item_id"], "model": battles["model_b"], "reward": -battles["reward_a"],
        "hard": -battles["hard_reward_a"], "expected": -battles["expected_a"], "share": 1.0 - battles["share_a"],
    })
    return pd.concat([side_a, side_b], ignore_index=True)


def distinct_models(battles: pd.DataFrame) -> set[Any]:
    """The models the battles name: each column's distinct values, where stacking the two columns
    built a million-row index for the same answer (100 MB at a million battles)."""
    named = set(battles["model_a"].unique()) | set(battles["model_b"].unique())
    return {m for m in named if not pd.isna(m)}  # as nunique, which counts no missing value


def bradley_terry_battles(battles: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": battles["item_id"], "model_a": battles["model_a"], "model_b": battles["model_b"],
        "score_a": battles["bt_score_a"], "weight": battles["bt_weight"],
    })


def position_stats(battles: pd.DataFrame) -> dict[str, Any]:
    """How the judge treats positions: agreement across the two orders and first-position wins."""
    n = len(battles)
    stats: dict[str, Any] = {"judged": n}
    if n == 0:
        return stats
    raw = battles["raw_level"]
    stats["first_position_win_rate"] = round(float(raw.isin(A_WINS).mean()), 6)
    stats["second_position_win_rate"] = round(float(raw.isin(B_WINS).mean()), 6)
    stats["tie_rate"] = round(float((raw == "A=B").mean()), 6)
    consistency = position_consistency(battles[["item_id", "model_a", "model_b"]].assign(level=raw))
    stats["pairs_with_both_orders"] = consistency.pairs if consistency else 0
    if consistency is not None:
        stats["position_consistency"] = round(consistency.exact, 6)
        stats["position_consistency_winner"] = round(consistency.winner, 6)
    return stats


def problem_counts(verdicts: list[Verdict], status: str) -> pd.Series:
    models = [m for v in verdicts if v.status == status for m in (v.data["model_a"], v.data["model_b"])]
    return pd.Series(models, dtype=object).value_counts()


def unjudged(verdicts: list[Verdict]) -> list[Verdict]:
    """The verdicts that are not ok (invalid, failed): few, so passes over them are cheap where a
    pass over a million stored verdicts costs a second (their statuses' column, when gathered)."""
    table = kept_columns(verdicts)
    if table is None:
        return [v for v in verdicts if v.status != "ok"]
    return [] if table.all_ok() else [verdicts[i] for i, status in enumerate(table.status) if status != "ok"]


def status_counts(verdicts: list[Verdict], problems: list[Verdict]) -> dict[str, int]:
    """How many verdicts are ok, invalid and failed; `problems`: unjudged(verdicts)."""
    invalid = sum(v.status == "invalid" for v in problems)
    return {"ok": len(verdicts) - len(problems), "invalid": invalid, "failed": len(problems) - invalid}


def verdict_models(battles: pd.DataFrame, problems: list[Verdict]) -> list[str]:
    """Every model the verdicts name, sorted: the judged ones from their battles' columns (one row
    per ok verdict, as judged_battles builds them), the others from `problems`, unjudged(verdicts)."""
    named = {m for v in problems for m in (v.data["model_a"], v.data["model_b"])}
    for column in ("model_a", "model_b"):
        named.update(battles[column].unique())
    return sorted(named)


STYLE_COLUMNS = {"score": "style_controlled_rating", "ci_low": "sc_ci_low", "ci_high": "sc_ci_high"}
STYLE_FEATURES = ("length", "headers", "lists", "bold")


@dataclass
class StyleControl:
    table: pd.DataFrame  # model + STYLE_COLUMNS (NaN when withheld) + sc_note
    coefficients: dict[str, dict[str, float]]  # feature -> coef, ci_low, ci_high (log-odds per SD)
    withheld: str | None = None  # why the style-controlled ratings cannot be estimated
    shown: bool = True  # False: no column at all (nothing to estimate from), only the reason


def style_withheld(result: Any, n_items: int) -> str | None:
    """Why style-controlled ratings would mislead, or None: too few items to estimate the style
    effects, or style features that nearly restate which model answered (MAX_SE_INFLATION)."""
    from harness.stats.significance import MIN_ITEMS
    from harness.stats.style_control import MAX_SE_INFLATION

    if n_items < MIN_ITEMS:
        return f"not estimable: {n_items} item(s), style control needs at least {MIN_ITEMS}"
    if not result.estimable:
        worst = float(result.se_inflation.max())
        size = "unbounded" if not np.isfinite(worst) else f"{worst:.1f}x"
        return (f"not estimable: the style features nearly restate which model answered (holding style equal "
                f"makes a rating's standard error {size} the plain one's; at most {MAX_SE_INFLATION:g}x is shown)")
    return None


def style_missing(lacking: int, models: set[Any], judged: int, battles: pd.DataFrame) -> str | None:
    """What style control lacks, in words, or None when every judged battle has what it needs.
    `lacking`: how many of the `judged` verdicts (those behind `battles`' rows, the ok ones) lack
    both answers' style counts; `models`: the models of those (from the verdicts' columns, not
    the table's text: a tenth of a second per 50,000 rows)."""
    if lacking:
        named = sorted(models)
        shown = ", ".join(named[:5]) + (f" and {len(named) - 5} more" if len(named) > 5 else "")
        return (f"{lacking} of {judged} judged verdicts ({shown}) carry no style features (the answers' "
                "markdown counts: "
                "a run judged before style control, or an import without the answers; an Arena-Hard import "
                "takes them with --answers)")
    unknown = int((~battles["length_known"]).sum())
    if unknown:
        return f"the answer lengths of {unknown} of {len(battles)} judged verdicts are unknown"
    return None


def style_controlled(verdicts: list[Verdict], battles: pd.DataFrame, config: PairwiseConfig) -> StyleControl | None:
    """Bradley-Terry with length and markdown held fixed, when every verdict has style counts.

    Same battles, weights and anchor as the plain rating, so the two columns differ only by the
    style covariates: a model that rises here was held back by the judge's taste for style.
    """
    if config.style_control is False or battles.empty or len(distinct_models(battles)) < 2:
        return None
    table = verdict_columns(verdicts)
    pick = judged_positions(table)
    style_a, style_b = of_judged(table.style_a, pick), of_judged(table.style_b, pick)
    model_a, model_b = of_judged(table.model_a, pick), of_judged(table.model_b, pick)
    # which verdicts lack both answers' counts, found without a table of every verdict's counts by
    # request id, which only the fit needs, and without a list of their positions (a million ints:
    # 36 MB, when a run has no style counts at all)
    if isinstance(style_a, Absent) or isinstance(style_b, Absent):  # no verdict has them
        lacking, models = len(style_a), set(model_a) | set(model_b)
    else:
        flags = [not present(a) or not present(b) for a, b in zip(style_a, style_b)]
        lacking = flags.count(True)
        models = set(compress(model_a, flags)) | set(compress(model_b, flags)) if lacking else set()
    missing = style_missing(lacking, models, len(style_a), battles)
    if missing is not None:
        if config.style_control:
            raise BadInput(f"options.style_control: cannot be honoured: {missing}")
        return StyleControl(table=pd.DataFrame(columns=["model"]), coefficients={}, withheld=f"not shown: {missing}",
                            shown=False)
    from harness.stats.style_control import style_controlled_table

    styles = dict(zip(of_judged(table.request_id, pick), zip(style_a, style_b)))

    # Arena-Hard's token counts when every answer has them (its conv_metadata), else characters
    tokens = all("tokens" in a and "tokens" in b for a, b in styles.values())
    lengths = ([styles[rid][0]["tokens"] for rid in battles["request_id"]],
               [styles[rid][1]["tokens"] for rid in battles["request_id"]]) if tokens \
        else (battles["len_a"].to_numpy(), battles["len_b"].to_numpy())
    frame = bradley_terry_battles(battles).assign(length_a=lengths[0], length_b=lengths[1])
    for side in ("a", "b"):
        counts = [styles[rid][0 if side == "a" else 1] for rid in battles["request_id"]]
        for name in STYLE_FEATURES[1:]:
            frame[f"{name}_{side}"] = [c[name] for c in counts]
    anchor = config.baselines[0] if config.baselines else None
    result = style_controlled_table(frame, STYLE_FEATURES, n_bootstrap=config.n_bootstrap, seed=config.seed,
                                    anchor=anchor)
    table = result.table[["model", *STYLE_COLUMNS]].rename(columns=STYLE_COLUMNS)
    withheld = style_withheld(result, int(battles["item_id"].nunique()))
    if withheld is not None:
        table[list(STYLE_COLUMNS.values())] = np.nan
        return StyleControl(table=table.assign(sc_note=withheld), coefficients={}, withheld=withheld)
    coefficients = {
        row["feature"]: {k: float(row[k]) for k in ("coef", "ci_low", "ci_high")}
        for _, row in result.coefficients.iterrows()
    }
    return StyleControl(table=table, coefficients=coefficients)


def _reward_scores(models: list[str], sides: pd.DataFrame, config: PairwiseConfig) -> pd.DataFrame:
    """model (index), score, ci_low, ci_high, n: the WB-Reward with its item-bootstrap interval;
    `models`: every model of the verdicts (verdict_models), those without a judged battle too."""
    reward = bootstrap_group_means(
        sides, item="item_id", group="model", value="reward", n_rounds=config.n_bootstrap, seed=config.seed
    ).set_index("model")
    scores = pd.DataFrame({"model": models}).set_index("model")
    scores["score"] = reward["mean"]
    scores["ci_low"] = reward["ci_low"]
    scores["ci_high"] = reward["ci_high"]
    scores["n"] = reward["n"]
    return scores


def reward_scores(verdicts: list[Verdict], config: PairwiseConfig, battles: pd.DataFrame | None = None) -> pd.DataFrame:
    """model, score, ci_low, ci_high, n as `aggregate_pairwise` computes them, without its other
    columns (ratings, length and style control): what a category's row needs. `battles`: the
    verdicts' judged_battles when the caller has them."""
    battles = judged_battles(verdicts, config) if battles is None else battles
    scores = _reward_scores(verdict_models(battles, unjudged(verdicts)), per_model_rows(battles), config)
    scores["n"] = scores["n"].fillna(0).astype(int)
    return scores.reset_index()


def aggregate_pairwise(verdicts: list[Verdict], config: PairwiseConfig, battles: pd.DataFrame | None = None) -> Aggregate:
    battles = judged_battles(verdicts, config) if battles is None else battles
    style = style_controlled(verdicts, battles, config)  # first: the last step to read the verdicts' fields
    # the verdicts' fields the battles and style control were made of: not read again, and the
    # steps below need the memory (the statuses, items and categories stay for the categories' scores)
    release_columns(verdicts, *PAIRWISE_FIELDS)
    sides = per_model_rows(battles)
    problems = unjudged(verdicts)
    scores = _reward_scores(verdict_models(battles, problems), sides, config)
    by_model = sides.groupby("model")
    scores["wb_reward"] = by_model["hard"].mean()
    scores["expected_reward"] = by_model["expected"].mean()
    # P(win) + P(tie)/2 under the distribution used for the score: AlpacaEval's soft win rate with
    # `soft` and logprobs, the parsed verdicts' win rate (ties half) otherwise.
    scores["win_rate"] = 100.0 * by_model["share"].mean()
    for value, column in OUTCOME_COLUMNS.items():
        scores[column] = sides[sides["hard"] == value].groupby("model").size()
    del sides, by_model  # every battle twice (0.15 GB at a million): not held through the fits below
    scores["invalid"] = problem_counts(problems, "invalid")
    scores["failed"] = problem_counts(problems, "failed")
    count_columns = ["n", *OUTCOME_COLUMNS.values(), "invalid", "failed"]
    scores[count_columns] = scores[count_columns].fillna(0).astype(int)
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    ranking = bradley_terry_table(
        bradley_terry_battles(battles),
        n_bootstrap=config.n_bootstrap,
        seed=config.seed,
        anchor=config.baselines[0] if config.baselines else None,
        prior_ties=prior_ties(config),
    )
    columns = list(SCORE_COLUMNS)
    if style is not None and style.shown:
        scores = scores.merge(style.table, on="model", how="left")
        columns += list(STYLE_COLUMNS.values()) + (["sc_note"] if style.withheld else [])
    glm_rows = baseline_frame(battles, config)  # both length-controlled fits' rows, built once
    lc = length_controlled(glm_rows, config)
    if lc is not None:
        scores = scores.merge(lc, on="model", how="left")
        columns[columns.index("win_rate") + 1:columns.index("win_rate") + 1] = list(LC_COLUMNS.values())
    alpaca = alpaca_eval_length_controlled(glm_rows, config)
    del glm_rows
    if alpaca is not None:
        scores = scores.merge(alpaca[0], on="model", how="left")
        columns.insert(columns.index("win_rate") + 1, "alpaca_eval_lc")
    arena = arena_hard_columns(verdicts, config)
    arena_shown: dict[str, str] = {}
    if arena is not None and arena.table is not None:
        scores = scores.merge(arena.table, on="model", how="left")
        added = [c for c in ARENA_HARD_COLUMNS if c in arena.table.columns]
        columns += added
        arena_shown = {label: column for label, column in ARENA_HARD_SHOWN.items() if column in added}
    # printed on stderr: what explains a number that is not already said under the table (the
    # withheld SC rating's reason is, in score_note; stderr stays one line for an incomplete run)
    notes = list(arena.notes) if arena is not None else []
    if alpaca is not None:
        notes.append(alpaca[1])
    notes += length_notes(battles, config)
    summary = {
        "verdicts": status_counts(verdicts, problems),
        "length_k": config.length_k,
        "soft": config.soft,
        **({"soft_fallbacks": soft_fallbacks(battles, sorted(scores["model"]))} if config.soft else {}),
        "score_note": (
            "rating: Bradley-Terry on the Elo scale; score: "
            + ("expected WB-Reward under the judge's logprobs (soft)" if config.soft else "WB-Reward")
            + ", -100..100, from each model's side; win rate: "
            + ("expected P(win) + P(tie)/2 under the judge's logprobs" if config.soft else "parsed verdicts, ties half")
            + ("; wb_reward: WB-Reward of the parsed verdicts alone" if config.soft
               else "; wb_reward: the same WB-Reward (it differs from score only with soft)")
            + ("; AlpacaEval LC: AlpacaEval's length-controlled win rate (the harness's fit of its model; not Arena-Hard's length control) "
               "against " + config.baselines[0] if lc is not None else "")
            + ("; AlpacaEval LC (its GLM): the same quantity fitted as AlpacaEval's code fits it (per model L1 "
               "with cross-validated strength, its gamed-baseline term when those models are imported; the "
               "closer one to AlpacaEval's leaderboard, docs/statistics.md); AlpacaEval LC [CI]: the harness's "
               "own fit (L2, item-bootstrap interval)"
               if alpaca is not None else "")
            + ("; SC rating: Bradley-Terry with length and markdown held equal (the harness's style control)"
               if style is not None and not style.withheld else "")
            + (f"; SC rating {style.withheld}" if style is not None and style.shown and style.withheld else "")
            + ("; Arena-Hard / Arena-Hard SC: Arena-Hard-Auto v0.1's score (win probability % against "
               f"{config.baselines[0]}) without and with its style control; scores.csv also has its length-only, "
               "markdown-only and v2.0 scores" if arena_shown else "")
        ),
        **({"notes": notes} if notes else {}),
        **({"arena_hard": arena.summary} if arena is not None and arena.summary else {}),
        "baselines": config.baselines,
        **({"style_coefficients": style.coefficients} if style is not None and not style.withheld else {}),
        **({"style_control": style.withheld} if style is not None and style.withheld else {}),
        **position_stats(battles),
    }
    return Aggregate(
        scores=scores[columns].reset_index(drop=True), ranking=ranking, summary=summary,
        title="ranking (Bradley-Terry, 95% bootstrap CI over items)", rank_label="rating",
        columns={"score [CI]": "score", "win rate": "win_rate",
                 **({"AlpacaEval LC (its GLM)": "alpaca_eval_lc"} if alpaca is not None else {}),
                 **({"AlpacaEval LC [CI]": "length_controlled_win_rate"} if lc is not None else {}),
                 "E[score]": "expected_reward",
                 **({"SC rating [CI]": "style_controlled_rating"} if style is not None and not style.withheld else {}),
                 **arena_shown},
        intervals={"style_controlled_rating": ("sc_ci_low", "sc_ci_high"),
                   "length_controlled_win_rate": ("lc_ci_low", "lc_ci_high")},
    )
