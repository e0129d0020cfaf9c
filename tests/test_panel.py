"""Judge panels against planted judges over real HTTP: several loopback servers whose verdicts
follow known model qualities, one of them harsh (rubric scores shifted down by a known severity)
or biased to the first position. Every expected number comes from the planted truth or from the
judges' own answer functions, never from the harness."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.api import load_run
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing import OpenAIServer, Reply
from harness.testing.planted_panel import PanelJudge, panel_rows

QUALITY = {"m0": 4.0, "m1": 5.0, "m2": 6.0, "m3": 7.0}
TRUTH = sorted(QUALITY, key=QUALITY.get, reverse=True)
SEVERITY = 2.5
N_ITEMS = 30
CHECKLIST = 4
RUBRIC = {"criterion": "overall quality", "scores": {s: f"quality level {s}" for s in range(1, 11)}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def judge_entry(judge: PanelJudge | None, name: str, url: str | None = None, **options: Any) -> dict[str, Any]:
    return {"spec": f"openai:{name}", "base_url": url or judge.base_url, "concurrency": 4, "options": options}


def write_panel_task(directory: Path, judges: list[dict[str, Any]], *, protocol: str = "rubric",
                     n_items: int = N_ITEMS, file: str = "task.yaml", **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data.jsonl"
    rows = panel_rows(QUALITY, n_items, checklist=CHECKLIST if protocol == "checklist" else 0)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    options = {
        "rubric": {"rubric": RUBRIC},
        "pairwise": {"verdict_format": "binary"},
        "checklist": {"mode": "all", "generate": False},
    }[protocol] | {"reasoning": False, "reask": 0, "n_bootstrap": 200}
    task = directory / file
    task.write_text(json.dumps({"name": "panel", "protocol": protocol, "dataset": {"path": data.name},
                                "judges": judges, "options": options, **extra}), encoding="utf-8")
    return task


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def planted_mean(judge: PanelJudge, model: str) -> float:
    return float(np.mean([judge.rubric_score(model, f"q{i:03d}") for i in range(N_ITEMS)]))


@pytest.fixture
def rubric_panel():
    judges = [PanelJudge("fair-a", QUALITY), PanelJudge("fair-b", QUALITY),
              PanelJudge("harsh", QUALITY, severity=SEVERITY)]
    yield judges
    for judge in judges:
        judge.close()


def panel_facts(run_dir: Path) -> dict[str, dict[str, Any]]:
    manifest = json.loads((run_dir / "run.json").read_text())
    return {j["judge"]: j for j in manifest["panel"]["judges"]}


def test_a_harsh_judges_severity_is_recovered_and_removed_from_the_pooled_scores(tmp_path: Path, rubric_panel) -> None:
    fair_a, fair_b, harsh = rubric_panel
    entries = [judge_entry(j, j.name) for j in rubric_panel]
    entries[2]["concurrency"] = 2
    task = write_panel_task(tmp_path / "task", entries)
    run_task(task, RunOptions(out=tmp_path / "run", progress=False))
    run = load_run(tmp_path / "run")

    # Every request was asked of every judge, over its own server, within its own concurrency,
    # and the judges worked at the same time.
    assert fair_a.calls == fair_b.calls == harsh.calls == N_ITEMS * len(QUALITY)
    assert fair_a.server.max_in_flight <= 4 and harsh.server.max_in_flight <= 2
    arrivals = {j.name: [s.at for s in j.server.served] for j in rubric_panel}
    assert min(arrivals["harsh"]) < max(arrivals["fair-a"]) and min(arrivals["fair-a"]) < max(arrivals["harsh"])
    assert set(run.verdicts["judge"]) == {"openai:fair-a", "openai:fair-b", "openai:harsh"}

    facts = panel_facts(tmp_path / "run")
    for judge in rubric_panel:
        assert facts[judge.spec]["counts"] == {"ok": N_ITEMS * 4, "invalid": 0, "failed": 0, "pending": 0}
    # Severity: the harsh judge is the severest, by about the planted shift in score points.
    assert facts["openai:harsh"]["severity"] > max(facts[j]["severity"] for j in ("openai:fair-a", "openai:fair-b"))
    assert facts["openai:harsh"]["severity_points"] == pytest.approx(SEVERITY, abs=0.4)
    for fair in ("openai:fair-a", "openai:fair-b"):
        assert abs(facts[fair]["severity_points"]) < 0.3

    # Pooled scores: the fair judges' level, not dragged down by the harsh one; the plain mean is.
    scores = run.scores.set_index("model")
    for model in QUALITY:
        fair_level = (planted_mean(fair_a, model) + planted_mean(fair_b, model)) / 2
        assert scores.loc[model, "score"] == pytest.approx(fair_level, abs=0.3)
        assert scores.loc[model, "raw_mean"] < fair_level - SEVERITY / 3 + 0.3
        assert scores.loc[model, "ci_low"] < scores.loc[model, "score"] < scores.loc[model, "ci_high"]
    assert list(run.ranking["model"]) == TRUTH
    assert list(run.ranking["rank"]) == [1, 2, 3, 4]

    # Each judge's own numbers: a judge column plus the usual columns.
    by_judge = run.scores_by_judge
    assert {"judge", "model", "score", "ci_low", "ci_high", "n"} <= set(by_judge.columns)
    harsh_own = by_judge[by_judge["judge"] == "openai:harsh"].set_index("model")["score"]
    for model in QUALITY:
        assert harsh_own[model] == pytest.approx(planted_mean(harsh, model), abs=1e-6)
    assert set(run.ranking_by_judge["judge"]) == set(facts)

    # Agreement: the two fair judges agree on the level better than either does with the harsh one.
    agreement = json.loads((tmp_path / "run" / "run.json").read_text())["panel"]["agreement"]
    kappas = {tuple(p["judges"]): p["kappa"] for p in agreement["cohen_kappa"]}
    assert kappas[("openai:fair-a", "openai:fair-b")] > kappas[("openai:fair-a", "openai:harsh")]
    assert 0 < agreement["krippendorff_alpha"] < 1 and agreement["units"] == N_ITEMS * 4

    # The report and the terminal's note describe the fair score and its interval as what they are
    # (the report called it the mean rubric score, with an interval bootstrapped over items)
    from harness.reports.report import build_report

    build_report(tmp_path / "run", n_rounds=20, formats=("md",))
    ranking_text = (tmp_path / "run" / "report.md").read_text().split("## Ranking", 1)[1].split("\n## ", 1)[0]
    assert "Score: fair score" in ranking_text and "interval: ability +-1.96 SE" in ranking_text
    assert "mean rubric score" not in ranking_text and "bootstrap over items" not in ranking_text
    note = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]["score_note"]
    assert "score is the fair score" in note and "score: mean rubric score" not in note


def test_rasch_pooling_fixes_what_the_plain_mean_gets_wrong_when_the_harsh_judge_skips_answers(tmp_path: Path) -> None:
    """The harsh judge grades only the two best models: their plain pooled mean sinks below a
    worse model's; the Rasch fair score, which knows the judge is harsh, keeps the true order."""
    judges = [PanelJudge("fair-a", QUALITY), PanelJudge("fair-b", QUALITY),
              PanelJudge("harsh", QUALITY, severity=4.0, invalid_for=("m0", "m1"))]
    try:
        task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in judges])
        run_task(task, RunOptions(out=tmp_path / "run", progress=False))
    finally:
        for judge in judges:
            judge.close()
    scores = load_run(tmp_path / "run").scores.set_index("model")
    assert scores.loc["m2", "raw_mean"] < scores.loc["m1", "raw_mean"]  # the plain mean is fooled
    assert list(load_run(tmp_path / "run").ranking["model"]) == TRUTH
    assert panel_facts(tmp_path / "run")["openai:harsh"]["counts"]["invalid"] == N_ITEMS * 2


