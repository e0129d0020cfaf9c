"""A protocol the core has never heard of takes part in calibration through its own calibrator.

The plugin below is a real distribution (entry point, found on sys.path as an installed one is)
registering two protocols that grade answers 0-10: `grade`, whose task class supplies a
calibrator (a least-squares line from the judge's grades to the humans', stored as a two-knot
map), and `tally`, which supplies none. A loopback judge grades two points harsher than the
planted truth and the "human" run is the truth itself: the map must undo the two points on new
items, and `harness calibrate` on a `tally` run is refused with one line naming the protocol.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.testing.openai_server import OpenAIServer, Reply
from tests.calibrate import planted
from tests.calibrate.planted import cli
from tests.test_plugins import make_distribution

GRADE_PLUGIN = '''
import re
from typing import Any, ClassVar

import numpy as np

from harness import hookimpl
from harness.protocol.calibrator import Calibrated, Calibrator, interval_table
from harness.errors import BadInput
from harness.models import JudgeRequest
from harness.protocol import Aggregate, InvalidOutput, JudgeOptions, Task, TaskKind

COLUMNS = ["calibrated_grade", "calibrated_ci_low", "calibrated_ci_high"]


def grades(verdicts):
    import pandas as pd

    rows = [(v.item_id, str(v.data["model"]), float(v.data["grade"])) for v in verdicts if v.status == "ok"]
    return pd.DataFrame(rows, columns=["item_id", "model", "value"])


def ranked(table, columns):
    ranking = table.rename(columns=dict(zip(columns, ("score", "ci_low", "ci_high"))))
    ranking = ranking.sort_values(["score", "model"], ascending=[False, True]).reset_index(drop=True)
    ranking["rank"] = range(1, len(ranking) + 1)
    return ranking[["model", "rank", "score", "ci_low", "ci_high", "n"]]


class GradeCalibrator(Calibrator):
    unit = "grades"
    compared = {"score": "raw grade", "calibrated_grade": "calibrated grade"}

    def fit(self, judge, human, options):
        truth = grades(human.verdicts).groupby(["item_id", "model"], as_index=False)["value"].mean()
        matched = grades(judge.verdicts).merge(truth, on=["item_id", "model"], suffixes=("_judge", "_human"))
        if len(matched) < options.min_pairs:
            raise BadInput(f"too few matched grades: {len(matched)} (at least {options.min_pairs} needed)")
        x, y = matched["value_judge"].to_numpy(float), matched["value_human"].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1)
        return {
            "n_pairs": len(matched), "n_items": int(matched["item_id"].nunique()), "folds": options.folds,
            "mean_error_raw": float(np.mean(np.abs(x - y))),
            "mean_error_calibrated": float(np.mean(np.abs(slope * x + intercept - y))),
            "map": {"method": "isotonic", "knots": [0.0, 10.0], "values": [intercept, 10 * slope + intercept]},
        }

    def apply(self, calibration, verdicts, config, *, n_rounds, seed):
        frame = grades(verdicts)
        frame["value"] = calibration(frame["value"].to_numpy(float))
        table = interval_table(frame, COLUMNS, n_rounds, seed)
        return Calibrated(table, ranked(table, COLUMNS), {"calibrated grade": "calibrated_grade"})

    def summary_lines(self, document):
        return [f"grade error {document['mean_error_raw']:.3f} raw, {document['mean_error_calibrated']:.3f} mapped"]

    def figures(self, document):
        return [("mean absolute grade error", document["mean_error_raw"], document["mean_error_calibrated"])]


class TallyTask(Task):
    """Grades 0-10 parsed from `[[N]]`; no calibrator (the default)."""

    def build_requests(self):
        sampling, _ = self.config.request_shape(None)
        return [
            JudgeRequest(id=f"{item.id}::{model}", item_id=item.id, sampling=sampling, meta={"model": model},
                         messages=self.prompts.render(question=item.instruction, answer=answer))
            for item in self.items for model, answer in item.answers.items()
        ]

    def parse(self, request, response):
        found = re.search(r"\\[\\[(\\d+)\\]\\]", response.text)
        if found is None:
            raise InvalidOutput("no [[grade]]")
        return {"grade": float(found.group(1))}

    def aggregate(self, verdicts):
        columns = ["score", "ci_low", "ci_high"]
        table = interval_table(grades(verdicts), columns, self.config.n_bootstrap, self.config.seed)
        return Aggregate(scores=table, ranking=ranked(table, columns), rank_label="grade")


class GradeTask(TallyTask):
    @classmethod
    def calibrator(cls):
        return GradeCalibrator()


@hookimpl
def harness_register_task_kinds(register):
    register(TaskKind(name="grade", config_model=JudgeOptions, task_class=GradeTask))
    register(TaskKind(name="tally", config_model=JudgeOptions, task_class=TallyTask))
'''

TEMPLATE = "{% block user %}Grade this answer to {{ question }} from 0 to 10: {{ answer }}{% endblock %}\n"
CAL_ITEMS, EVAL_ITEMS = range(0, 30), range(30, 60)


def true_grade(item: int, model: str) -> int:
    """The planted truth: 2-10, by the model's ability and the item."""
    return int(min(10, max(2, round(6 + 2 * planted.quality(item, model)))))


