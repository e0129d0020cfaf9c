"""Outputs that look finished are: every model in every table, partial and unusable runs said
everywhere a user looks, exit 1 where the numbers cannot stand. Against real loopback judges."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from harness.testing import OpenAIServer, Reply
from harness.testing.planted import PlantedJudge, planted_rows
from harness.testing.tasks import write_task

MODELS = ["good", "mid", "bad"]
STRENGTHS = {"good": 1.0, "mid": 0.0, "bad": -1.0}


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_BASE_URL")}
    env["OPENAI_API_KEY"] = "sk-complete"
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=240, env=env, cwd=cwd)


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "run.json").read_text())


def planted_task(tmp_path: Path, n_items: int = 6, **options: Any) -> Path:
    return write_task(tmp_path, name="complete", protocol="pairwise", rows=planted_rows(MODELS, n_items),
                      options={"n_bootstrap": 20, **options})


def run_planted(judge: PlantedJudge, task: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url, "--out", str(out),
                   "--no-progress", "--no-cache", *extra)


# -- 3. no usable verdicts ------------------------------------------------------------------------


def test_a_run_whose_verdicts_never_parse_exits_1_naming_the_fix(tmp_path: Path) -> None:
    task = planted_task(tmp_path, n_items=3, reask=0)
    with OpenAIServer(lambda body: Reply(text="Both answers have their merits.")) as server:
        out = tmp_path / "run"
        done = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url,
                       "--out", str(out), "--no-progress", "--no-cache")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    line = next(line for line in done.stderr.splitlines() if "invalid" in line)
    assert "structured_output" in line and "verdict_format" in line
    assert manifest(out)["completeness"]["complete"] is False
    # every model still appears, with no score
    scores = {r["model"]: r for r in rows_of(out / "scores.csv")}
    assert set(scores) == set(MODELS) and all(r["score"] == "" for r in scores.values())
    again = harness("aggregate", str(out))
    assert again.returncode == 1 and "structured_output" in again.stderr


def test_a_model_whose_verdicts_are_all_invalid_makes_the_run_fail(tmp_path: Path) -> None:
    """One model's comparisons never parse (a share below the overall limit): it has no score,
    so the ranking cannot stand as a ranking of the task's models."""
    others = ["m4", "m5", "m6"]
    task = write_task(tmp_path, name="complete", protocol="pairwise", rows=planted_rows([*MODELS, *others, "odd"], 8),
                      options={"n_bootstrap": 20, "reask": 0, "baselines": ["good"]})

    with PlantedJudge({**STRENGTHS, **dict.fromkeys([*others, "odd"], 0.0)}) as judge:
        def reply(body: dict[str, Any]) -> Reply:
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            return Reply(text="no idea") if "[planted:odd|" in prompt else judge._respond(body)

        with OpenAIServer(reply) as server:
            out = tmp_path / "run"
            done = harness("run", str(task), "--judge", "openai:judge", "--base-url", server.base_url,
                           "--out", str(out), "--no-progress", "--no-cache")
    assert manifest(out)["counts"]["invalid"] / manifest(out)["requests"] < 0.2
    assert done.returncode == 1, done.stdout + done.stderr
    assert any("odd" in line and "structured_output" in line for line in done.stderr.splitlines()), done.stderr
    ranking = {r["model"]: r for r in rows_of(out / "ranking.csv")}
    assert set(ranking) == {*MODELS, *others, "odd"}
    assert ranking["odd"]["score"] == "" and ranking["odd"]["rank"] == ""


# -- 4. models and items never disappear ----------------------------------------------------------


def test_a_budget_of_one_comparison_keeps_every_model_in_every_table(tmp_path: Path) -> None:
    task = planted_task(tmp_path, sampling="uniform", budget=1)
    with PlantedJudge(STRENGTHS) as judge:
        out = tmp_path / "run"
        done = run_planted(judge, task, out)
    assert judge.calls >= 1
    ranking = {r["model"]: r for r in rows_of(out / "ranking.csv")}
    scores = {r["model"]: r for r in rows_of(out / "scores.csv")}
    assert set(ranking) == set(MODELS) and set(scores) == set(MODELS)
    unjudged = [m for m in MODELS if ranking[m]["score"] == ""]
    assert unjudged, "one comparison cannot score all three models"
    for model in unjudged:
        assert ranking[model]["n"] == "0" and scores[model]["n"] == "0" and scores[model]["score"] == ""
        assert model in done.stdout  # the terminal table
    assert done.returncode == 1
    assert any("no score for" in line and unjudged[0] in line for line in done.stderr.splitlines()), done.stderr
    report = harness("report", str(out), "--format", "md")
    assert report.returncode == 1, report.stderr  # written, but a model has no score: not final
    assert "not final" in report.stderr.splitlines()[-1]
    text = (out / "report.md").read_text()
    ranking_section = text.split("## Ranking", 1)[1].split("###", 1)[0]
    assert all(f"| {m} |" in ranking_section for m in MODELS)
    compared = harness("compare", str(out), str(out))
    assert all(m in compared.stdout for m in MODELS) and compared.returncode == 1