def test_a_pairwise_panel_pools_battles_and_measures_each_judges_position_bias(tmp_path: Path) -> None:
    quality = {m: (q - 4.0) * 0.9 for m, q in QUALITY.items()}
    judges = [PanelJudge("fair-a", quality), PanelJudge("fair-b", quality),
              PanelJudge("first", quality, position_bias=0.5)]
    try:
        task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in judges], protocol="pairwise")
        run_task(task, RunOptions(out=tmp_path / "run", progress=False))
    finally:
        for judge in judges:
            judge.close()
    run = load_run(tmp_path / "run")
    facts = panel_facts(tmp_path / "run")
    battles = N_ITEMS * 6 * 2  # every pair of 4 models, both orders
    assert list(run.ranking["model"]) == TRUTH
    # The planted position bias: half the answers are A regardless, so A wins about 0.5 + 0.5 * 0.5.
    first = facts["openai:first"]["position"]["first_position_win_rate"]
    assert first == pytest.approx(0.75, abs=0.06)
    for fair in ("openai:fair-a", "openai:fair-b"):
        assert facts[fair]["position"]["first_position_win_rate"] == pytest.approx(0.5, abs=0.07)
        assert facts[fair]["position"]["position_consistency"] > facts["openai:first"]["position"]["position_consistency"]
        assert facts[fair]["agreement_with_pool"]["n"] == battles
    assert facts["openai:first"]["agreement_with_pool"]["accuracy"] < min(
        facts[f]["agreement_with_pool"]["accuracy"] for f in ("openai:fair-a", "openai:fair-b"))
    # Bradley-Terry over all judges' battles: each model's battle count is three judges' worth.
    per_judge_n = run.ranking_by_judge.groupby("judge")["n"].sum()
    assert run.ranking["n"].sum() == per_judge_n.sum()


