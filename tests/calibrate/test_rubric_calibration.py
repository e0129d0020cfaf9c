"""Rubric calibration against a planted lenient judge (one point above the human grade, capped
at the top): the isotonic map takes its scores back to the human scale, on new items too."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.testing.openai_server import OpenAIServer
from tests.calibrate import planted
from tests.calibrate.planted import cli

CAL_ITEMS, EVAL_ITEMS = range(0, 50), range(50, 100)


def test_lenient_judge_is_mapped_back_to_the_human_scale(tmp_path: Path) -> None:
    labels = planted.write_jsonl(tmp_path / "scores.jsonl", planted.score_labels(CAL_ITEMS))
    assert cli("import", "labels", labels, "--out", tmp_path / "human").returncode == 0
    with OpenAIServer(planted.rubric_respond, model="planted") as server:
        task = planted.rubric_task_file(tmp_path / "cal", planted.dataset_rows(CAL_ITEMS))
        assert (
            cli("run", task, "--base-url", server.base_url, "--out", tmp_path / "judge", "--no-progress").returncode
            == 0
        )
        result = cli("calibrate", tmp_path / "judge", "--against", tmp_path / "human", "--out", tmp_path / "c.json")
        assert result.returncode == 0, result.stderr
        doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
        assert doc["kind"] == "rubric" and doc["n_pairs"] == 200 and doc["score_source"] == "score"
        assert doc["judge_scale"] == [1, 5] and doc["human_scale"] == [1, 5]
        # the map undoes the +1: judge 2..4 -> human 1..3 exactly; judge 5 pools human 4 and 5
        mapped = dict(zip(doc["map"]["knots"], doc["map"]["values"], strict=True))
        for judge_score in (2.0, 3.0, 4.0):
            if judge_score in mapped:
                assert mapped[judge_score] == pytest.approx(judge_score - 1)
        assert 4.0 <= mapped[5.0] <= 5.0
        assert doc["mae_calibrated"] < doc["mae_raw"] / 2 and doc["rmse_calibrated"] < doc["rmse_raw"]
        assert doc["spearman"] > 0.9 and doc["weighted_kappa_calibrated"] > doc["weighted_kappa"]
        assert "weighted kappa" in result.stdout

        eval_task = planted.rubric_task_file(tmp_path / "eval", planted.dataset_rows(EVAL_ITEMS))
        out = tmp_path / "judge_eval"
        result = cli(
            "run",
            eval_task,
            "--base-url",
            server.base_url,
            "--out",
            out,
            "--no-progress",
            "--calibration",
            tmp_path / "c.json",
        )
        assert result.returncode == 0, result.stderr
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    truth = pd.DataFrame(planted.score_labels(EVAL_ITEMS)).groupby("model")["score"].mean()
    for model, human in truth.items():
        row = scores.loc[model]
        assert abs(row["calibrated_score"] - human) < abs(row["score"] - human)
        assert abs(row["calibrated_score"] - human) < 0.25, (model, row["calibrated_score"], human)
        assert row["calibrated_ci_low"] <= row["calibrated_score"] <= row["calibrated_ci_high"]
    ranking = pd.read_csv(out / "ranking_calibrated.csv")
    assert ranking.iloc[0]["model"] == "m1" and ranking.iloc[-1]["model"] == "m4"
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["calibration"]["kind"] == "rubric"


def test_rubric_calibration_refuses_platt(tmp_path: Path) -> None:
    labels = planted.write_jsonl(tmp_path / "scores.jsonl", planted.score_labels(range(5)))
    assert cli("import", "labels", labels, "--out", tmp_path / "human").returncode == 0
    result = cli(
        "calibrate",
        tmp_path / "human",
        "--against",
        tmp_path / "human",
        "--method",
        "platt",
        "--out",
        tmp_path / "c.json",
    )
    assert result.returncode == 2 and "rubric calibration maps scores isotonically" in result.stderr