def test_answers_missing_from_the_dataset_are_counted_in_run_json_and_on_stderr(tmp_path: Path) -> None:
    rows = planted_rows(MODELS, 5, skip={"bad": {1}})
    rows[3]["answers"]["bad"] = None  # a null answer: no answer either
    task = write_task(tmp_path, name="complete", protocol="pairwise", rows=rows, options={"n_bootstrap": 20})
    with PlantedJudge(STRENGTHS) as judge:
        out = tmp_path / "run"
        done = run_planted(judge, task, out)
    assert done.returncode == 0, done.stderr
    assert manifest(out)["dataset"]["missing_answers"] == {"bad": 2}
    note = next(line for line in done.stderr.splitlines() if "missing" in line)
    assert "2 answers" in note and "bad 2" in note


# -- 5. partial runs say so everywhere -------------------------------------------------------------


@pytest.fixture(scope="module")
def partial_and_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("runs")
    task = planted_task(tmp, n_items=8)
    with PlantedJudge(STRENGTHS) as judge:
        partial = harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url, "--out",
                          str(tmp / "stopped"), "--no-progress", "--no-cache", "--max-calls", "10")
        assert partial.returncode == 1, partial.stderr
        full = harness("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url, "--out",
                       str(tmp / "full"), "--no-progress", "--no-cache")
        assert full.returncode == 0, full.stderr
    return tmp / "stopped", tmp / "full"


def pending_of(out: Path) -> int:
    return int(manifest(out)["counts"]["pending"])


def test_the_report_of_a_partial_run_says_it_is_partial(partial_and_full: tuple[Path, Path], tmp_path: Path) -> None:
    partial, _ = partial_and_full
    pending = pending_of(partial)
    assert pending > 0
    done = harness("report", str(partial), "--out", str(tmp_path), "--format", "md", "--format", "html")
    assert done.returncode == 1, done.stderr  # every page written, and a script need not read them to know
    assert f"not final: {partial}" in done.stderr
    assert f"{pending} pending" in done.stderr and "partial" in done.stderr
    head = (tmp_path / "report.md").read_text().split("## Ranking", 1)[0]
    assert "partial" in head and f"{pending} pending" in head
    assert f"{pending} pending" in (tmp_path / "report.html").read_text()


def test_the_report_of_a_complete_run_says_it_is_complete(partial_and_full: tuple[Path, Path], tmp_path: Path) -> None:
    _, full = partial_and_full
    done = harness("report", str(full), "--out", str(tmp_path), "--format", "md")
    assert done.returncode == 0, done.stderr
    # The run is small, so the few-items warning of the statistics may appear; no completeness one may.
    assert "partial" not in done.stderr and "pending" not in done.stderr and "cannot stand" not in done.stderr
    head = (tmp_path / "report.md").read_text().split("## Ranking", 1)[0]
    assert "partial" not in head and "complete" in head


def test_compare_names_the_partial_run(partial_and_full: tuple[Path, Path], tmp_path: Path) -> None:
    partial, full = partial_and_full
    done = harness("compare", str(full), str(partial), "--out", str(tmp_path), "--format", "md", "--format", "csv")
    assert done.returncode == 1, done.stderr  # the files are written; one run is not final
    assert f"not final: {partial} (" in done.stderr and str(full) not in done.stderr.splitlines()[-1]
    pending = pending_of(partial)
    said = " ".join(done.stdout.split())  # the terminal folds long lines
    assert f"run {partial.name} (" in said and f"partial: {pending} of" in said and f"({pending} pending" in said
    runs = {r["directory"]: r for r in rows_of(tmp_path / "compare_runs.csv")}
    assert runs[str(partial)]["status"].startswith("partial")
    assert runs[str(full)]["status"] == "complete"
    assert f"{pending} pending" in (tmp_path / "compare.md").read_text()