def test_a_checklist_panel_averages_each_responses_pass_rate_over_the_judges(tmp_path: Path) -> None:
    judges = [PanelJudge("fair-a", QUALITY), PanelJudge("fair-b", QUALITY),
              PanelJudge("harsh", QUALITY, severity=SEVERITY)]
    try:
        task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in judges], protocol="checklist")
        run_task(task, RunOptions(out=tmp_path / "run", progress=False))
    finally:
        for judge in judges:
            judge.close()
    run = load_run(tmp_path / "run")
    scores = run.scores.set_index("model")
    for model in QUALITY:
        rates = [100.0 * np.mean(j.checklist_answers(model, f"q{i:03d}", CHECKLIST))
                 for j in judges for i in range(N_ITEMS)]
        assert scores.loc[model, "score"] == pytest.approx(np.mean(rates), abs=1e-6)
        assert scores.loc[model, "n"] == N_ITEMS
    assert list(run.ranking["model"]) == TRUTH
    harsh_own = run.scores_by_judge.query("judge == 'openai:harsh'").set_index("model")["score"]
    assert (harsh_own < scores["score"].reindex(harsh_own.index)).all()
    agreement = json.loads((tmp_path / "run" / "run.json").read_text())["panel"]["agreement"]
    assert agreement["level"] == "nominal" and agreement["units"] == N_ITEMS * 4 * CHECKLIST
    assert len(agreement["cohen_kappa"]) == 3


