"""`harness audit` end to end against judges with planted biases on loopback (real HTTP): each
planted effect lies inside the interval the audit reports and is flagged; a fair judge flags no
bias probe, also over several seeds; the audit resumes from its cache; bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.testing.planted_bias import BiasedJudge, bias_rows

BIAS = ("position", "verbosity", "markdown", "authority", "injection")


def write_task(root: Path, n_items: int = 40, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bias_rows(n_items)), encoding="utf-8")
    task = root / "task.yaml"
    task.write_text("name: bias\nprotocol: pairwise\ndataset:\n  path: data.jsonl\njudge: openai:biased\n"
                    f"options:\n  reasoning: false\n{extra}", encoding="utf-8")
    return task


def audit(task: Path, judge: BiasedJudge, out: Path, *args: object) -> tuple[int, dict[str, Any]]:
    code = main(["audit", str(task), "--judge", judge.spec, "--base-url", judge.base_url, "--out", str(out),
                 "--no-progress", *map(str, args)])
    report = json.loads((out / "audit.json").read_text()) if (out / "audit.json").exists() else {}
    return code, report


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")


@pytest.mark.parametrize(("planted", "probe", "expected"), [
    ({"position": 0.25, "quality": 0.25}, "position", 0.25),
    ({"length": 0.3}, "verbosity", 0.3),
    ({"markdown": 0.3}, "markdown", 0.3),
    ({"obey": 0.8}, "injection", 0.4),  # obeyed verdicts favour the perturbed answer; the rest are coin flips
])
def test_a_planted_bias_is_recovered_inside_its_interval(tmp_path: Path, planted: dict[str, float], probe: str,
                                                         expected: float) -> None:
    task = write_task(tmp_path / "task")
    with BiasedJudge(**planted) as judge:
        code, report = audit(task, judge, tmp_path / "out", "--probes", f"{probe},quality", "--limit", 40)
    assert code == 0
    entry = report["probes"][probe]
    assert entry["ci_low"] <= expected <= entry["ci_high"]
    assert entry["significant"] and entry["n"] == 40 and entry["ci_low"] > 0
    assert report["probes"]["quality"]["significant"] and report["probes"]["quality"]["effect"] < 0
    if probe == "injection":
        assert entry["followed_share"] > 0.6


def test_a_fair_judge_flags_no_bias_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = write_task(tmp_path / "task")
    with BiasedJudge() as judge:
        code, report = audit(task, judge, tmp_path / "out")
        calls = judge.calls
    assert code == 0 and report["complete"]
    assert set(report["probes"]) == {*BIAS, "quality"}  # self_preference needs audit.judge_family
    assert not any(report["probes"][p]["significant"] for p in BIAS)
    assert report["probes"]["quality"]["significant"]
    for entry in report["probes"].values():
        assert entry["n"] == report["settings"]["items"] == 30
        assert entry["ci_low"] <= entry["effect"] <= entry["ci_high"] and entry["ci_low"] < entry["ci_high"]
    printed = capsys.readouterr().out
    assert all(f"{name}:" in printed or f"{name} (control):" in printed for name in report["probes"])
    # 30 items in both orders for five probes; injection judges two planted texts against the control
    assert calls == 30 * 2 * 5 + 30 * 4


def test_a_fair_judge_flags_at_most_the_nominal_share_over_seeds(tmp_path: Path) -> None:
    task = write_task(tmp_path / "task")
    flagged = 0
    seeds = range(6)
    for seed in seeds:
        with BiasedJudge(seed=seed) as judge:
            code, report = audit(task, judge, tmp_path / f"out{seed}", "--seed", seed, "--probes",
                                 ",".join(BIAS), "--limit", 20)
        assert code == 0
        flagged += any(report["probes"][p]["significant"] for p in BIAS)
    assert flagged <= 1  # P(2 or more of 6 at a 5% family-wise rate) < 3.5%


def test_a_rerun_resumes_from_the_store_and_says_the_same(tmp_path: Path) -> None:
    task = write_task(tmp_path / "task")
    out = tmp_path / "out"
    with BiasedJudge(length=0.2) as judge:
        audit(task, judge, out, "--probes", "verbosity,quality", "--limit", 10)
        first, calls = (out / "audit.json").read_text(), judge.calls
        code, _ = audit(task, judge, out, "--probes", "verbosity,quality", "--limit", 10)
        assert judge.calls == calls and code == 0
    assert (out / "audit.json").read_text() == first
    assert (out / "audit.md").exists() and "Judge audit" in (out / "audit.html").read_text()


def test_task_file_audit_settings_are_used(tmp_path: Path) -> None:
    task = write_task(tmp_path / "task", extra="audit:\n  probes: [verbosity]\n  items: 8\n  padding: [0.5, 1.0]\n")
    with BiasedJudge() as judge:
        code, report = audit(task, judge, tmp_path / "out")
    assert code == 0 and set(report["probes"]) == {"verbosity_50", "verbosity_100"}
    assert report["probes"]["verbosity_50"]["n"] == 8 and report["probes"]["verbosity_100"]["padding"] == 1.0


@pytest.mark.parametrize(("args", "extra", "message"), [
    (["--probes", "position,colour"], "", "unknown probe 'colour'"),
    (["--limit", "1"], "", "--limit must be at least 2"),
    (["--probes", "self_preference"], "", "audit.judge_family"),
    ([], "audit:\n  items: many\n", "audit.items"),
    ([], "audit:\n  judge_family: nobody\n", "'nobody' has no item"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                          extra: str, message: str) -> None:
    task = write_task(tmp_path / "task", extra=extra)
    code = main(["audit", str(task), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_task_that_neither_compares_nor_grades_is_refused(tmp_path: Path, repo: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", str(repo / "tasks" / "demo_checklist.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "compare two answers or grade one" in err and len(err.splitlines()) == 1


def test_a_grading_task_reports_score_changes_on_its_scale(tmp_path: Path) -> None:
    """Rubric: effect = mean score change; the planted grader adds 2 points for padding, 1 for markup."""
    root = tmp_path / "task"
    write_task(root)
    task = root / "rubric.yaml"
    task.write_text("name: bias_rubric\nprotocol: rubric\ndataset:\n  path: data.jsonl\njudge: openai:biased\n"
                    "options:\n  preset: wb_score\n  reasoning: false\n", encoding="utf-8")
    with BiasedJudge(grade_length=2, grade_markdown=1) as judge:
        code, report = audit(task, judge, tmp_path / "out", "--probes", "position,verbosity,markdown", "--limit", 20)
    assert code == 0 and report["shape"] == "grade" and report["scale"] == [1, 10]
    assert "position" not in report["probes"]  # one answer per call: nothing to be first
    verbosity, markdown = (report["probes"][p] for p in ("verbosity", "markdown"))
    assert verbosity["ci_low"] <= 2 <= verbosity["ci_high"] and verbosity["significant"]
    assert markdown["ci_low"] <= 1 <= markdown["ci_high"] and markdown["significant"]
    with BiasedJudge() as judge:
        code, report = audit(task, judge, tmp_path / "fair", "--probes", "verbosity,markdown,quality", "--limit", 20)
    quality = report["probes"]["quality"]
    # the degraded copy loses two complete facts (one removed, one cut short)
    assert quality["ci_low"] <= -2 <= quality["ci_high"] and quality["significant"]
    assert not report["probes"]["verbosity"]["significant"] and not report["probes"]["markdown"]["significant"]


def test_self_preference_runs_when_the_task_names_the_judges_family(tmp_path: Path) -> None:
    task = write_task(tmp_path / "task", extra="audit:\n  judge_family: alpha\n")
    with BiasedJudge(family="alpha", own=0.3) as judge:
        code, report = audit(task, judge, tmp_path / "out", "--probes", "self_preference,quality")
    entry = report["probes"]["self_preference"]
    assert code == 0 and entry["family_model"] == "alpha" and entry["controlled"] is False
    assert entry["ci_low"] <= 0.3 <= entry["ci_high"] and entry["significant"]
    assert "compare with a judge from another family" in entry["meaning"]


def test_failed_calls_exit_1_with_a_partial_audit_and_the_same_command_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.testing import OpenAIServer, Reply

    task = write_task(tmp_path / "task")
    out = tmp_path / "out"
    with OpenAIServer(lambda body: Reply(status=503, error="overloaded")) as down:
        code = main(["audit", str(task), "--judge", "openai:biased", "--base-url", down.base_url, "--out", str(out),
                     "--no-progress", "--probes", "verbosity,quality", "--limit", "6",
                     "--judge-option", "max_attempts=1"])
    captured = capsys.readouterr()
    report = json.loads((out / "audit.json").read_text())
    assert code == 1 and not report["complete"]
    assert f"--out {out}" in captured.err and "partial" in captured.out
    for entry in report["probes"].values():  # no verdict, no claim
        assert entry["n"] == 0 and entry["effect"] is None and not entry["significant"]
        assert entry["unfinished_requests"] == 12 and "nothing can be said" in entry["meaning"]
    with BiasedJudge(length=0.3) as judge:
        code, report = audit(task, judge, out, "--probes", "verbosity,quality", "--limit", 6)
    assert code == 0 and report["complete"] and report["probes"]["verbosity"]["n"] == 6


def test_a_judge_whose_answers_never_parse_gives_no_number_and_exit_1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.testing import OpenAIServer, Reply

    task = write_task(tmp_path / "task")
    out = tmp_path / "out"
    with OpenAIServer(lambda body: Reply(text="Both answers have merits.")) as rambling:
        code = main(["audit", str(task), "--judge", "openai:biased", "--base-url", rambling.base_url, "--out", str(out),
                     "--no-progress", "--probes", "verbosity,quality", "--limit", "4"])
    captured = capsys.readouterr()
    report = json.loads((out / "audit.json").read_text())
    # every request has its (unparseable) verdict, so nothing is pending, yet no probe has a number
    assert report["complete"] and all(e["n"] == 0 and e["items_left_out"] == 4 for e in report["probes"].values())
    assert code == 1
    assert "no item has usable verdicts for verbosity, quality" in captured.err
    assert "not final" in captured.out and "not final" in (out / "audit.md").read_text()
    assert main(["report", str(out)]) == 1  # the report says the same of the same directory


def test_harness_report_on_an_audit_directory_writes_its_page(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    task = write_task(tmp_path / "task")
    with BiasedJudge(markdown=0.3) as judge:
        audit(task, judge, tmp_path / "out", "--probes", "markdown", "--limit", 10)
    report = json.loads((tmp_path / "out" / "audit.json").read_text())
    capsys.readouterr()
    assert main(["report", str(tmp_path / "out"), "--out", str(tmp_path / "page")]) == 0
    printed = capsys.readouterr().out
    page = (tmp_path / "page" / "audit.html").read_text()
    assert "Judge audit" in page and report["probes"]["markdown"]["meaning"] in printed
    # the same number everywhere: audit.json's effect, in points, on the page and in audit.md
    from harness.reports.page import format_value

    points = format_value(round(report["probes"]["markdown"]["effect"] * 100, 2))
    assert points in page and points in (tmp_path / "page" / "audit.md").read_text()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "audit.json").write_text("{}")
    assert main(["report", str(tmp_path / "bad")]) == 2


def test_an_audit_directory_of_another_task_or_a_panel_is_refused(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    task = write_task(tmp_path / "task")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "audit.json").write_text(json.dumps({"task": "another", "probes": {}}))
    code = main(["audit", str(task), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 2 and "holds an audit of task 'another'" in capsys.readouterr().err
    settings = {"probes": ["position"], "items": 10, "padding": [0.3], "seed": 0, "model": None, "judge_family": None}
    (tmp_path / "out" / "audit.json").write_text(json.dumps({"task": "bias", "probes": {}, "settings": settings}))
    code = main(["audit", str(task), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v1"])
    assert code == 2 and "other settings (items 10 -> 30); rerun with the same options" in capsys.readouterr().err
    panel = tmp_path / "task" / "panel.yaml"
    panel.write_text(task.read_text().replace("judge: openai:biased", "judges: [openai:a, openai:b]"))
    code = main(["audit", str(panel), "--out", str(tmp_path / "panel"), "--base-url", "http://127.0.0.1:9/v1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "audits one judge at a time" in err and len(err.splitlines()) == 1
