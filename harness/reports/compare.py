"""`harness compare RUN RUN...`: do judges (or prompts, or model versions) agree on shared items?

Each run is reduced to comparable *units* judged in every run, as the runs' protocol defines
them: a pair of answers on one item (which one won, over both orders), an answer on one item
(its score, the default), or a question on one answer (YES/NO). Agreement on units is raw agreement, Cohen's kappa
(chance-corrected, per pair of runs) and Krippendorff's alpha (all runs at once, missing
allowed). Rankings are compared by Kendall's tau and Spearman's rho, and every pair of models
whose order flips is checked against each run's own significance test: a flip between two
models the runs could not separate anyway is noise, a flip of significant differences is news.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import pandas as pd

from harness.errors import BadInput
from harness.reports.analysis import Analysis, analyse
from harness.reports.reading import default_registry, read_run
from harness.reports.rundata import RunData
from harness.stats.agreement import cohens_kappa, krippendorff_alpha, percent_agreement, rank_correlation

if TYPE_CHECKING:
    from harness.registry import Registry

TOP_ITEMS = 20


@dataclass
class Comparison:
    runs: list[RunData]
    labels: list[str]
    analyses: list[Analysis]
    unit_kind: str
    level: str
    units: pd.DataFrame  # index: unit key; columns: item_id, then one column per run label
    shared_items: list[str]
    agreement: pd.DataFrame
    alpha: float
    ranks: pd.DataFrame
    correlations: pd.DataFrame
    swaps: pd.DataFrame
    disagreements: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def read_runs(paths: list[str] | tuple[str, ...], registry: Registry | None = None) -> list[RunData]:
    if len(paths) < 2:
        raise BadInput("compare needs at least two run directories")
    registry = registry if registry is not None else default_registry()
    return [read_run(p, registry) for p in paths]


def run_labels(runs: list[RunData]) -> list[str]:
    """Short unique names: the directory name, with its parent where two runs share a name."""
    names = [r.directory.name or str(r.directory) for r in runs]
    if len(set(names)) < len(names):
        names = [f"{r.directory.parent.name}/{r.directory.name}" for r in runs]
    if len(set(names)) < len(names):
        names = [f"{k + 1}:{name}" for k, name in enumerate(names)]
    return names


def compare_runs(runs: list[RunData], *, n_rounds: int = 1000) -> Comparison:
    labels = run_labels(runs)
    item_sets = [set(r.verdicts.loc[r.verdicts["status"] == "ok", "item_id"].astype(str)) for r in runs]
    shared = sorted(set.intersection(*item_sets))
    if not shared:
        sizes = ", ".join(f"{label} has {len(s)}" for label, s in zip(labels, item_sets))
        raise BadInput(f"the runs share no judged items ({sizes}); compare runs made on the same dataset")
    protocols = {r.protocol for r in runs}
    notes = []
    if len(protocols) == 1:
        kind, level, frames = unit_frames(runs)
    else:
        kind, level, frames = "", "", []
        notes.append(f"the runs use different protocols ({', '.join(sorted(protocols))}): verdicts are not "
                     "comparable one by one, so only the rankings are compared")
    only_own = [(label, len(items) - len(shared)) for label, items in zip(labels, item_sets) if len(items) > len(shared)]
    if only_own:  # the agreement is on shared items; the rankings are not: say what they rest on
        own = ", ".join(f"{label} {count}" for label, count in only_own)
        notes.append(f"the rankings, rank changes and correlations are each run's own, over all its judged items: "
                     f"{len(shared)} item(s) are shared, and these runs judged more that the others did not "
                     f"({own}); a rank change may come from those alone")
    units = _unit_table(frames, labels, shared)
    if frames and units.empty:
        notes.append("no unit (item and answer, or pair) was judged in more than one run")
    analyses = [analyse(r, n_rounds=n_rounds) for r in runs]
    ranks = rank_table(analyses, labels)
    return Comparison(
        runs=runs, labels=labels, analyses=analyses, unit_kind=kind, level=level, units=units, shared_items=shared,
        agreement=agreement_table(units, labels, level), alpha=_alpha(units, labels, level), ranks=ranks,
        correlations=correlation_table(analyses, labels), swaps=swap_table(analyses, labels),
        disagreements=disagreement_table(units, labels, runs), notes=notes,
    )


# --------------------------------------------------------------------------------------------
# Units: what each run said about the same thing
# --------------------------------------------------------------------------------------------


def unit_frames(runs: list[RunData]) -> tuple[str, str, list[pd.DataFrame]]:
    """(unit description, measurement level, one frame per run with columns unit, item_id, value)."""
    return runs[0].view.comparison_units(runs)


def _unit_table(frames: list[pd.DataFrame], labels: list[str], shared: list[str]) -> pd.DataFrame:
    """Units judged by at least two runs, on the shared items: one column of values per run."""
    if not frames:
        return pd.DataFrame(columns=["item_id", *labels])
    series = [f.set_index("unit")["value"].rename(label) for f, label in zip(frames, labels)]
    items = pd.concat([f.set_index("unit")["item_id"] for f in frames])
    table = pd.concat(series, axis=1)
    table.insert(0, "item_id", items[~items.index.duplicated()].reindex(table.index))
    table = table[table["item_id"].isin(shared) & (table[labels].notna().sum(axis=1) >= 2)]
    return table.sort_index()


# --------------------------------------------------------------------------------------------
# Agreement and rankings
# --------------------------------------------------------------------------------------------


def agreement_table(units: pd.DataFrame, labels: list[str], level: str) -> pd.DataFrame:
    columns = ["run_1", "run_2", "units", "percent_agreement", "cohens_kappa", "kappa_weights"]
    rows = []
    weights: Literal["quadratic"] | None = "quadratic" if level in ("ordinal", "interval") else None
    for a, b in itertools.combinations(labels, 2):
        both = units[[a, b]].dropna() if not units.empty else pd.DataFrame(columns=[a, b])
        if both.empty:
            rows.append({"run_1": a, "run_2": b, "units": 0, "percent_agreement": math.nan,
                         "cohens_kappa": math.nan, "kappa_weights": weights or "none"})
            continue
        categories = sorted(set(both[a]) | set(both[b]))
        rows.append({
            "run_1": a, "run_2": b, "units": len(both),
            "percent_agreement": percent_agreement(both[a].to_numpy(), both[b].to_numpy()),
            "cohens_kappa": cohens_kappa(both[a].to_numpy(), both[b].to_numpy(), labels=categories, weights=weights),
            "kappa_weights": weights or "none",
        })
    return pd.DataFrame(rows, columns=columns)


def _alpha(units: pd.DataFrame, labels: list[str], level: str) -> float:
    if units.empty:
        return math.nan
    matrix = units[labels].to_numpy(dtype=float).T  # raters x units
    measured = cast(Literal["nominal", "ordinal", "interval", "ratio"], level or "interval")
    return float(krippendorff_alpha(matrix, level=measured))


def rank_table(analyses: list[Analysis], labels: list[str]) -> pd.DataFrame:
    """model, then rank and score in each run, and the rank change from the first run to the last."""
    frames = []
    for analysis, label in zip(analyses, labels):
        ranking = analysis.ranking.set_index("model")
        frames.append(ranking[["rank", "score"]].rename(columns={"rank": f"rank {label}", "score": f"score {label}"}))
    table = pd.concat(frames, axis=1)
    first, last = f"rank {labels[0]}", f"rank {labels[-1]}"
    table["rank change"] = table[first] - table[last]
    table = table.sort_values([first, f"score {labels[0]}"], ascending=[True, False], na_position="last")
    return table.reset_index().rename(columns={"index": "model"})


def correlation_table(analyses: list[Analysis], labels: list[str]) -> pd.DataFrame:
    rows = []
    for (a, la), (b, lb) in itertools.combinations(list(zip(analyses, labels)), 2):
        x = a.ranking.set_index("model")["score"].astype(float)
        y = b.ranking.set_index("model")["score"].astype(float)
        rows.append({"run_1": la, "run_2": lb, **rank_correlation(x, y)})
    columns = ["run_1", "run_2", "n", "kendall_tau", "kendall_p", "spearman", "spearman_p"]
    return pd.DataFrame(rows).reindex(columns=columns)


def swap_table(analyses: list[Analysis], labels: list[str]) -> pd.DataFrame:
    """Every pair of models ordered differently by two runs, with each run's adjusted p-value."""
    rows = []
    for (a, la), (b, lb) in itertools.combinations(list(zip(analyses, labels)), 2):
        sa = a.ranking.set_index("model")["score"].astype(float)
        sb = b.ranking.set_index("model")["score"].astype(float)
        models = sorted(set(sa.index) & set(sb.index))
        for m1, m2 in itertools.combinations(models, 2):
            da, db = sa[m1] - sa[m2], sb[m1] - sb[m2]
            if not (math.isfinite(da) and math.isfinite(db)) or np.sign(da) == np.sign(db) or da == 0 or db == 0:
                continue
            hi, lo = (m1, m2) if da > 0 else (m2, m1)
            pa, sig_a = _pair_p(a.pairs, hi, lo)
            pb, sig_b = _pair_p(b.pairs, hi, lo)
            verdict = swap_verdict(la, lb, pa, pb, sig_a, sig_b)
            rows.append({"run_1": la, "run_2": lb, "ahead in run_1": hi, "ahead in run_2": lo,
                         "p_adjusted run_1": pa, "p_adjusted run_2": pb, "verdict": verdict})
    columns = ["run_1", "run_2", "ahead in run_1", "ahead in run_2", "p_adjusted run_1", "p_adjusted run_2", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def swap_verdict(la: str, lb: str, pa: float, pb: float, sig_a: bool, sig_b: bool) -> str:
    """What an order change means, by each run's own test; a run that could not test the pair
    (too few items) is said to, not counted as noise."""
    if sig_a and sig_b:
        return "reversal: significant in both runs"
    untested = [label for label, p in ((la, pa), (lb, pb)) if not math.isfinite(p)]
    if sig_a or sig_b:
        verdict = f"significant only in {la if sig_a else lb}"
        return verdict + (f"; not tested in {untested[0]} (too few items)" if untested else "")
    if len(untested) == 2:
        return "not tested in either run (too few items)"
    if untested:
        return f"within noise in {lb if untested[0] == la else la}; not tested in {untested[0]} (too few items)"
    return "within noise in both runs"


def _pair_p(pairs: pd.DataFrame, m1: str, m2: str) -> tuple[float, bool]:
    if pairs.empty:
        return math.nan, False
    hit = pairs[((pairs["model_1"] == m1) & (pairs["model_2"] == m2)) | ((pairs["model_1"] == m2) & (pairs["model_2"] == m1))]
    if hit.empty:
        return math.nan, False
    return float(hit["p_adjusted"].iloc[0]), bool(hit["significant"].iloc[0])


def disagreement_table(units: pd.DataFrame, labels: list[str], runs: list[RunData]) -> pd.DataFrame:
    """Items ranked by the share of their units on which the runs do not all agree, then by spread."""
    columns = ["item_id", "category", "units", "disagreeing", "share", "mean_spread", *[f"mean {lab}" for lab in labels],
               "instruction"]
    if units.empty:
        return pd.DataFrame(columns=columns)
    values = units[labels]
    spread = values.max(axis=1) - values.min(axis=1)
    frame = pd.DataFrame({"item_id": units["item_id"], "disagree": (spread > 1e-9).astype(int), "spread": spread})
    for label in labels:
        frame[f"mean {label}"] = values[label]
    grouped = frame.groupby("item_id")
    table = pd.DataFrame({"units": grouped.size(), "disagreeing": grouped["disagree"].sum(),
                          "mean_spread": grouped["spread"].mean()})
    table["share"] = table["disagreeing"] / table["units"]
    for label in labels:
        table[f"mean {label}"] = grouped[f"mean {label}"].mean()
    table = table[table["disagreeing"] > 0].sort_values(["share", "mean_spread", "units"], ascending=False)
    table = table.head(TOP_ITEMS).reset_index()
    items = next((r.items for r in runs if r.items), {})
    table["category"] = [items[i].category if i in items else _category(runs[0], i) for i in table["item_id"]]
    table["instruction"] = [items[i].instruction[:300] if i in items else "" for i in table["item_id"]]
    return table[columns]


def _category(run: RunData, item_id: str) -> str | None:
    rows = run.verdicts.loc[run.verdicts["item_id"] == item_id, "category"].dropna()
    return str(rows.iloc[0]) if len(rows) else None