def test_one_judge_down_exits_1_keeps_the_others_and_the_rerun_pays_only_for_what_failed(
        tmp_path: Path, rubric_panel) -> None:
    fair_a, fair_b, harsh = rubric_panel
    dead = f"http://127.0.0.1:{free_port()}/v1"
    entries = [judge_entry(fair_a, "fair-a"), judge_entry(fair_b, "fair-b"),
               judge_entry(None, "harsh", url=dead, max_attempts=2)]
    task = write_panel_task(tmp_path / "task", entries)
    out = tmp_path / "run"
    first = cli("run", str(task), "--out", str(out), "--no-progress")
    assert first.returncode == 1, first.stderr
    assert "openai:harsh" in first.stderr and "Traceback" not in first.stderr
    n = N_ITEMS * len(QUALITY)
    assert fair_a.calls == fair_b.calls == n and harsh.calls == 0
    facts = panel_facts(out)
    # Failed after its retries, or (once it looks unreachable: harness.judges.reachability) never sent.
    down = facts["openai:harsh"]["counts"]
    assert down["ok"] == down["invalid"] == 0 and down["failed"] + down["pending"] == n and down["failed"] > 0
    assert facts["openai:fair-a"]["counts"]["ok"] == facts["openai:fair-b"]["counts"]["ok"] == n
    # The judges that answered still give numbers.
    run = load_run(out)
    assert list(run.ranking["model"]) == TRUTH
    assert set(run.scores_by_judge["judge"]) == {"openai:fair-a", "openai:fair-b"}

    # The judge is back (same spec, another URL): only its failed calls are paid for.
    entries[2] = judge_entry(harsh, "harsh")
    write_panel_task(tmp_path / "task", entries)
    again = cli("run", str(task), "--out", str(out), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert (fair_a.calls, fair_b.calls, harsh.calls) == (n, n, n)
    facts = panel_facts(out)
    assert facts["openai:harsh"]["counts"] == {"ok": n, "invalid": 0, "failed": 0, "pending": 0}
    assert facts["openai:harsh"]["severity_points"] == pytest.approx(SEVERITY, abs=0.4)


def test_a_judge_with_a_fatal_error_stops_only_itself(tmp_path: Path, rubric_panel) -> None:
    fair_a, fair_b, _ = rubric_panel
    with OpenAIServer(lambda body: Reply(status=401, error="bad key")) as refusing:
        entries = [judge_entry(fair_a, "fair-a"), judge_entry(fair_b, "fair-b"),
                   judge_entry(None, "refusing", url=refusing.base_url)]
        task = write_panel_task(tmp_path / "task", entries)
        # With a key set, a 401 is a judge that refuses it (fatal), not a missing setting (exit 2).
        result = cli("run", str(task), "--out", str(tmp_path / "run"), "--no-progress",
                     env={"OPENAI_API_KEY": "sk-test-not-a-real-key"})
    assert result.returncode == 1 and "openai:refusing" in result.stderr and "Traceback" not in result.stderr
    assert fair_a.calls == fair_b.calls == N_ITEMS * len(QUALITY)
    facts = panel_facts(tmp_path / "run")
    assert facts["openai:refusing"]["counts"]["ok"] == 0
    assert facts["openai:fair-a"]["counts"]["ok"] == N_ITEMS * len(QUALITY)
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "bad key" in manifest["invocations"][-1]["judges"]["openai:refusing"]["error"]
    assert list(load_run(tmp_path / "run").ranking["model"]) == TRUTH
    assert not any("sk-test" in path.read_text() for path in (tmp_path / "run").iterdir() if path.is_file())


def test_a_panel_stopped_by_its_budget_says_so_once_with_every_judges_count(tmp_path: Path, rubric_panel) -> None:
    """--max-calls stops the panel cleanly: "stopped", once, counting what every judge left (it said
    "run failed", once per judge, each with its own count)."""
    fair_a, fair_b, _ = rubric_panel
    task = write_panel_task(tmp_path / "task", [judge_entry(fair_a, "fair-a"), judge_entry(fair_b, "fair-b")])
    result = cli("run", str(task), "--out", str(tmp_path / "run"), "--no-progress", "--max-calls", "3",
                 "--concurrency", "1")
    pending = json.loads((tmp_path / "run" / "run.json").read_text())["counts"]["pending"]
    assert result.returncode == 1 and pending > 0
    [line] = [line for line in result.stderr.splitlines() if line.startswith("harness: ")]
    assert line.startswith(f"harness: stopped: --max-calls 3 reached with {pending} requests not judged"), line


def test_judges_on_the_command_line_and_growing_a_panel(tmp_path: Path, rubric_panel) -> None:
    fair_a, fair_b, harsh = rubric_panel
    task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in rubric_panel])
    out = tmp_path / "run"
    # --judge repeated picks judges from the task file (settings by spec); two of three first.
    one = cli("run", str(task), "--judge", fair_a.spec, "--judge", fair_b.spec, "--out", str(out), "--no-progress")
    assert one.returncode == 0, one.stderr
    assert (fair_a.calls, harsh.calls) == (N_ITEMS * 4, 0)
    # Adding a judge: only the new one is asked.
    two = cli("run", str(task), "--out", str(out), "--no-progress")
    assert two.returncode == 0, two.stderr
    assert (fair_a.calls, fair_b.calls, harsh.calls) == (N_ITEMS * 4,) * 3
    assert set(load_run(out).scores_by_judge["judge"]) == {fair_a.spec, fair_b.spec, harsh.spec}
    # Dropping one is refused: the pooled numbers would change meaning.
    three = cli("run", str(task), "--judge", fair_a.spec, "--out", str(out), "--no-progress")
    assert three.returncode == 2 and "openai:fair-b" in three.stderr and len(three.stderr.strip().splitlines()) == 1


def test_a_run_grown_into_a_panel_drops_its_single_judges_category_table(tmp_path: Path, rubric_panel) -> None:
    """A panel has no per-category table (docs/leaderboard.md): the one left by the run's first,
    single judge is that judge's, and the report showed it as the panel's numbers."""
    fair_a, fair_b, _ = rubric_panel
    task = write_panel_task(tmp_path / "task", [judge_entry(fair_a, "fair-a"), judge_entry(fair_b, "fair-b")])
    data = tmp_path / "task" / "data.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    data.write_text("".join(json.dumps({**r, "category": "x" if k % 2 else "y"}) + "\n" for k, r in enumerate(rows)),
                    encoding="utf-8")
    out = tmp_path / "run"
    assert cli("run", str(task), "--judge", fair_a.spec, "--out", str(out), "--no-progress").returncode == 0
    assert (out / "scores_by_category.csv").is_file()
    assert cli("run", str(task), "--out", str(out), "--no-progress").returncode == 0
    assert not (out / "scores_by_category.csv").exists()
    assert "by_category" not in json.loads((out / "run.json").read_text())
    assert cli("report", str(out), "--format", "md").returncode == 0
    assert "a panel's run has no scores_by_category.csv" in (out / "report.md").read_text()


