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

from harness.reports.compare_output import build_comparison
from harness.reports.report import build_report
from harness.running.execute import run_task
from harness.running.options import RunOptions
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
    assert "Warning:** only 2 item(s) judged" in markdown and "(p " not in markdown
    assert report.analysis.notes
    tables = [pd.read_csv(run / "scores.csv"), pd.read_csv(run / "ranking.csv"), pairs,
              pd.read_csv(tmp_path / "report" / "report_ranking.csv")]
    for table in tables:
        for low, high in intervals(table):
            assert pd.notna(low) and pd.notna(high) and high > low, (low, high)


def test_ranking_csv_scores_csv_and_the_report_ranking_agree(runs, report):
    ranking = pd.read_csv(runs[0] / "ranking.csv").set_index("model")
    scores = pd.read_csv(runs[0] / "scores.csv").set_index("model")
    shown = pd.read_csv(report.files[0].parent / "report_ranking.csv").set_index("model")
    assert sorted(shown.index) == sorted(ranking.index) == MODELS
    for column in ("rank", "score", "ci_low", "ci_high", "n"):
        np.testing.assert_allclose(shown[column].reindex(MODELS), ranking[column].reindex(MODELS), atol=1e-6)
    # scores.csv's score is the reward; the report shows it as `reward`, beside the same win rate
    np.testing.assert_allclose(shown["reward"].reindex(MODELS), scores["score"].reindex(MODELS), atol=1e-6)
    np.testing.assert_allclose(shown["win_rate"].reindex(MODELS), scores["win_rate"].reindex(MODELS), atol=1e-6)
    assert "wb_reward" not in shown.columns  # the same number as reward without `soft`: shown once


def hand_counted_wins(run: Path) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int]]:
    """Wins (ties half) and battles of every ordered pair, counted from verdicts.jsonl."""
    wins: dict[tuple[str, str], float] = {}
    games: dict[tuple[str, str], int] = {}
    for line in (run / "verdicts.jsonl").read_text().splitlines():
        data = json.loads(line)["data"]
        a, b, level = data["model_a"], data["model_b"], data["level"]
        share = 1.0 if level.startswith("A>") else 0.0 if level.startswith("B>") else 0.5
        for x, y, s in ((a, b, share), (b, a, 1.0 - share)):
            wins[x, y] = wins.get((x, y), 0.0) + s
            games[x, y] = games.get((x, y), 0) + 1
    return wins, games


def test_win_rates_in_scores_csv_and_the_report_are_the_counted_ones(runs, report):
    wins, games = hand_counted_wins(runs[0])
    matrix = pd.read_csv(report.files[0].parent / "report_win_rates.csv").set_index("model")
    for x, y in itertools.permutations(MODELS, 2):
        assert matrix.loc[x, y] == pytest.approx(wins[x, y] / games[x, y], abs=1e-6)
    scores = pd.read_csv(runs[0] / "scores.csv").set_index("model")
    for model in MODELS:
        won = sum(v for (x, _), v in wins.items() if x == model)
        played = sum(v for (x, _), v in games.items() if x == model)
        assert scores.loc[model, "win_rate"] == pytest.approx(100.0 * won / played, abs=1e-4)


def test_compare_shows_each_runs_own_ratings_and_an_exact_rank_correlation(runs, tmp_path):
    comparison = build_comparison([str(runs[0]), str(runs[1])], out=tmp_path / "cmp", formats=("csv",), n_rounds=300)
    ranks = pd.read_csv(tmp_path / "cmp" / "compare_ranks.csv").set_index("model")
    for run, label in zip(runs, comparison.labels):
        ranking = pd.read_csv(run / "ranking.csv").set_index("model")
        np.testing.assert_allclose(ranks[f"score {label}"].reindex(MODELS), ranking["score"].reindex(MODELS), atol=1e-6)
        np.testing.assert_array_equal(ranks[f"rank {label}"].reindex(MODELS), ranking["rank"].reindex(MODELS))
    correlation = pd.read_csv(tmp_path / "cmp" / "compare_rank_correlation.csv").iloc[0]
    # Three models in the same order in both runs: rho = 1, and of the 3! orderings two reach it.
    assert correlation["n"] == 3 and correlation["spearman"] == pytest.approx(1.0)
    assert correlation["spearman_p"] == pytest.approx(1 / 3) and correlation["kendall_p"] == pytest.approx(1 / 3)
    # The comparison's pairs are the report's pairs (same estimator, same resamples)
    own = build_report(runs[0], out=tmp_path / "rep", formats=("csv",), n_rounds=300)
    pd.testing.assert_frame_equal(comparison.analyses[0].pairs, own.analysis.pairs)


