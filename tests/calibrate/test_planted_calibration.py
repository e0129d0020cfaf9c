"""`harness calibrate` and `--calibration` against a planted world: a loopback judge whose logprobs
are overconfident and lean to position A by a known amount, and human labels drawn from the true
probabilities. The map must find the planted distortion, lower the ECE out-of-fold, and bring the
win rates on new items close to the humans'."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from tests.calibrate import planted
from tests.calibrate.planted import cli
from tests.importers.helpers import harness_cli

CAL_ITEMS, EVAL_ITEMS = range(0, 60), range(60, 120)


def run_cli(*args: object) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """Human runs for both halves, the judge's run on the calibration half, and its calibration."""
    root = tmp_path_factory.mktemp("planted")
    for name, items, seed in (("cal", CAL_ITEMS, 11), ("eval", EVAL_ITEMS, 12)):
        labels = planted.write_jsonl(root / f"labels_{name}.jsonl", planted.human_labels(items, seed=seed))
        assert run_cli("import", "labels", labels, "--out", root / f"human_{name}") == 0
    server = planted.planted_server()
    task = planted.task_file(root / "cal", planted.dataset_rows(CAL_ITEMS))
    assert (
        run_cli("run", task, "--base-url", server.base_url, "--out", root / "judge_cal", "--no-progress", "--no-cache")
        == 0
    )
    assert run_cli("calibrate", root / "judge_cal", "--against", root / "human_cal", "--out", root / "cal.json") == 0
    try:
        yield root, server
    finally:
        server.close()


def calibration(root: Path, name: str = "cal.json") -> dict:
    return json.loads((root / name).read_text(encoding="utf-8"))


def test_calibration_file_recovers_the_planted_distortion(world) -> None:
    root, _ = world
    doc = calibration(root)
    assert doc["kind"] == "pairwise" and doc["n_pairs"] == 60 * 6 and doc["n_verdicts"] == 60 * 6 * 2
    assert doc["probability_source"] == "logprobs"
    assert doc["ece_calibrated"] < doc["ece_raw"] / 2
    assert doc["brier_calibrated"] < doc["brier_raw"] and doc["log_loss_calibrated"] < doc["log_loss_raw"]
    # the judge's logit is 2.5 x the truth + 0.4: Platt on the judge's P(A) must find ~1/2.5 and ~-0.4/2.5
    platt = run_cli(
        "calibrate",
        root / "judge_cal",
        "--against",
        root / "human_cal",
        "--method",
        "platt",
        "--out",
        root / "platt.json",
    )
    assert platt == 0
    fitted = calibration(root, "platt.json")["map"]
    assert fitted["method"] == "platt"
    assert fitted["slope"] == pytest.approx(1 / 2.5, abs=0.08)
    assert fitted["intercept"] == pytest.approx(-0.4 / 2.5, abs=0.12)
    # the judge sees through the position lean most of the time; agreement is what its hard labels give
    assert 0.5 < doc["first_position_win_rate"] < 0.6 and doc["position_consistency"] > 0.85
    assert 0.6 < doc["agreement"] <= 1 and 0 < doc["cohens_kappa"] < 1
    assert doc["agreement_details"]["n"] == 360
    for key in (
        "ece_raw",
        "brier_raw",
        "log_loss_raw",
        "ece_calibrated",
        "brier_calibrated",
        "log_loss_calibrated",
        "agreement_non_tie",
        "map",
        "judge",
        "human",
        "method",
        "folds",
    ):
        assert key in doc
    judge = doc["judge"]
    assert judge["judge"] == "openai:planted" and judge["protocol"] == "pairwise"
    assert judge["template"] and len(judge["fingerprint"]) == 16 and judge["settings"]["verdict_format"] == "binary"


def test_isotonic_map_is_monotone_and_scored_out_of_fold(world) -> None:
    root, _ = world
    assert (
        run_cli(
            "calibrate",
            root / "judge_cal",
            "--against",
            root / "human_cal",
            "--method",
            "isotonic",
            "--out",
            root / "iso.json",
        )
        == 0
    )
    doc = calibration(root, "iso.json")
    knots, values = doc["map"]["knots"], doc["map"]["values"]
    assert knots == sorted(knots) and values == sorted(values) and len(knots) == len(values) > 4
    # only the ends of flat steps are kept: each value appears at most twice in a row
    assert all(not (a == b == c) for a, b, c in zip(values, values[1:], values[2:], strict=False))
    assert doc["ece_calibrated"] < doc["ece_raw"]
    # out-of-fold figures are the chosen method's cross-validated ones, not the in-sample fit's
    assert doc["ece_calibrated"] == pytest.approx(doc["out_of_fold"]["isotonic"]["ece"])
    assert doc["reliability"]["raw"] and doc["reliability"]["calibrated"]


