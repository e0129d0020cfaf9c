"""Every number printed about one quantity agrees across scores.csv, ranking.csv, the report
(`harness report`) and the comparison (`harness compare`): a run over a real loopback judge whose
verdicts follow planted strengths, "much better" verdicts included (weighted by `strong_weight`)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.execute import RunOptions, run_task
from harness.reports.compare_output import build_comparison
from harness.reports.report import build_report
from harness.testing.planted import PlantedJudge, planted_rows
from harness.testing.tasks import write_task

MODELS = ["bad", "good", "mid"]
STRENGTHS = {"good": 1.5, "mid": 0.0, "bad": -1.5}


def planted_run(tmp_path: Path, name: str, *, seed: int = 0, n_items: int = 40, options: dict | None = None) -> Path:
    with PlantedJudge(STRENGTHS, seed=seed, strong=0.4) as judge:
        task_dir = tmp_path / f"task-{name}"
        task_dir.mkdir()
        task = write_task(task_dir, name="agree", protocol="pairwise", rows=planted_rows(MODELS, n_items),
                          judge=judge.spec, options={"n_bootstrap": 200, **(options or {})})
        result = run_task(task, RunOptions(judge=judge.spec, base_url=judge.base_url, out=tmp_path / name,
                                           progress=False, cache=False))
    return result.directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("agree")
    return planted_run(tmp, "first", seed=0), planted_run(tmp, "second", seed=1)


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    return build_report(runs[0], out=tmp_path_factory.mktemp("report"), formats=("csv", "md"), n_rounds=300)


def test_the_planted_judge_gave_strong_verdicts_that_the_ranking_weighs(runs):
    levels = [json.loads(line)["data"]["level"] for line in (runs[0] / "verdicts.jsonl").read_text().splitlines()]
    assert {"A>>B", "B>>A", "A>B", "B>A"} <= set(levels)


def test_report_pair_differences_are_the_ranking_differences(runs, report):
    ranking = pd.read_csv(runs[0] / "ranking.csv").set_index("model")["score"]
    pairs = pd.read_csv(report.files[1].parent / "report_pairs.csv")
    assert len(pairs) == 3
    for row in pairs.itertuples():
        assert row.diff == pytest.approx(ranking[row.model_1] - ranking[row.model_2], abs=1e-4)


def intervals(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """Every (low, high) pair of columns a table prints: ci_*, sc_ci_*, lc_ci_*, ..."""
    pairs = [(c, c.replace("_low", "_high")) for c in frame.columns if c.endswith("ci_low")]
    return [(lo, hi) for a, b in pairs for lo, hi in zip(frame[a], frame[b]) if pd.notna(lo) or pd.notna(hi)]


def test_two_items_give_numbers_but_no_significance_and_no_point_intervals(tmp_path):
    run = planted_run(tmp_path, "tiny", n_items=2)
    report = build_report(run, out=tmp_path / "report", formats=("csv", "md"), n_rounds=300)
    pairs = pd.read_csv(tmp_path / "report" / "report_pairs.csv")
    assert len(pairs) == 3 and pairs["diff"].notna().all() and (pairs["items"] == 2).all()
    assert pairs["p_value"].isna().all() and not pairs["significant"].any()
    assert not any(" > " in s for s in pairs["statement"])
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "Warning:** only 2 item(s)" in markdown and "(p " not in markdown
    assert report.analysis.notes
    tables = [pd.read_csv(run / "scores.csv"), pd.read_csv(run / "ranking.csv"), pairs,
              pd.read_csv(tmp_path / "report" / "report_ranking.csv")]
    for table in tables:
        for low, high in intervals(table):
            assert pd.notna(low) and pd.notna(high) and high > low, (low, high)