def test_style_control_collinear_with_the_models_is_withheld_everywhere(runs, capsys):
    # Planted answers differ in length only by the model's name: style restates the model.
    from harness.cli import main

    scores = pd.read_csv(runs[0] / "scores.csv")
    assert scores[["style_controlled_rating", "sc_ci_low", "sc_ci_high"]].isna().all().all()
    assert scores["sc_note"].str.startswith("not estimable").all()
    assert "style_coefficients" not in json.loads((runs[0] / "run.json").read_text())["summary"]
    assert main(["aggregate", str(runs[0])]) == 0
    out = capsys.readouterr().out
    assert "SC rating" in out and "not estimable" in out  # said in the note, not shown as a column
    assert "SC rating [CI]" not in out


def test_the_printed_table_holds_the_numbers_of_ranking_csv_and_scores_csv(runs, capsys):
    from harness.cli import main

    assert main(["aggregate", str(runs[0])]) == 0
    out = capsys.readouterr().out
    ranking = pd.read_csv(runs[0] / "ranking.csv").set_index("model")
    scores = pd.read_csv(runs[0] / "scores.csv").set_index("model")
    for model in MODELS:
        row = next(line for line in out.splitlines() if f" {model} " in line)
        r, s = ranking.loc[model], scores.loc[model]
        assert f"{r.score:.0f} [{r.ci_low:.0f}, {r.ci_high:.0f}]" in row
        assert f"{s.score:.1f} [{s.ci_low:.1f}, {s.ci_high:.1f}]" in row
        assert f"{s.win_rate:.1f}" in row


def test_a_protocols_own_test_on_too_few_items_makes_no_claim():
    """A plugin's view may compute its own p-values without counting items: the report still
    makes no significance statement on a run of fewer than MIN_ITEMS items."""
    from types import SimpleNamespace

    from harness.reports.analysis import significance

    class OwnTest:
        def significance(self, run, scores, *, n_rounds, seed, alpha):
            return pd.DataFrame({"model_1": ["a"], "model_2": ["b"], "diff": [3.0], "ci_low": [1.0], "ci_high": [5.0],
                                 "p_value": [0.001], "p_adjusted": [0.001], "significant": [True]}), "own test"

    scores = pd.DataFrame({"item_id": ["i1", "i2", "i3"] * 2, "model": ["a"] * 3 + ["b"] * 3, "score": [1.0] * 6})
    pairs, _ = significance(SimpleNamespace(view=OwnTest()), scores, n_rounds=10, seed=0, alpha=0.05)
    assert not pairs["significant"].any() and pairs["p_value"].isna().all() and pairs["items"].iloc[0] == 3
    assert " > " not in pairs["statement"].iloc[0] and "not tested: 3 item(s)" in pairs["statement"].iloc[0]


def test_harness_run_warns_on_a_tiny_run(tmp_path, capsys):
    from harness.cli import main

    run = planted_run(tmp_path, "tiny", n_items=2)
    capsys.readouterr()
    assert main(["aggregate", str(run)]) == 0
    captured = capsys.readouterr()
    assert "warning: only 2 item(s) judged" in captured.out and "significant below 20 items" in captured.out
    assert captured.err == ""  # stderr stays for errors (an incomplete run's one line)


def test_report_significance_refits_with_the_runs_own_prior(tmp_path):
    """A run with `prior_ties` set: the report's pair differences are the ranking's differences,
    so the report's significance tests refit Bradley-Terry with that prior, not the default one
    (a strong prior pulls the ratings together by tens of Elo points on 12 items)."""
    run = planted_run(tmp_path, "strong-prior", n_items=12, options={"prior_ties": 30.0})
    built = build_report(run, out=tmp_path / "report", formats=("csv",), n_rounds=100)
    ranking = pd.read_csv(run / "ranking.csv").set_index("model")["score"]
    pairs = pd.read_csv(built.files[0].parent / "report_pairs.csv")
    assert len(pairs) == 3
    for row in pairs.itertuples():
        assert row.diff == pytest.approx(ranking[row.model_1] - ranking[row.model_2], abs=1e-4)