def grader(harsh: int):
    def respond(body: dict[str, Any]) -> Reply:
        prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        marks = planted._MARK.findall(prompt)
        if len(marks) != 1:
            return Reply(status=400, error="expected one answer in the prompt")
        item, model = marks[0]
        return Reply(text=f"[[{true_grade(int(item), model) - harsh}]]")

    return respond


def task_file(directory: Path, protocol: str, items: range) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    planted.write_jsonl(directory / "data.jsonl", planted.dataset_rows(items))
    (directory / "grade.jinja").write_text(TEMPLATE, encoding="utf-8")
    spec = {"name": f"{protocol}_{directory.name}", "protocol": protocol, "dataset": {"path": "data.jsonl"},
            "template": "grade.jinja", "judge": "openai:planted", "options": {"n_bootstrap": 200}}
    (directory / "task.yaml").write_text(json.dumps(spec), encoding="utf-8")
    return directory / "task.yaml"


@pytest.fixture
def grade_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    site = make_distribution(tmp_path / "site", "harness-grade", {"grade": "hx_grade"}, {"hx_grade": GRADE_PLUGIN})
    monkeypatch.syspath_prepend(str(site))
    yield
    sys.modules.pop("hx_grade", None)


def judged(root: Path, protocol: str, name: str, items: range, server: OpenAIServer, *extra: object) -> Path:
    judge = ("--judge", "openai:humans") if name.startswith("human") else ()
    result = cli("run", task_file(root / name, protocol, items), *judge, "--base-url", server.base_url,
                 "--out", root / f"{name}_run", "--no-progress", "--no-cache", *extra)
    assert result.returncode == 0, result.stderr
    return root / f"{name}_run"


def test_a_third_party_protocol_is_calibrated_by_its_own_calibrator(grade_plugin, tmp_path: Path) -> None:
    with OpenAIServer(grader(0), model="humans") as humans, OpenAIServer(grader(2), model="planted") as judge:
        human_run = judged(tmp_path, "grade", "human", CAL_ITEMS, humans)
        judge_run = judged(tmp_path, "grade", "cal", CAL_ITEMS, judge)
        result = cli("calibrate", judge_run, "--against", human_run, "--out", tmp_path / "c.json")
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == "judge openai:planted (grade) against openai:humans: 120 matched grades on 30 items"
        assert lines[1].startswith("grade error 2.000 raw, 0.000 mapped")
        doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
        assert doc["kind"] == "grade" and doc["judge"]["protocol"] == "grade"
        assert doc["map"]["values"] == pytest.approx([2.0, 12.0], abs=1e-9)  # the two points undone

        out = judged(tmp_path, "grade", "eval", EVAL_ITEMS, judge, "--calibration", tmp_path / "c.json")
        before = (out / "scores.csv").read_bytes()
        # the same command without the flag resumes the run and applies the stored copy again
        assert judged(tmp_path, "grade", "eval", EVAL_ITEMS, judge) == out
        assert (out / "scores.csv").read_bytes() == before
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    for model in planted.ABILITY:
        truth = sum(true_grade(i, model) for i in EVAL_ITEMS) / len(EVAL_ITEMS)
        assert scores.loc[model, "score"] == pytest.approx(truth - 2)
        assert scores.loc[model, "calibrated_grade"] == pytest.approx(truth)
        assert scores.loc[model, "calibrated_ci_low"] <= truth <= scores.loc[model, "calibrated_ci_high"]
    ranking = pd.read_csv(out / "ranking_calibrated.csv")
    assert list(ranking.columns) == ["model", "rank", "score", "ci_low", "ci_high", "n"]
    assert ranking.iloc[0]["model"] == "m1" and ranking.iloc[-1]["model"] == "m4"
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["calibration"]["kind"] == "grade"

    # the report shows the protocol's own figures and compared columns
    assert cli("report", out, "--format", "md").returncode == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Calibration against human labels" in report and "| mean absolute grade error |" in report
    assert "fitted on 120 grades of 30 items" in report and "| raw grade | calibrated grade |" in report


def test_a_protocol_without_a_calibrator_is_refused_in_one_line(grade_plugin, tmp_path: Path) -> None:
    with OpenAIServer(grader(0), model="humans") as humans, OpenAIServer(grader(2), model="planted") as judge:
        human_run = judged(tmp_path, "tally", "human", range(3), humans)
        judge_run = judged(tmp_path, "tally", "cal", range(3), judge)
    result = cli("calibrate", judge_run, "--against", human_run, "--out", tmp_path / "c.json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"JUDGE_RUN {judge_run}: protocol 'tally'; calibration covers " in result.stderr
    assert "grade" in result.stderr.split("covers", 1)[1]  # the protocols that can be, the new one among them
    assert not (tmp_path / "c.json").exists()