def test_calibrated_win_rates_on_new_items_land_near_the_humans(world, tmp_path: Path) -> None:
    root, server = world
    task = planted.task_file(tmp_path / "eval", planted.dataset_rows(EVAL_ITEMS))
    out = tmp_path / "judge_eval"
    assert (
        run_cli(
            "run",
            task,
            "--base-url",
            server.base_url,
            "--out",
            out,
            "--no-progress",
            "--no-cache",
            "--calibration",
            root / "cal.json",
        )
        == 0
    )
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    human = pd.read_csv(root / "human_eval" / "scores.csv").set_index("model")["win_rate"]
    truth = planted.human_win_rates(EVAL_ITEMS)
    for column in ("calibrated_win_rate", "calibrated_ci_low", "calibrated_ci_high"):
        assert column in scores.columns
    raw_error = sum(abs(scores.loc[m, "win_rate"] - human[m]) for m in truth)
    calibrated_error = sum(abs(scores.loc[m, "calibrated_win_rate"] - human[m]) for m in truth)
    assert calibrated_error < raw_error / 2, (raw_error, calibrated_error)
    for model, rate in truth.items():  # within the interval of the truth, and the truth within a few points
        row = scores.loc[model]
        assert row["calibrated_ci_low"] <= row["calibrated_win_rate"] <= row["calibrated_ci_high"]
        assert abs(row["calibrated_win_rate"] - rate) < 4.0, (model, row["calibrated_win_rate"], rate)
    ranking = pd.read_csv(out / "ranking_calibrated.csv")
    assert list(ranking.columns) == ["model", "rank", "score", "ci_low", "ci_high", "n"]
    assert list(ranking["model"]) == ["m1", "m2", "m3", "m4"]
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    record = manifest["calibration"]
    assert record["file"] == str((root / "cal.json").resolve()) and record["forced"] is False
    assert record["made_for"]["fingerprint"] == calibration(root)["judge"]["fingerprint"]
    assert (out / "calibration.json").is_file()

    # `harness aggregate` reapplies the stored map by itself: the same files, byte for byte
    before = {name: (out / name).read_bytes() for name in ("scores.csv", "ranking.csv", "ranking_calibrated.csv")}
    assert run_cli("aggregate", out) == 0
    assert {name: (out / name).read_bytes() for name in before} == before

    # the report shows the reliability diagram and both rankings
    assert run_cli("report", out, "--format", "html", "--format", "md") == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="calibration"' in page and 'aria-label="reliability diagram"' in page
    assert "Raw and calibrated rankings" in (out / "report.md").read_text(encoding="utf-8")


def test_a_calibration_for_another_judge_is_refused_before_any_call(world, tmp_path: Path) -> None:
    root, _ = world
    other = planted.planted_server()
    try:
        task = planted.task_file(tmp_path / "t", planted.dataset_rows(range(3)))
        result = harness_cli(
            "run",
            task,
            "--judge",
            "openai:other",
            "--base-url",
            other.base_url,
            "--out",
            tmp_path / "run",
            "--no-progress",
            "--calibration",
            root / "cal.json",
        )
        assert result.returncode == 2, result.stderr
        assert "judge spec 'openai:planted' (calibration) vs 'openai:other' (run)" in result.stderr
        assert "--force-calibration" in result.stderr and "Traceback" not in result.stderr
        assert other.requests == []

        forced = harness_cli(
            "run",
            task,
            "--judge",
            "openai:other",
            "--base-url",
            other.base_url,
            "--out",
            tmp_path / "run",
            "--no-progress",
            "--calibration",
            root / "cal.json",
            "--force-calibration",
        )
        assert forced.returncode == 0, forced.stderr
        record = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["calibration"]
        assert record["forced"] is True and any("openai:other" in m for m in record["mismatches"])
        assert "calibrated_win_rate" in pd.read_csv(tmp_path / "run" / "scores.csv").columns
    finally:
        other.close()


def test_a_changed_prompt_setting_is_another_judge_setup(world, tmp_path: Path) -> None:
    root, _ = world
    task = planted.task_file(tmp_path / "t", planted.dataset_rows(range(3)))
    spec = json.loads(task.read_text(encoding="utf-8"))
    spec["options"]["temperature"] = 0.7
    task.write_text(json.dumps(spec), encoding="utf-8")
    result = cli("aggregate", root / "judge_cal", "--calibration", root / "cal.json")
    assert result.returncode == 0, result.stderr  # the run it was made on fits
    code = run_cli(
        "run",
        task,
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--out",
        tmp_path / "run",
        "--no-progress",
        "--calibration",
        root / "cal.json",
    )
    assert code == 2 and not (tmp_path / "run" / "store.jsonl").exists()


