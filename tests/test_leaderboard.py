"""`harness leaderboard` over three tasks judged by loopback judges with planted strengths: the
consensus order and Borda points must be those of the planted truths, and a model missing from
one task must be listed and counted."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness.stats.rank_aggregation import aggregate_rankings
from harness.testing.planted import PlantedJudge, planted_rows
from harness.testing.tasks import harness_cli, write_task

PLANTED = {
    "writing": {"A": 1.5, "B": 0.5, "C": -0.5, "D": -1.5},
    "coding": {"A": 1.0, "B": 1.6, "C": 0.0, "D": -1.0},
    "math": {"A": 1.0, "B": 0.0, "C": 0.1},  # D has no answers here; B and C are close: their order is unsure
}
ITEMS = 30


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return harness_cli(*args, api_key="sk-board")


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("board")
    runs = []
    for name, strengths in PLANTED.items():
        folder = tmp / name
        folder.mkdir()
        task = write_task(folder, name=name, protocol="pairwise", rows=planted_rows(sorted(strengths), ITEMS),
                          options={"n_bootstrap": 100})
        with PlantedJudge(strengths) as judge:
            done = harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url,
                           "--out", str(tmp / f"run-{name}"), "--no-progress", "--no-cache")
        assert done.returncode == 0, done.stderr
        runs.append(str(tmp / f"run-{name}"))
    done = harness("leaderboard", *runs, "--out", str(tmp / "board"), "--rounds", "40")
    return {"tmp": tmp, "runs": runs, "done": done, "table": pd.read_csv(tmp / "board" / "leaderboard.csv")}


def truth() -> pd.DataFrame:
    rows = [{"task": t, "model": m, "score": s} for t, strengths in PLANTED.items() for m, s in strengths.items()]
    return aggregate_rankings(pd.DataFrame(rows)).set_index("model")


def test_the_consensus_is_the_planted_one(board: dict[str, object]) -> None:
    done = board["done"]
    assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, done.stderr
    table = board["table"].set_index("model")  # type: ignore[attr-defined]
    expected = truth()
    assert sorted(table.index) == ["A", "B", "C", "D"]
    for model in expected.index:
        assert table.loc[model, "rank"] == expected.loc[model, "kemeny_rank"], model
    for model in ("A", "D"):  # far from the others everywhere: every resample agrees, so no interval
        assert table.loc[model, "borda"] == expected.loc[model, "borda"], model
        assert pd.isna(table.loc[model, "borda_ci_low"]) and "every bootstrap resample" in table.loc[model, "borda_note"]
    for model in ("B", "C"):  # their order in math is unsure: the interval holds the truth and has width
        low, high = table.loc[model, "borda_ci_low"], table.loc[model, "borda_ci_high"]
        assert low <= expected.loc[model, "borda"] <= high and high > low, (model, low, high)


def test_a_model_missing_from_a_task_is_counted_and_named(board: dict[str, object]) -> None:
    table = board["table"].set_index("model")  # type: ignore[attr-defined]
    assert table.loc["D", "tasks"] == 2 and table.loc["D", "missing_tasks"] == 1
    assert table.loc["D", "missing_from"] == "math" and pd.isna(table.loc["D", "rank:math"])
    assert (table.drop(index="D")["missing_tasks"] == 0).all()
    done = board["done"]
    assert "D: math" in done.stdout  # type: ignore[attr-defined]


def test_each_tasks_scores_are_its_runs_scores(board: dict[str, object]) -> None:
    table = board["table"].set_index("model")  # type: ignore[attr-defined]
    for run in board["runs"]:  # type: ignore[attr-defined]
        name = Path(run).name.removeprefix("run-")
        scores = pd.read_csv(Path(run) / "scores.csv").set_index("model")["score"]
        for model, score in scores.items():
            assert table.loc[model, f"score:{name}"] == pytest.approx(score)


def test_the_page_lists_every_model_and_what_the_numbers_rest_on(board: dict[str, object]) -> None:
    folder = board["tmp"] / "board"  # type: ignore[operator]
    page = (folder / "leaderboard.html").read_text()
    markdown = (folder / "leaderboard.md").read_text()
    for text in (page, markdown):
        assert all(f">{m}<" in text or f"| {m} |" in text for m in "ABCD")
        assert "missing from some task" in text and "40 rounds resampling items within each task" in text
        assert "<NA>" not in text and "&lt;NA&gt;" not in text  # D's rank in math: a dash, as its score
    tasks = pd.read_csv(folder / "leaderboard_tasks.csv")
    assert list(tasks["items"]) == [ITEMS] * 3 and tasks["complete"].all()


def test_bad_input_is_one_line_exit_2(board: dict[str, object], tmp_path: Path) -> None:
    runs = board["runs"]
    done = harness("leaderboard", runs[0], "--out", str(tmp_path))  # type: ignore[index]
    assert done.returncode == 2 and "two or more" in done.stderr
    done = harness("leaderboard", runs[0], str(tmp_path), "--out", str(tmp_path))  # type: ignore[index]
    assert done.returncode == 2 and "not a finished run directory" in done.stderr and "Traceback" not in done.stderr


def test_a_rubric_task_takes_its_place_beside_a_pairwise_one(board: dict[str, object], tmp_path: Path) -> None:
    """A rubric run is aggregated again on every resample, as `harness aggregate` does it: its task
    checked first (the check is what reads the rubric's scale)."""
    from typing import Any

    from harness.testing import OpenAIServer, Reply
    from harness.testing.planted import _TAG

    grades = {"A": 2, "B": 9, "C": 6}

    def respond(body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        model, item = _TAG.findall(prompt)[0]
        return Reply(text=f"Fine.\n[[{grades[model] + int(item[1:]) % 2}]]")

    task = write_task(tmp_path, name="graded", protocol="rubric", rows=planted_rows(sorted(grades), 8),
                      options={"n_bootstrap": 50, "preset": "mt_bench"})
    with OpenAIServer(respond) as server:
        done = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url,
                       "--out", str(tmp_path / "graded-run"), "--no-progress", "--no-cache")
    assert done.returncode == 0, done.stderr
    runs = board["runs"]
    done = harness("leaderboard", runs[0], str(tmp_path / "graded-run"), "--out", str(tmp_path / "b"),  # type: ignore[index]
                   "--rounds", "5")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "b" / "leaderboard.csv").set_index("model")
    assert [table.loc[m, "rank:graded"] for m in ("B", "C", "A")] == [1, 2, 3]
    assert table.loc["B", "score:graded"] == pytest.approx(9.5)  # the run's own score: 9 and 10 alternating
