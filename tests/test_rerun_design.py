"""A rerun into a run directory must judge the same way as the run stored there (issue 19, item 6).

Another dataset (same path, other content), prompt template or judging option is refused with one
line, exit 2, naming what changed and pointing to a new --out, and nothing stored is touched.
Options that only choose which requests are asked, aggregation-only options, `--limit`, a new
model in the dataset and the concurrency stay allowed. The judge is a real OpenAI-compatible
server on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.plugins import load_plugins
from harness.protocol.roles import option_roles
from harness.registry import Registry
from harness.running.design import design_changes
from harness.tasks import load_task
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"Question {i}?", "answers": {"a": f"alpha {i}", "b": f"beta {i}"}}
        for i in range(3)]

#: Options of the built-in protocols that do not change what the judge is asked: how verdicts are
#: aggregated, and which requests are asked. Every other option must be declared (or default to)
#: judging or preparation, so a rerun that changes it is refused.
AGGREGATION_ONLY = {"n_bootstrap", "seed", "length_k", "strong_weight", "soft", "style_control", "missing_reference",
                    "prior_ties", "arena_hard", "arena_hard_self_games", "alpaca_eval_lc",
                    "alpaca_eval_lc_exact"}
REQUEST_SELECTION = {"baselines", "sampling", "budget", "stop_confidence", "stop_margin", "batch_size", "tuples", "rotations"}


@pytest.fixture
def server() -> Any:
    with OpenAIServer(lambda body: Reply(text="[[2]]")) as running:
        yield running


def run(task: Path, out: Path, server: Any, *extra: str) -> int:
    return main(["run", str(task), "--judge", "openai:j", "--base-url", server.base_url, "--out", str(out),
                 "--no-progress", "--no-cache", *extra])


def stored(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.fixture
def first(tmp_path: Path, server: Any) -> tuple[Path, Path]:
    task = write_task(tmp_path, name="t", protocol="pairwise", rows=ROWS, options={"n_bootstrap": 20})
    out = tmp_path / "run"
    assert run(task, out, server) == 0
    return task, out


def refused(capsys: pytest.CaptureFixture[str], code: int, out: Path, before: dict[str, bytes]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "another --out" in lines[0] and str(out) in lines[0]
    assert stored(out) == before, "a refused rerun changed the run directory"
    return lines[0]


def test_changed_judging_option_is_refused(first: tuple[Path, Path], server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    task, out = first
    before = stored(out)
    calls = len(server.requests)
    line = refused(capsys, run(task, out, server, "--set", "options.verdict_format=labels"), out, before)
    assert "verdict_format ('scale', now 'labels')" in line
    assert len(server.requests) == calls


def test_changed_answer_changing_judge_option_is_refused(
    first: tuple[Path, Path], server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sampling fields sent with every request change the answers; rate limits and retries do not."""
    task, out = first
    before = stored(out)
    line = refused(capsys, run(task, out, server, "--judge-option", "extra_body={top_p: 0.5}"), out, before)
    assert "judge options extra_body (None, now {'top_p': 0.5})" in line
    calls = len(server.requests)
    assert run(task, out, server, "--judge-option", "rpm=6000", "--judge-option", "max_attempts=2",
               "--judge-timeout", "30") == 0, capsys.readouterr().err
    assert len(server.requests) == calls


