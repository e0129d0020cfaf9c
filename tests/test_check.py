"""The regression gate as a CI script uses it: `harness check BASELINE NEW --model NAME`, exit code
asserted, against loopback judges whose planted strengths make a model worse in one category."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from harness.check import EXIT_REGRESSION
from harness.testing.planted import PlantedJudge, planted_category_rows
from harness.testing.tasks import harness_cli, write_task

MODELS = ["cand", "base", "other"]
SIZES = {"code": 30, "chat": 30, "tiny": 4}
BEFORE = {"code": {"cand": 1.0, "base": 0.0, "other": -1.0}, "chat": {"cand": 0.5, "base": 0.0, "other": -0.5},
          "tiny": {"cand": 0.0, "base": 0.0, "other": 0.0}}
#: The new checkpoint: as good at code, much worse at chat, and also worse in the tiny category
#: (too few items there for the gate to claim anything).
AFTER = {**BEFORE, "chat": {"cand": -1.5, "base": 0.0, "other": -0.5}, "tiny": {"cand": -3.0, "base": 0.0, "other": 0.0}}


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return harness_cli(*args, api_key="sk-gate")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("gate")
    task = write_task(tmp, name="gate", protocol="pairwise", rows=planted_category_rows(MODELS, SIZES),
                      options={"n_bootstrap": 300})
    for name, planted, extra in (("before", BEFORE, ()), ("again", BEFORE, ()), ("after", AFTER, ()),
                                 ("partial", AFTER, ("--max-calls", "30"))):
        with PlantedJudge({}, by_category=planted, seed=7 if name == "again" else 0) as judge:
            done = harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url,
                           "--out", str(tmp / name), "--no-progress", "--no-cache", *extra)
        assert done.returncode == (1 if name == "partial" else 0), done.stderr
    return tmp


def test_the_same_model_judged_again_passes_the_gate(runs: Path) -> None:
    done = harness("check", str(runs / "before"), str(runs / "again"), "--model", "cand")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout


def test_a_regression_in_one_category_fails_the_gate_naming_it(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "gate.csv"
    done = harness("check", str(runs / "before"), str(runs / "after"), "--model", "cand", "--out", str(out))
    assert done.returncode == EXIT_REGRESSION == 3, done.stdout + done.stderr
    assert "regression: cand in" in done.stderr and "chat (worse (significant))" in done.stderr
    assert "code" not in done.stderr and "tiny" not in done.stderr
    table = pd.read_csv(out).set_index("scope")
    assert table.loc["chat", "p_adjusted"] < 0.05 and table.loc["chat", "diff"] < 0
    assert table.loc["code", "verdict"] == "ok"
    # tiny got much worse too, but 4 items carry no significance claim
    assert table.loc["tiny", "diff"] < 0 and pd.isna(table.loc["tiny", "p_value"])
    assert table.loc["tiny", "verdict"].startswith("not tested: 4 items")
    # the numbers are those of the runs' files
    by_category = pd.read_csv(runs / "after" / "scores_by_category.csv")
    chat = by_category[(by_category["category"] == "chat") & (by_category["model"] == "cand")].iloc[0]
    assert table.loc["chat", "new"] == pytest.approx(chat["score"])
    # another model of the same runs did not regress
    assert harness("check", str(runs / "before"), str(runs / "after"), "--model", "other").returncode == 0


def test_a_threshold_fails_the_gate_where_the_score_is_below_it(runs: Path) -> None:
    scores = pd.read_csv(runs / "again" / "scores.csv").set_index("model")
    above = scores.loc["cand", "score"] + 1.0
    done = harness("check", str(runs / "before"), str(runs / "again"), "--model", "cand", "--threshold", str(above))
    assert done.returncode == EXIT_REGRESSION, done.stdout + done.stderr
    assert f"(overall) (below threshold {above:g})" in done.stderr
    done = harness("check", str(runs / "before"), str(runs / "again"), "--model", "cand", "--threshold", "-100")
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_incomplete_run_cannot_gate_and_bad_arguments_are_exit_2(runs: Path) -> None:
    done = harness("check", str(runs / "before"), str(runs / "partial"), "--model", "cand")
    assert done.returncode == 1 and "incomplete" in done.stderr
    done = harness("check", str(runs / "before"), str(runs / "after"), "--model", "nobody")
    assert done.returncode == 2 and "nobody" in done.stderr and "cand" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    done = harness("check", str(runs / "before"), str(runs / "missing"), "--model", "cand")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_an_interval_of_zero_width_in_a_file_is_no_interval(runs: Path, tmp_path: Path) -> None:
    """scores.csv written by an older harness or another tool may hold a point as an interval:
    the gate neither prints it nor tests on a standard error of zero (which divided by zero)."""
    import shutil

    copies = []
    for name in ("before", "again"):
        copy = tmp_path / name
        shutil.copytree(runs / name, copy)
        scores = pd.read_csv(copy / "scores.csv")
        at = scores["model"] == "cand"
        scores.loc[at, "ci_low"] = scores.loc[at, "ci_high"] = scores.loc[at, "score"]
        scores.to_csv(copy / "scores.csv", index=False)
        copies.append(copy)
    out = tmp_path / "gate.csv"
    done = harness("check", str(copies[0]), str(copies[1]), "--model", "cand", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    table = pd.read_csv(out).set_index("scope")
    assert table.loc["(overall)", "verdict"] == "not tested: no interval"
    assert pd.isna(table.loc["(overall)", ["baseline_ci_low", "new_ci_high", "p_value"]]).all()
    assert table.loc["code", "p_value"] >= 0  # the categories' intervals are still tested
    overall = next(line for line in done.stdout.splitlines() if "(overall)" in line)
    assert "[-]" in overall and overall.count("[-]") == 2


def test_a_score_resting_on_few_of_the_runs_items_is_not_tested(tmp_path: Path) -> None:
    """The items of a scope are the gated model's own (those with a usable verdict about it), not
    the run's: a candidate answering 3 of 24 items has a score resting on 3, and no test may
    call it significantly worse; with nothing tested and no threshold the gate cannot tell (1)."""
    from harness.testing.planted import planted_rows

    strengths = {"cand": 1.0, "base": 0.0}
    for name, skip in (("full", {}), ("sparse", {"cand": set(range(3, 24))})):
        (tmp_path / name).mkdir()
        task = write_task(tmp_path / name, name="few", protocol="pairwise", options={"n_bootstrap": 200},
                          rows=planted_rows(sorted(strengths), 24, skip=skip))
        with PlantedJudge(strengths if name == "full" else {"cand": -2.0, "base": 0.0}) as judge:
            done = harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url,
                           "--out", str(tmp_path / f"run-{name}"), "--no-progress", "--no-cache")
        assert done.returncode == 0, done.stderr
    out = tmp_path / "gate.csv"
    done = harness("check", str(tmp_path / "run-full"), str(tmp_path / "run-sparse"), "--model", "cand",
                   "--out", str(out))
    table = pd.read_csv(out).set_index("scope")
    assert table.loc["(overall)", "items"] == 3 and pd.isna(table.loc["(overall)", "p_value"])
    assert table.loc["(overall)", "verdict"] == "not tested: 3 items, fewer than 20"
    assert done.returncode == 1 and "cannot tell: no scope of cand could be tested" in done.stderr
    # a threshold still gates the point estimate, and the pass line counts what was not tested
    done = harness("check", str(tmp_path / "run-full"), str(tmp_path / "run-sparse"), "--model", "cand",
                   "--threshold", "-100")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "in 0 tested scope(s) (1 not tested: see the table) and not below -100 in the 1 scope(s)" in done.stdout


def test_an_unusable_threshold_or_output_path_is_bad_input(runs: Path, tmp_path: Path) -> None:
    for extra in (("--threshold", "nan"), ("--out", str(tmp_path / "no" / "such" / "gate.csv")),
                  ("--out", str(tmp_path))):
        done = harness("check", str(runs / "before"), str(runs / "again"), "--model", "cand", *extra)
        assert done.returncode == 2, (extra, done.stdout, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    (tmp_path / "afile").write_text("")
    done = harness("leaderboard", str(runs / "before"), str(runs / "again"), "--out", str(tmp_path / "afile"),
                   "--rounds", "2")
    assert done.returncode == 2 and "--out" in done.stderr and "internal error" not in done.stderr
