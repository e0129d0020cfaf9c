"""A panel run's numbers: each judge's own (scores_by_judge.csv, ranking_by_judge.csv), the pooled
ones (scores.csv, ranking.csv; pooled as the protocol's panel view says, harness.protocol.panel_view) and
the panel's facts in run.json's `panel`: per judge its counts, what the pooling learned of it
(rubric: severity), the protocol's facts (pairwise: position bias), agreement with the pool and
ranking; across judges Krippendorff's alpha and pairwise Cohen's kappa (harness.panel.agreement).

Called by harness.running.finish, the path both `harness run` and `harness aggregate` take, so a
recomputed panel gets the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from harness.metrics import apply_metrics, verdicts_frame
from harness.models import Verdict
from harness.panel.agreement import agreement, judge_facts
from harness.protocol import Aggregate, Task
from harness.registry import Registry
from harness.running.completeness import task_models, with_every_model
from harness.store import RANKING_BY_JUDGE_FILE, SCORES_BY_JUDGE_FILE, RunDirectory


@dataclass
class PanelResult:
    pooled: Aggregate
    by_judge: dict[str, Aggregate]
    facts: dict[str, Any]


def panel_aggregate(task: Task, verdicts: dict[str, list[Verdict]], requests: dict[str, int]) -> PanelResult:
    """Per-judge aggregates (judges with at least one parsed verdict), the pool, and the facts."""
    view = type(task).panel_view()
    by_judge = {judge: task.aggregate(vs) for judge, vs in verdicts.items() if any(v.status == "ok" for v in vs)}
    pooled = view.pool(task, verdicts, by_judge)
    labelled = view.labels(verdicts, pooled.aggregate)
    per_judge = judge_facts(view, verdicts, by_judge, pooled.aggregate, labelled)
    judges = []
    for judge, vs in verdicts.items():
        counts = {s: sum(v.status == s for v in vs) for s in ("ok", "invalid", "failed")}
        counts["pending"] = max(0, requests.get(judge, len(vs)) - len(vs))
        judges.append({"judge": judge, "counts": counts, **pooled.judges.get(judge, {}), **per_judge[judge]})
    facts = {"pooling": pooled.method, "judges": judges, "agreement": agreement(labelled, task.spec.protocol)}
    return PanelResult(pooled=pooled.aggregate, by_judge=by_judge, facts=facts)


def by_judge_frames(result: PanelResult) -> dict[str, pd.DataFrame]:
    """scores_by_judge.csv and ranking_by_judge.csv: a `judge` column, then the usual columns."""
    def stacked(attribute: str) -> pd.DataFrame:
        frames = [getattr(a, attribute).assign(judge=judge) for judge, a in result.by_judge.items()]
        if not frames:
            return pd.DataFrame(columns=["judge"])
        frame = pd.concat(frames, ignore_index=True)
        return frame[["judge", *[c for c in frame.columns if c != "judge"]]]

    return {SCORES_BY_JUDGE_FILE: stacked("scores"), RANKING_BY_JUDGE_FILE: stacked("ranking")}


def write_panel(
    task: Task, registry: Registry, store: RunDirectory, manifest: dict[str, Any],
    verdicts: dict[str, list[Verdict]], requests: dict[str, int], *, keep_going: bool = False,
) -> Aggregate:
    """Aggregate a panel, write its exports and put its facts into `manifest` (not yet saved);
    `keep_going`: a failing plugin metric is left out and listed (see harness.metrics)."""
    result = panel_aggregate(task, verdicts, requests)
    every = [v for vs in verdicts.values() for v in vs]
    scores = apply_metrics(registry, verdicts_frame(every), result.pooled.scores, manifest, keep_going=keep_going)
    models = task_models(manifest, every)  # every model in every table, n = 0 where no verdict covers it
    pooled = with_every_model(replace(result.pooled, scores=scores), models)
    result.by_judge = {judge: with_every_model(a, models) for judge, a in result.by_judge.items()}
    store.write_exports(every, pooled.scores, pooled.ranking)
    store.write_frames(by_judge_frames(result))
    fingerprints = {j.get("judge"): j.get("fingerprint") for j in (manifest.get("panel") or {}).get("judges", [])}
    for judge in result.facts["judges"]:
        if fingerprints.get(judge["judge"]):
            judge["fingerprint"] = fingerprints[judge["judge"]]
    manifest["panel"] = result.facts
    manifest["summary"] = pooled.summary
    return pooled


def stored_panel(manifest: dict[str, Any], verdicts: list[Verdict]) -> tuple[dict[str, list[Verdict]], dict[str, int]]:
    """`harness aggregate`'s panel: the stored verdicts grouped by the judges run.json names, and
    the requests each was asked."""
    names = [str(j.get("judge")) for j in manifest["panel"].get("judges", []) if isinstance(j, dict)]
    grouped: dict[str, list[Verdict]] = {name: [] for name in names}
    for verdict in verdicts:
        grouped.setdefault(verdict.judge, []).append(verdict)
    asked = int(manifest.get("requests") or 0) // max(1, len(grouped))
    return grouped, dict.fromkeys(grouped, asked)
