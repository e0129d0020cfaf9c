"""Per-category scores (scores_by_category.csv, `--category`) against a loopback judge with planted
per-category strengths: each category's score and interval must find that category's truth."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.testing.planted import PlantedJudge, planted_category_rows
from harness.testing.tasks import harness_cli, write_task

MODELS = ["new", "base", "other"]
#: In `code` new is best, in `chat` it is worst; `tiny` has too few items for a significance claim.
PLANTED = {
    "code": {"new": 1.5, "base": 0.0, "other": -1.0},
    "chat": {"new": -1.5, "base": 0.5, "other": 0.0},
    "tiny": {"new": 0.0, "base": 0.0, "other": 0.0},
}
SIZES = {"code": 30, "chat": 30, "tiny": 4}


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return harness_cli(*args, api_key="sk-category")


def expected_score(category: str, model: str) -> float:
    """WB-Reward from the model's side, all pairs in both orders, "slightly" verdicts (+-50)."""
    theta = PLANTED[category]
    others = [o for o in MODELS if o != model]
    return sum(50.0 * (2.0 / (1.0 + math.exp(theta[o] - theta[model])) - 1.0) for o in others) / len(others)


def run(judge: PlantedJudge, task: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url, "--out", str(out),
                   "--no-progress", "--no-cache", *extra)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("category")
    task = write_task(tmp, name="cats", protocol="pairwise", rows=planted_category_rows(MODELS, SIZES),
                      options={"n_bootstrap": 300})
    with PlantedJudge({}, by_category=PLANTED) as judge:
        full = run(judge, task, tmp / "full")
        code = run(judge, task, tmp / "code", "--category", "code")
        unknown = run(judge, task, tmp / "bad", "--category", "poetry")
    return {"tmp": tmp, "full": full, "code": code, "unknown": unknown}


def by_category(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "scores_by_category.csv")


def test_every_category_finds_its_planted_truth_within_its_interval(runs: dict[str, Any]) -> None:
    assert runs["full"].returncode == 0, runs["full"].stderr
    table = by_category(runs["tmp"] / "full")
    for category in ("code", "chat"):
        rows = table[table["category"] == category].set_index("model")
        for model in MODELS:
            truth = expected_score(category, model)
            low, high = rows.loc[model, "ci_low"], rows.loc[model, "ci_high"]
            assert low < truth < high, (category, model, truth, low, high)
            assert rows.loc[model, "items"] == SIZES[category]
    code = table[table["category"] == "code"].set_index("model")["score"]
    chat = table[table["category"] == "chat"].set_index("model")["score"]
    assert code["new"] > code["base"] and chat["new"] < chat["base"]  # the per-category reversal is seen


def test_every_model_is_in_every_category_and_small_ones_say_so(runs: dict[str, Any]) -> None:
    table = by_category(runs["tmp"] / "full")
    assert sorted(table["category"].unique()) == sorted(SIZES)
    for _, rows in table.groupby("category"):
        assert sorted(rows["model"]) == sorted(MODELS)
    tiny = table[table["category"] == "tiny"]
    assert tiny["note"].str.contains("fewer than 20 items").all()
    assert not table.loc[table["category"] != "tiny", "note"].fillna("").str.contains("fewer").any()
    both = table.dropna(subset=["ci_low", "ci_high"])
    assert (both["ci_high"] > both["ci_low"]).all()  # no zero-width interval
    manifest = json.loads((runs["tmp"] / "full" / "run.json").read_text())
    assert manifest["by_category"]["few_items"] == ["tiny"]
    assert sorted(manifest["item_categories"]) == sorted(SIZES)
    assert "per category: 3 categories" in runs["full"].stdout and "tiny" in runs["full"].stdout


def test_a_run_restricted_to_a_category_agrees_with_that_categorys_rows(runs: dict[str, Any]) -> None:
    assert runs["code"].returncode == 0, runs["code"].stderr
    restricted = pd.read_csv(runs["tmp"] / "code" / "scores.csv").set_index("model")
    rows = by_category(runs["tmp"] / "full")
    rows = rows[rows["category"] == "code"].set_index("model")
    for column in ("score", "ci_low", "ci_high", "n"):
        assert restricted.loc[MODELS, column].tolist() == pytest.approx(rows.loc[MODELS, column].tolist()), column
    manifest = json.loads((runs["tmp"] / "code" / "run.json").read_text())
    assert manifest["category_filter"] == ["code"] and manifest["dataset"]["items"] == SIZES["code"]
    assert "restricted to category code" in runs["code"].stdout