def test_too_few_or_no_matched_pairs_exit_2_with_the_counts(world, tmp_path: Path) -> None:
    root, _ = world
    result = cli("calibrate", root / "judge_cal", "--against", root / "human_eval", "--out", tmp_path / "c.json")
    assert result.returncode == 2
    assert "too few matched pairs: 0" in result.stderr and "judge run: 360 pairs, human run: 360 pairs" in result.stderr
    assert not (tmp_path / "c.json").exists()
    few = planted.write_jsonl(tmp_path / "few.jsonl", planted.human_labels(range(2)))
    assert cli("import", "labels", few, "--out", tmp_path / "few").returncode == 0
    result = cli("calibrate", root / "judge_cal", "--against", tmp_path / "few", "--out", tmp_path / "c.json")
    assert result.returncode == 2 and "too few matched pairs: 12 (on 2 items; at least 20" in result.stderr
    ok = cli(
        "calibrate",
        root / "judge_cal",
        "--against",
        tmp_path / "few",
        "--min-pairs",
        "12",
        "--out",
        tmp_path / "c.json",
    )
    assert ok.returncode == 0, ok.stderr and (tmp_path / "c.json").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--calibration", "missing.json"), "--calibration missing.json: no such file"),
        (("--calibration", "run.json"), "not a calibration file"),
    ],
)
def test_bad_calibration_files_exit_2(world, args, message) -> None:
    root, _ = world
    result = cli(
        "aggregate", root / "judge_cal", *[a if a != "run.json" else root / "judge_cal" / "run.json" for a in args]
    )
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_panel_run_is_refused_not_mixed(world, tmp_path: Path) -> None:
    """A panel's store holds each request once per judge; the calibration read one record per
    request, whichever judge wrote it, fitted a mix of judges and named it 'unknown'."""
    import shutil

    root, _ = world
    panel = tmp_path / "panel"
    shutil.copytree(root / "judge_cal", panel)
    manifest = json.loads((panel / "run.json").read_text(encoding="utf-8"))
    manifest["panel"] = {"judges": [{"label": "j1"}, {"label": "j2"}]}  # what a panel run records
    (panel / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = cli("calibrate", panel, "--against", root / "human_cal", "--out", tmp_path / "c.json")
    assert result.returncode == 2 and "a judge panel's run has several judges" in result.stderr
    assert not (tmp_path / "c.json").exists()


def test_a_pairwise_map_never_maps_a_rubric_run(world, tmp_path: Path) -> None:
    root, _ = world
    rows = [{"item_id": f"q{i}", "model": m, "score": 1 + (i + k) % 5} for i in range(12) for k, m in enumerate("ab")]
    source = planted.write_jsonl(tmp_path / "scores.jsonl", rows)
    assert cli("import", "labels", source, "--out", tmp_path / "rubric").returncode == 0
    result = cli("aggregate", tmp_path / "rubric", "--calibration", root / "cal.json", "--force-calibration")
    assert result.returncode == 2 and "a pairwise calibration cannot map a rubric run" in result.stderr
    result = cli("calibrate", root / "judge_cal", "--against", tmp_path / "rubric", "--out", tmp_path / "c.json")
    assert result.returncode == 2 and "a rubric run; the judge run is pairwise" in result.stderr


def test_level_only_verdicts_are_calibrated_from_their_levels(world, tmp_path: Path) -> None:
    """A judge run without logprobs (here: imported human labels of the other half acting as a
    'judge' on the same items) uses its verdict levels as P(model_a better)."""
    root, _ = world
    labels = planted.write_jsonl(tmp_path / "again.jsonl", planted.human_labels(CAL_ITEMS, seed=99))
    assert run_cli("import", "labels", labels, "--out", tmp_path / "second_opinion") == 0
    assert (
        run_cli(
            "calibrate",
            tmp_path / "second_opinion",
            "--against",
            root / "human_cal",
            "--method",
            "isotonic",
            "--out",
            tmp_path / "c.json",
        )
        == 0
    )
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc["probability_source"] == "level"
    # two draws from the same probabilities: raw P is 0 or 1, the map pulls them towards the truth
    assert set(doc["map"]["knots"]) <= {0.0, 1.0} and 0.5 < doc["map"]["values"][-1] < 1.0
    assert not math.isnan(doc["cohens_kappa"])


def test_python_api_applies_a_calibration(world, tmp_path: Path) -> None:
    import harness

    root, server = world
    task = planted.task_file(tmp_path / "t", planted.dataset_rows(range(200, 210)))
    run = harness.run(task, base_url=server.base_url, out=tmp_path / "run", calibration=root / "cal.json")
    assert {"calibrated_win_rate", "calibrated_ci_low", "calibrated_ci_high"} <= set(run.scores.columns)
    assert run.manifest["calibration"]["method"] == calibration(root)["map"]["method"]


def test_keeping_only_step_ends_leaves_the_isotonic_map_unchanged() -> None:
    import numpy as np

    from harness.calibrate.mapfile import step_ends
    from harness.stats.calibration import fit_isotonic

    rng = np.random.default_rng(3)
    p = rng.uniform(size=400)
    y = (rng.uniform(size=400) < p**2).astype(float)
    full = fit_isotonic(p, y)
    knots, values = step_ends(full.knots, full.values)
    assert len(knots) < len(full.knots) / 3
    probe = np.linspace(-0.1, 1.1, 1201)
    assert np.allclose(np.interp(probe, knots, values), full(np.clip(probe, 0, 1)))