@pytest.mark.parametrize(("change", "word"), [
    ({"judge": "local"}, "not both"),
    ({"judges": []}, "at least one"),
])
def test_bad_panel_task_files_exit_2_in_one_line(tmp_path: Path, change: dict[str, Any], word: str) -> None:
    task = write_panel_task(tmp_path, [{"spec": "openai:a", "base_url": "http://127.0.0.1:9/v1"}])
    spec = json.loads(task.read_text())
    spec.update(change)
    task.write_text(json.dumps(spec))
    result = cli("run", str(task), "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and word in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_same_judge_twice_is_bad_input(tmp_path: Path) -> None:
    task = write_panel_task(tmp_path, [{"spec": "openai:a", "base_url": "http://127.0.0.1:9/v1"}])
    result = cli("run", str(task), "--judge", "openai:a", "--judge", "openai:a", "--out", str(tmp_path / "run"))
    assert result.returncode == 2 and "twice" in result.stderr and not (tmp_path / "run").exists()


def test_aggregate_compare_and_report_work_on_a_panel_run(tmp_path: Path, rubric_panel) -> None:
    task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in rubric_panel])
    out = tmp_path / "run"
    run_task(task, RunOptions(out=out, progress=False))
    files = {name: (out / name).read_bytes() for name in ("scores.csv", "ranking.csv", "scores_by_judge.csv",
                                                         "ranking_by_judge.csv", "verdicts.jsonl")}
    panel_before = json.loads((out / "run.json").read_text())["panel"]
    assert cli("aggregate", str(out)).returncode == 0
    for name, data in files.items():
        assert (out / name).read_bytes() == data, name
    assert json.loads((out / "run.json").read_text())["panel"] == panel_before

    single = tmp_path / "single"
    run_task(task, RunOptions(judge=rubric_panel[0].spec, out=single, progress=False))
    assert not (single / "scores_by_judge.csv").exists()
    compared = cli("compare", str(out), str(single))
    assert compared.returncode == 0, compared.stderr

    report = cli("report", str(out), "--format", "md")
    assert report.returncode == 0, report.stderr
    text = (out / "report.md").read_text()
    assert "## Judge panel" in text
    for judge in rubric_panel:
        assert judge.spec in text
    assert "severity" in text


def test_the_python_api_takes_a_list_of_judges(tmp_path: Path, rubric_panel) -> None:
    import harness

    fair_a, _, harsh = rubric_panel
    task = write_panel_task(tmp_path / "task", [judge_entry(j, j.name) for j in rubric_panel], n_items=6)
    run = harness.run(str(task), judge=[fair_a.spec, harsh.spec], out=tmp_path / "run")
    assert set(run.scores_by_judge["judge"]) == {fair_a.spec, harsh.spec}
    assert (fair_a.calls, harsh.calls, rubric_panel[1].calls) == (24, 24, 0)
    assert run.manifest["judge"] == {"panel": [fair_a.spec, harsh.spec]}
    assert [j["spec"]["model"] for j in run.manifest["judges"]] == ["fair-a", "harsh"]


def test_a_panel_whose_every_judge_fails_exits_1_with_a_line(tmp_path: Path) -> None:
    with OpenAIServer(lambda body: Reply(status=401, error="bad key")) as one, \
            OpenAIServer(lambda body: Reply(status=403, error="forbidden")) as two:
        entries = [judge_entry(None, "one", url=one.base_url), judge_entry(None, "two", url=two.base_url)]
        task = write_panel_task(tmp_path / "task", entries, n_items=3)
        result = cli("run", str(task), "--out", str(tmp_path / "run"), "--no-progress",
                     env={"OPENAI_API_KEY": "sk-test-not-a-real-key"})
    assert result.returncode == 1, result.stderr
    assert "openai:one" in result.stderr and "openai:two" in result.stderr and "internal error" not in result.stderr
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "failed"


def test_a_panel_with_adaptive_sampling_is_refused(tmp_path: Path) -> None:
    entries = [{"spec": "openai:a", "base_url": "http://127.0.0.1:9/v1"},
               {"spec": "openai:b", "base_url": "http://127.0.0.1:9/v1"}]
    task = write_panel_task(tmp_path, entries, protocol="pairwise")
    result = cli("run", str(task), "--out", str(tmp_path / "run"), "--set", "options.sampling=adaptive",
                 "--set", "options.budget=10")
    assert result.returncode == 2 and "sampling" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