def test_an_unknown_category_is_bad_input_naming_the_known_ones(runs: dict[str, Any]) -> None:
    done = runs["unknown"]
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "poetry" in done.stderr and "chat, code, tiny" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_aggregate_reproduces_the_table_and_category_restricts_it(runs: dict[str, Any]) -> None:
    full = runs["tmp"] / "full"
    before = (full / "scores_by_category.csv").read_bytes()
    done = harness("aggregate", str(full))
    assert done.returncode == 0, done.stderr
    assert (full / "scores_by_category.csv").read_bytes() == before
    done = harness("aggregate", str(full), "--category", "code")
    assert done.returncode == 0, done.stderr
    code = pd.read_csv(runs["tmp"] / "code" / "scores.csv").set_index("model")
    restricted = pd.read_csv(full / "scores.csv").set_index("model")
    assert restricted.loc[MODELS, "score"].tolist() == pytest.approx(code.loc[MODELS, "score"].tolist())
    assert json.loads((full / "run.json").read_text())["category_filter"] == ["code"]
    assert "restricted to category code" in done.stdout
    # the report says it too, atop both pages (it showed the category's numbers as the run's)
    report = harness("report", str(full), "--out", str(runs["tmp"] / "restricted-report"), "--format", "md",
                     "--format", "html")
    assert report.returncode == 0, report.stderr
    for page in ("report.md", "report.html"):
        assert "restricted to category code: the numbers cover only its items" in (
            runs["tmp"] / "restricted-report" / page).read_text()
    assert harness("aggregate", str(full), "--category", "poetry").returncode == 2
    assert harness("aggregate", str(full)).returncode == 0  # the restriction is lifted
    assert "category_filter" not in json.loads((full / "run.json").read_text())
    assert (full / "scores_by_category.csv").read_bytes() == before


def test_the_few_items_rule_is_the_significance_rule() -> None:
    from harness import by_category
    from harness.stats.significance import MIN_ITEMS

    assert by_category.MIN_ITEMS == MIN_ITEMS


def test_the_report_shows_the_category_scores_with_their_intervals(runs: dict[str, Any], tmp_path: Path) -> None:
    done = harness("report", str(runs["tmp"] / "code"), "--out", str(tmp_path / "code"), "--format", "md")
    assert done.returncode == 0, done.stderr
    done = harness("report", str(runs["tmp"] / "full"), "--out", str(tmp_path), "--format", "md")
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "report.md").read_text()
    section = text.split("## Categories", 1)[1].split("\n## ", 1)[0]
    assert "bootstrap interval over those items" in section
    table = by_category(runs["tmp"] / "full")
    for row in table.itertuples():
        line = next(line for line in section.splitlines() if f"| {row.category} | {row.model} |" in line)
        assert f"{row.ci_low:.3f}".rstrip("0").rstrip(".") in line, (line, row.ci_low)
    assert section.count("fewer than 20 items (4)") == 3
    # report_categories.csv is the table the page shows: every row of scores_by_category.csv, its numbers
    done = harness("report", str(runs["tmp"] / "full"), "--out", str(tmp_path / "csv"), "--format", "csv")
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(tmp_path / "csv" / "report_categories.csv").set_index(["category", "model"]).sort_index()
    expected = table.set_index(["category", "model"]).sort_index()
    assert list(written.index) == list(expected.index)
    for column in ("score", "ci_low", "ci_high", "n", "items"):
        assert written[column].tolist() == pytest.approx(expected[column].tolist(), nan_ok=True), column


RUBRIC = {"code": {"new": 8, "base": 5}, "chat": {"new": 3, "base": 6}}


def _rubric_score(model: str, item: str) -> int:
    category, _, k = item.rpartition("-")
    return RUBRIC[category][model] + int(k) % 3 - 1  # varies by item, so the intervals have width


def test_a_rubric_runs_category_scores_are_the_planted_means(tmp_path: Path) -> None:
    from harness.testing import OpenAIServer, Reply
    from harness.testing.planted import _TAG

    def respond(body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        model, item = _TAG.findall(prompt)[0]
        return Reply(text=f"Fine.\n[[{_rubric_score(model, item)}]]")

    sizes = {"code": 21, "chat": 6}
    task = write_task(tmp_path, name="graded", protocol="rubric", rows=planted_category_rows(["new", "base"], sizes),
                      options={"n_bootstrap": 300, "preset": "mt_bench"})
    with OpenAIServer(respond) as server:
        done = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url,
                       "--out", str(tmp_path / "run"), "--no-progress", "--no-cache")
    assert done.returncode == 0, done.stderr
    table = by_category(tmp_path / "run").set_index(["category", "model"])
    for category, n_items in sizes.items():
        for model in ("new", "base"):
            truth = sum(_rubric_score(model, f"{category}-{k:03d}") for k in range(n_items)) / n_items
            row = table.loc[(category, model)]
            assert row["score"] == pytest.approx(truth) and row["ci_low"] < truth < row["ci_high"]
            assert row["n"] == n_items and row["items"] == n_items
    assert table.loc[("chat", "new"), "note"].startswith("fewer than 20 items (6)")
    assert pd.isna(table.loc[("code", "new"), "note"])