def test_changed_dataset_content_is_refused(first: tuple[Path, Path], server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    task, out = first
    before = stored(out)
    data = task.parent / "data.jsonl"
    edited = [dict(row, answers={**row["answers"], "b": row["answers"]["b"] + "!"}) for row in ROWS]
    data.write_text("".join(json.dumps(r) + "\n" for r in edited), encoding="utf-8")
    assert "the answers of b differ" in refused(capsys, run(task, out, server), out, before)
    other = [dict(row, instruction="Another " + row["instruction"]) for row in ROWS]
    data.write_text("".join(json.dumps(r) + "\n" for r in other), encoding="utf-8")
    assert "dataset (its items differ)" in refused(capsys, run(task, out, server), out, before)


def test_changed_template_is_refused_and_named(tmp_path: Path, server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    task = write_task(tmp_path, name="t", protocol="pairwise", rows=ROWS, options={"n_bootstrap": 20})
    builtin = Path(__file__).resolve().parent.parent / "prompts" / "pairwise.jinja"
    (tmp_path / "mine.jinja").write_text(builtin.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run"
    assert run(task, out, server, "--set", "template=mine.jinja") == 0
    capsys.readouterr()  # the first run's output (its notes on stderr) is not the refusal's
    before = stored(out)
    with (tmp_path / "mine.jinja").open("a", encoding="utf-8") as handle:
        handle.write("\n{# edited #}\n")
    line = refused(capsys, run(task, out, server, "--set", "template=mine.jinja"), out, before)
    assert "prompt template mine.jinja" in line


def test_what_only_picks_requests_or_aggregates_may_change(
    first: tuple[Path, Path], server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same verdicts, asked the same way: a resume makes no new call and exits 0."""
    task, out = first
    calls = len(server.requests)
    for extra in (["--concurrency", "2"], ["--set", "options.strong_weight=1"], ["--limit", "2"],
                  ["--set", "options.sampling=uniform", "--set", "options.budget=1.0"]):
        assert run(task, out, server, *extra) == 0, capsys.readouterr().err
    assert len(server.requests) == calls


def test_a_model_added_to_the_dataset_is_judged_on_a_rerun(
    first: tuple[Path, Path], server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task, out = first
    grown = [dict(row, answers={**row["answers"], "c": f"gamma {i}"}) for i, row in enumerate(ROWS)]
    (task.parent / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in grown), encoding="utf-8")
    assert run(task, out, server) == 0, capsys.readouterr().err
    assert json.loads((out / "run.json").read_text())["dataset"]["models"] == ["a", "b", "c"]


@pytest.mark.parametrize(("protocol", "option", "old", "new"), [
    ("checklist", "mode", "all", "each"),
    ("checklist", "max_questions", 8, 3),
    ("rubric", "preset", "prometheus", "wb_score"),
    ("pairwise", "structured_output", False, True),
])
def test_options_missing_from_the_old_list_are_compared(
    tmp_path: Path, protocol: str, option: str, old: Any, new: Any
) -> None:
    rows = [dict(row, reference="r", checklist=["Is it right?"]) for row in ROWS]
    options = {"preset": "prometheus"} if protocol == "rubric" else {}
    task = write_task(tmp_path, name="t", protocol=protocol, rows=rows, options=options)
    registry = Registry.collect(load_plugins().manager)
    loaded = load_task(task, registry, overrides=[f"options.{option}={json.dumps(new)}"])
    previous = {"protocol": {"name": protocol, "version": loaded.task.version,
                             "config": {**loaded.config.model_dump(mode="json"), option: old}}}
    assert design_changes(previous, loaded) == [f"options {option} ({old!r}, now {new!r})"]


@pytest.mark.parametrize(("protocol", "options"), [
    ("pairwise", {"baselines": ["a"], "verdict_format": "labels"}),
    ("rubric", {"rubric": {"criterion": "Correct?", "scores": {1: "wrong", 2: "partly", 3: "right"}}}),
    ("checklist", {"mode": "each", "generate": False}),
])
def test_the_same_task_run_again_is_a_resume(
    tmp_path: Path, server: Any, protocol: str, options: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """What run.json records (JSON: string keys, lists) compares equal to the task it came from,
    for every built-in protocol: rerunning the same task resumes without a new call."""
    rows = [dict(row, reference="r", checklist=["Is it right?"]) for row in ROWS]
    task = write_task(tmp_path, name="t", protocol=protocol, rows=rows, options={**options, "n_bootstrap": 20})
    out = tmp_path / "run"
    assert run(task, out, server) in (0, 1)
    calls = len(server.requests)
    capsys.readouterr()
    assert run(task, out, server) in (0, 1)
    assert "judged differently" not in capsys.readouterr().err
    assert len(server.requests) == calls


def test_every_builtin_option_is_classified() -> None:
    """The built-in protocols declare exactly these options aggregation-only or request-selecting;
    any other option (a new one without a declaration included) is one a rerun may not change."""
    registry = Registry.collect(load_plugins().manager)
    roles: dict[str, set[str]] = {}
    for kind in registry.task_kinds.values():
        for name, role in option_roles(kind.config_model).items():
            roles.setdefault(role, set()).add(name)
    fields = set().union(*roles.values())
    assert roles["aggregation"] == AGGREGATION_ONLY & fields
    assert roles["selection"] == REQUEST_SELECTION & fields
    assert {"mode", "verdict_format", "use_checklist", "rubric_file"} <= roles["judging"]
    assert set(roles) <= {"judging", "selection", "preparation", "aggregation"}
