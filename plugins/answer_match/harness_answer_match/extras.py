"""The package's metric and reporter, registered through harness_register_metrics and
harness_register_reporters: the other two ways a plugin adds to a run besides a protocol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from harness.store import LoadedRun

PROTOCOL = "answer_match"
COVERAGE = "answer_match_coverage"
MISMATCHES_FILE = "answer_match_mismatches.csv"


def _is_answer_match(manifest: dict[str, Any]) -> bool:
    return (manifest.get("protocol") or {}).get("name") == PROTOCOL


def coverage(verdicts: pd.DataFrame, scores: pd.DataFrame, manifest: dict[str, Any]) -> pd.DataFrame | None:
    """Share of the run's items that got a usable verdict for each model.

    Accuracy is computed over judged answers only; coverage says how much of the item set that
    accuracy rests on (missing answers, invalid or failed judge calls lower it).
    """
    import pandas as pd

    if not _is_answer_match(manifest):
        return None
    items = int((manifest.get("dataset") or {}).get("items") or 0)
    ok = verdicts[verdicts["status"] == "ok"] if "status" in verdicts else verdicts.iloc[0:0]
    per_model = ok.groupby("model")["item_id"].nunique() if not ok.empty else pd.Series(dtype=float)
    return pd.DataFrame({
        "model": scores["model"],
        COVERAGE: [round(per_model.get(m, 0) / items, 6) if items else float("nan") for m in scores["model"]],
    })


def write_mismatches(run: LoadedRun, out_dir: Path) -> list[Path]:
    """answer_match_mismatches.csv: every answer judged not to match (or unreadable), for error analysis."""
    if not _is_answer_match(run.manifest) or run.verdicts.empty:
        return []
    frame = run.verdicts
    matched = frame["match"].eq(True) if "match" in frame else False  # NaN on rows that are not ok
    wrong = frame[(frame["status"] != "ok") | ~matched]
    columns = [c for c in ("item_id", "model", "status", "verdict", "p_match", "error") if c in wrong.columns]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MISMATCHES_FILE
    wrong.sort_values(["model", "item_id"])[columns].to_csv(path, index=False, lineterminator="\n")
    return [path]
