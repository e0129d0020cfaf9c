"""`harness aggregate RUN`: recompute a judged run's numbers from its store, with aggregation options."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness import hookimpl
from harness.cli import build_parser
from harness.plugins import load_plugins
from harness.running.recompute import aggregate_command as aggregate
from harness.running.result import RunResult
from tests.importers.helpers import harness_cli, read_scores

ROWS = [  # x answers at length, y briefly; y is the baseline
    {"id": f"q{i}", "instruction": f"question {i}", "answers": {"x": "long answer " * 20, "y": "short"}}
    for i in range(3)
]


@pytest.fixture
def judged_run(harness_run_task: Any, harness_judge_server: Any, harness_run_dir: Path) -> Path:
    """A run written by `harness run` over real HTTP: the judge always says A is slightly better."""
    harness_judge_server.otherwise("Both are fine. [[2]]")
    harness_run_task("pairwise", ROWS, options={"baselines": ["y"], "n_bootstrap": 50})
    return harness_run_dir


def test_without_changes_reproduces_the_run_files(judged_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(judged_run, copy)
    result = harness_cli("aggregate", copy)
    assert result.returncode == 0, result.stderr
    assert "x" in result.stdout and "rating" in result.stdout  # the table, as `harness run` prints it
    for name in ("scores.csv", "ranking.csv", "verdicts.jsonl"):
        assert (copy / name).read_bytes() == (judged_run / name).read_bytes(), name


def test_length_rule_override_recomputes_without_judging(judged_run: Path) -> None:
    store_before = (judged_run / "store.jsonl").read_bytes()
    x = read_scores(judged_run)["x"]
    # each item in both orders: x slightly better when first, y slightly better when first
    assert (int(x["win"]), int(x["lose"]), int(x["tie"])) == (3, 3, 0)
    result = harness_cli("aggregate", judged_run, "--set", "options.length_k=10")
    assert result.returncode == 0, result.stderr
    x = read_scores(judged_run)["x"]
    # x is 235 characters longer: its slight wins become ties; y's (the shorter winner's) stay
    assert (int(x["win"]), int(x["lose"]), int(x["tie"])) == (0, 3, 3)
    assert float(x["wb_reward"]) == pytest.approx((0 * 3 - 50 * 3) / 6)
    manifest = json.loads((judged_run / "run.json").read_text(encoding="utf-8"))
    assert manifest["protocol"]["config"]["length_k"] == 10
    assert manifest["summary"]["length_k"] == 10
    assert manifest["aggregations"][-1]["overrides"] == ["options.length_k=10"]
    assert (judged_run / "store.jsonl").read_bytes() == store_before


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("options.length_k", "expected KEY=VALUE"),
        ("options.nonsense=1", "unknown option 'nonsense'"),
        ("options.verdict_format=labels", "changes what the judge was asked"),
        ("options.length_k=-5", "options.length_k"),
    ],
)
def test_bad_override_is_bad_input(judged_run: Path, override: str, message: str) -> None:
    before = (judged_run / "scores.csv").read_bytes()
    result = harness_cli("aggregate", judged_run, "--set", override)
    assert result.returncode == 2 and result.stderr.startswith("harness: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and (judged_run / "scores.csv").read_bytes() == before


def test_not_a_run_directory(tmp_path: Path) -> None:
    result = harness_cli("aggregate", tmp_path)
    assert result.returncode == 2 and "not a run directory" in result.stderr


def test_unknown_protocol(judged_run: Path) -> None:
    manifest = json.loads((judged_run / "run.json").read_text(encoding="utf-8"))
    manifest["protocol"]["name"] = "no_such_protocol"
    (judged_run / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = harness_cli("aggregate", judged_run)
    assert result.returncode == 2 and "unknown protocol 'no_such_protocol'" in result.stderr


class FinishedRuns:
    """A plugin registered in-process that keeps every run `harness_run_finished` reports."""

    def __init__(self) -> None:
        self.runs: list[Any] = []

    @hookimpl
    def harness_run_finished(self, run: Any) -> None:
        self.runs.append(run)


def test_aggregate_reports_the_rewritten_run_to_run_finished_as_harness_run_does(
    harness_run_task: Any, harness_judge_server: Any, harness_run_dir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    harness_judge_server.otherwise("Both are fine. [[2]]")
    at_run, at_aggregate = FinishedRuns(), FinishedRuns()
    harness_run_task("pairwise", ROWS, options={"baselines": ["y"], "n_bootstrap": 50}, plugins=[at_run])
    args = build_parser().parse_args(["aggregate", str(harness_run_dir), "--set", "options.length_k=10"])
    assert aggregate(args, load_plugins(extra=(at_aggregate,))) == 0
    [ran], [recomputed] = at_run.runs, at_aggregate.runs
    assert type(recomputed) is type(ran) is RunResult
    assert recomputed.directory == ran.directory == harness_run_dir
    assert recomputed.loaded.kind.name == ran.loaded.kind.name == "pairwise"
    # The run as rewritten: run.json with the new option, scores.csv with the length rule applied.
    on_disk = json.loads((harness_run_dir / "run.json").read_text(encoding="utf-8"))
    assert recomputed.manifest == on_disk and on_disk["summary"]["length_k"] == 10
    assert ran.manifest["summary"]["length_k"] != 10
    assert dict(zip(recomputed.scores["model"], recomputed.scores["tie"].astype(int))) == {
        model: int(row["tie"]) for model, row in read_scores(harness_run_dir).items()}
    assert int(recomputed.scores.set_index("model").loc["x", "tie"]) == 3
    assert recomputed.complete


# -- runs whose task needs more than the stored verdicts ----------------------------------------


def test_a_checklist_run_with_the_dataset_s_own_checklists_aggregates_again(
    harness_run_task: Any, harness_judge_server: Any, harness_run_dir: Path, tmp_path: Path,
) -> None:
    # options.generate false: every item brings its checklist. The items `aggregate` rebuilds from
    # the verdicts carry ids and model names only, which used to fail the task's dataset check.
    harness_judge_server.otherwise("Checked.\n1. YES\n2. NO")
    rows = [{"id": f"q{i}", "instruction": f"question {i}", "checklist": ["Is it polite?", "Is it right?"],
             "answers": {"x": "yes", "y": "no"}} for i in range(3)]
    harness_run_task("checklist", rows, options={"generate": False, "n_bootstrap": 50})
    copy = tmp_path / "copy"
    shutil.copytree(harness_run_dir, copy)
    result = harness_cli("aggregate", copy)
    assert result.returncode == 0, result.stderr
    for name in ("scores.csv", "ranking.csv", "verdicts.jsonl"):
        assert (copy / name).read_bytes() == (harness_run_dir / name).read_bytes(), name


def test_a_run_with_its_own_template_and_rubric_library_aggregates_again_even_once_they_are_gone(
    harness_run_task: Any, harness_judge_server: Any, harness_run_dir: Path, tmp_path: Path,
) -> None:
    harness_judge_server.otherwise("Fine. [[2]]")
    library = "tiny:\n  criterion: Is it right?\n  scores: {1: wrong, 2: partly, 3: right}\n"
    template = (Path(__file__).resolve().parents[2] / "prompts" / "rubric.jinja").read_text(encoding="utf-8")
    rows = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"x": "a", "y": "b"}} for i in range(3)]
    harness_run_task("rubric", rows, options={"rubric_name": "tiny", "rubric_file": "lib.yaml", "n_bootstrap": 50},
                     files={"lib.yaml": library, "mine.jinja": template}, overrides=["template=mine.jinja"])
    copy = tmp_path / "copy"
    shutil.copytree(harness_run_dir, copy)
    result = harness_cli("aggregate", copy)  # found next to the task file, as the run found them
    assert result.returncode == 0, result.stderr
    for name in ("scores.csv", "ranking.csv"):
        assert (copy / name).read_bytes() == (harness_run_dir / name).read_bytes(), name
    # Moved away: the template is not needed to aggregate; the rubric is, and its absence is one line.
    task_dir = next(tmp_path.glob("task-*"))
    (task_dir / "mine.jinja").unlink()
    assert harness_cli("aggregate", copy).returncode == 0
    (task_dir / "lib.yaml").unlink()
    missing = harness_cli("aggregate", copy)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "lib.yaml" in missing.stderr
