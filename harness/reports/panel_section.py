"""The report's judge-panel section, for runs with several judges (run.json's `panel`).

Three tables: the judges (verdict counts, severity, position bias, agreement with the rest of the
panel, rank correlation with the pooled ranking), the agreement between every two judges
(Cohen's kappa) with the panel's Krippendorff's alpha, and each judge's ranking beside the pooled
one (from ranking_by_judge.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.reports.markdown import md_table
from harness.reports.page import section, table
from harness.reports.rundata import RunData
from harness.running.result_tables import read_result_table
from harness.store import RANKING_BY_JUDGE_FILE


@dataclass
class PanelTables:
    judges: pd.DataFrame
    kappas: pd.DataFrame
    rankings: pd.DataFrame
    note: str


def panel_tables(run: RunData) -> PanelTables | None:
    panel = run.manifest.get("panel")
    if not isinstance(panel, dict) or not isinstance(panel.get("judges"), list) or len(panel["judges"]) < 2:
        return None
    judges = pd.DataFrame([_judge_row(j) for j in panel["judges"] if isinstance(j, dict)])
    judges = judges.dropna(axis=1, how="all")
    agreement = panel.get("agreement") or {}
    kappas = pd.DataFrame([
        {"judge": pair["judges"][0], "other judge": pair["judges"][1], "Cohen's kappa": pair.get("kappa"),
         "n": pair.get("n")}
        for pair in agreement.get("cohen_kappa", []) if isinstance(pair, dict) and len(pair.get("judges", [])) == 2
    ])
    note = (f"pooled by {panel.get('pooling', '?')}; Krippendorff's alpha ({agreement.get('level', '?')}) "
            f"{_fmt(agreement.get('krippendorff_alpha'))} over {agreement.get('units', 0)} units judged by two or more")
    if agreement.get("kappa_weights"):
        note += f"; kappa weights: {agreement['kappa_weights']}"
    notes = _column_notes(judges)
    return PanelTables(judges=judges, kappas=kappas, rankings=_rankings(run), note=f"{note}. {notes}" if notes else note)


def _judge_row(judge: dict[str, Any]) -> dict[str, Any]:
    counts = judge.get("counts") or {}
    position = judge.get("position") or {}
    pool = judge.get("agreement_with_pool") or {}
    return {
        "judge": judge.get("judge"),
        "ok": counts.get("ok"), "invalid": counts.get("invalid"), "failed": counts.get("failed"),
        "pending": counts.get("pending"),
        "severity (logits)": judge.get("severity"), "severity SE": judge.get("severity_se"),
        "severity (points)": judge.get("severity_points"),
        "first-position win rate": position.get("first_position_win_rate"),
        "position consistency": position.get("position_consistency"),
        "agreement with pool": pool.get("accuracy"), "kappa with pool": pool.get("kappa"),
        "Kendall tau with pooled ranking": judge.get("kendall_tau_with_pool"),
    }


def _rankings(run: RunData) -> pd.DataFrame:
    """Model x judge: the pooled rank, then each judge's rank and score."""
    path = run.directory / RANKING_BY_JUDGE_FILE
    if not path.is_file() or run.ranking.empty:
        return pd.DataFrame()
    per_judge = read_result_table(path, key=("judge", "model"))
    if per_judge.empty or not {"judge", "model", "rank", "score"} <= set(per_judge.columns):
        return pd.DataFrame()
    out = run.ranking[["model", "rank", "score"]].rename(columns={"rank": "pooled rank", "score": "pooled score"})
    for judge, frame in per_judge.groupby("judge", sort=False):
        mine = frame.set_index("model")
        out[f"{judge} rank"] = out["model"].map(mine["rank"])
        out[f"{judge} score"] = out["model"].map(mine["score"])
    return out


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


SEVERITY_NOTE = ("severity: the judge's Rasch severity (higher is harsher; points: how much lower its expected "
                 "score is than a typical judge's)")
POOL_NOTE = "agreement with pool: the judge against the other judges' majority on the same battles, ties half"


def _column_notes(judges: pd.DataFrame) -> str:
    notes = [SEVERITY_NOTE] if "severity (logits)" in judges else []
    notes += [POOL_NOTE] if "agreement with pool" in judges else []
    return "; ".join(notes)


def panel_markdown(run: RunData) -> str:
    tables = panel_tables(run)
    if tables is None:
        return ""
    return "".join([
        f"\n## Judge panel\n\n{tables.note}.\n\n", md_table(tables.judges),
        "\n### Agreement between judges\n\n", md_table(tables.kappas),
        "\n### Each judge's ranking\n\n", md_table(tables.rankings),
    ])


def panel_html(run: RunData) -> tuple[str, str, str] | None:
    """(anchor, navigation label, section html) of the panel section, or None without a panel."""
    tables = panel_tables(run)
    if tables is None:
        return None
    body = (table(tables.judges) + "<h3>Agreement between judges</h3>" + table(tables.kappas)
            + "<h3>Each judge's ranking</h3>" + (table(tables.rankings) if not tables.rankings.empty
                                                 else '<p class="muted">no per-judge rankings</p>'))
    return "panel", "Panel", section("panel", "Judge panel", body, tables.note)