def test_aggregate_of_a_partial_run_states_the_pending_count(partial_and_full: tuple[Path, Path]) -> None:
    partial, _ = partial_and_full
    done = harness("aggregate", str(partial))
    assert done.returncode == 1
    assert f"{pending_of(partial)} pending" in done.stderr
    assert f"pending {pending_of(partial)}" in done.stdout  # beside the table's verdict counts


def test_the_api_states_pending_and_failed_counts(partial_and_full: tuple[Path, Path]) -> None:
    import harness
    from harness import api

    partial, full = partial_and_full
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = harness.load_run(str(partial))
    assert isinstance(caught[0].message, api.IncompleteRunWarning)
    assert run.complete is False
    assert run.pending == pending_of(partial) and run.failed == 0
    assert any("partial" in p for p in run.problems)
    assert any(f"{run.pending} pending" in str(w.message) for w in caught)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        finished = api.load_run(full)
    assert finished.complete is True and finished.problems == [] and finished.pending == 0


# -- 9. the transport run.json records ------------------------------------------------------------


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_run_json_records_the_transport_the_calls_took(tmp_path: Path, transport: str) -> None:
    task = planted_task(tmp_path, n_items=2)
    with PlantedJudge(STRENGTHS) as judge:
        out = tmp_path / "run"
        done = run_planted(judge, task, out, "--judge-option", f"transport={transport}")
    assert done.returncode == 0, done.stderr
    assert manifest(out)["judge"]["transport"].startswith(transport)


@pytest.mark.parametrize(("ok", "invalid", "stands"), [(80, 20, True), (75, 25, False), (10, 0, True), (0, 3, False)])
def test_the_invalid_share_limit_is_a_fifth_of_the_verdicts(ok: int, invalid: int, stands: bool) -> None:
    """The documented rule (docs/statistics.md): more than 20% invalid verdicts cannot stand."""
    import pandas as pd

    from harness.running.completeness import assess

    record = assess({"requests": ok + invalid, "counts": {"ok": ok, "invalid": invalid, "failed": 0, "pending": 0}},
                    pd.DataFrame({"model": ["a"], "score": [1.0]}), ["a"])
    assert record["complete"] is stands
    assert all("structured_output" in line for line in record["problems"])


def test_a_run_that_asked_nothing_is_not_complete(tmp_path: Path) -> None:
    """A plugin whose modify_requests leaves no request: every model without a number, which once
    counted as complete (exit 0) because only models unscored beside scored ones were named."""
    from harness.hookspecs import hookimpl
    from harness.plugins import load_plugins
    from harness.running.execute import run_task
    from harness.running.options import RunOptions

    class DropsEverything:
        @hookimpl
        def harness_modify_requests(self, task, requests):
            return []

    task = write_task(tmp_path, name="none", protocol="pairwise", rows=planted_rows(["a", "b"], 3),
                      options={"n_bootstrap": 10})
    result = run_task(task, RunOptions(judge="openai:j", base_url="http://127.0.0.1:9/v1", out=tmp_path / "run",
                                       progress=False, cache=False), load_plugins(extra=(DropsEverything(),)))
    completeness = result.manifest["completeness"]
    assert not completeness["complete"] and completeness["models_without_score"] == ["a", "b"]
    assert any(line.startswith("no verdict: the run has 0 request(s)") for line in completeness["problems"])


@pytest.mark.parametrize("fault", ["raises", "not a list"])
def test_a_plugin_failing_in_a_run_hook_is_named_in_one_line(tmp_path: Path, fault: str) -> None:
    """A plugin raising in harness_modify_requests (or returning something that is no list of
    requests) ended the run in an internal error naming nobody; now one line names it, exit 2."""
    from harness.errors import BadInput
    from harness.hookspecs import hookimpl
    from harness.plugins import load_plugins
    from harness.running.execute import run_task
    from harness.running.options import RunOptions

    class Faulty:
        @hookimpl
        def harness_modify_requests(self, task, requests):
            if fault == "raises":
                raise RuntimeError("oops")
            return "all of them"

    task = write_task(tmp_path, name="faulty", protocol="pairwise", rows=planted_rows(["a", "b"], 2),
                      options={"n_bootstrap": 10})
    loaded = load_plugins(extra=(Faulty(),))
    with pytest.raises(BadInput) as info:
        run_task(task, RunOptions(judge="openai:j", base_url="http://127.0.0.1:9/v1", out=tmp_path / "run",
                                  progress=False, cache=False), loaded)
    message = str(info.value)
    assert "plugin 'Faulty'" in message and "harness_modify_requests" in message and "--block-plugin" in message
    assert ("RuntimeError: oops" if fault == "raises" else "returned str") in message
