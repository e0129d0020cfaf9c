"""Judge settings from task files (`judge:` as a mapping) and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.running.judges import judge_specs
from harness.running.options import RunOptions
from harness.tasks import load_task
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": "q1", "instruction": "question", "answers": {"a": "one", "b": "two"}}]


def task_with_judge(tmp_path: Path, judge: object) -> Path:
    path = write_task(tmp_path, name="settings", protocol="pairwise", rows=ROWS)
    spec = json.loads(path.read_text())
    spec["judge"] = judge
    path.write_text(json.dumps(spec))
    return path


def spec_for(tmp_path: Path, task_judge: object, **options: object):
    loaded = load_task(task_with_judge(tmp_path, task_judge), Registry.collect(load_plugins().manager))
    return judge_specs(loaded, RunOptions(**options))[0]


def test_a_judge_mapping_in_the_task_file(tmp_path: Path) -> None:
    judge = {"spec": "openai:gpt-x", "base_url": "http://127.0.0.1:9/v1", "timeout_s": 30, "concurrency": 4,
             "options": {"transport": "aiohttp"}}
    spec = spec_for(tmp_path, judge)
    assert (spec.backend, spec.model, spec.base_url, spec.timeout_s, spec.concurrency) == (
        "openai", "gpt-x", "http://127.0.0.1:9/v1", 30, 4)
    assert spec.options == {"transport": "aiohttp"}


def test_the_command_line_overrides_and_merges(tmp_path: Path) -> None:
    judge = {"spec": "openai:gpt-x", "timeout_s": 30, "options": {"transport": "aiohttp", "extra_body": {"a": 1}}}
    same_backend = spec_for(tmp_path, judge, judge="openai:gpt-y", judge_timeout_s=5,
                            judge_options={"transport": "httpx"}, concurrency=2)
    assert (same_backend.model, same_backend.timeout_s, same_backend.concurrency) == ("gpt-y", 5, 2)
    assert same_backend.options == {"transport": "httpx", "extra_body": {"a": 1}}
    other_backend = spec_for(tmp_path, judge, judge="local")
    assert (other_backend.backend, other_backend.options, other_backend.timeout_s) == ("local", {}, 120.0)


@pytest.mark.parametrize(("judge", "field"), [({"spec": "local", "bogus": 1}, "judge"), ({"base_url": "x"}, "judge")])
def test_a_bad_judge_mapping_is_bad_input(tmp_path: Path, judge: object, field: str) -> None:
    with pytest.raises(BadInput, match=field):
        load_task(task_with_judge(tmp_path, judge), Registry.collect(load_plugins().manager))


def test_bad_judge_flags_exit_2(tmp_path: Path) -> None:
    task = task_with_judge(tmp_path, "openai:judge")
    for flags, word in ((["--judge-option", "nokey"], "--judge-option"), (["--judge-timeout", "0"], "--judge-timeout")):
        result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(task), "--base-url",
                                 "http://127.0.0.1:9/v1", "--out", str(tmp_path / "r"), *flags],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and word in result.stderr and "Traceback" not in result.stderr


def test_judge_timeout_from_the_command_line_reaches_the_backend(tmp_path: Path) -> None:
    task = write_task(tmp_path, name="slow", protocol="pairwise", rows=ROWS,
                      options={"verdict_format": "binary", "reasoning": False, "n_bootstrap": 10})
    out = tmp_path / "run"
    with OpenAIServer(lambda body: Reply(text="A", delay_s=2.0)) as server:
        result = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge", "--base-url",
             server.base_url, "--out", str(out), "--no-progress", "--judge-timeout", "0.2",
             "--judge-option", "transport=httpx"],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 1, result.stderr  # every call timed out: incomplete, files written
    assert result.stderr.startswith("harness: incomplete: 2 of 2 requests failed")
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["judge"]["spec"]["timeout_s"] == 0.2
    assert manifest["judge"]["spec"]["options"] == {"transport": "httpx"}
    assert manifest["counts"]["failed"] == 2
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert all("no answer within 0.2s" in v["error"] for v in verdicts)


def test_an_empty_judge_or_zero_concurrency_on_the_command_line_is_refused(tmp_path: Path) -> None:
    """`--judge "$JUDGE"` with JUDGE unset ran the task's default judge (a different judge, maybe
    a different bill); `--concurrency 0` was ignored while -3 was refused."""
    with pytest.raises(BadInput, match="--judge: an empty judge spec"):
        spec_for(tmp_path, "openai:gpt-x", judge="")
    with pytest.raises(BadInput, match="--concurrency must be at least 1"):
        spec_for(tmp_path, "openai:gpt-x", concurrency=0)


@pytest.mark.parametrize(("option", "said"), [
    ("seed", "options.seed: Input should be greater than or equal to 0"),
    ("n_bootstrap", "options.n_bootstrap: Input should be greater than or equal to 1"),
    ("prior_ties", "options.prior_ties: Input should be a finite number"),
    ("strong_weight", "options.strong_weight: Input should be a finite number"),
])
def test_options_the_statistics_would_refuse_are_refused_before_any_call(tmp_path: Path, option: str, said: str) -> None:
    """Once refused only after every judge call was paid for (some as an internal error)."""
    value = {"seed": -1, "n_bootstrap": 0, "prior_ties": float("inf"), "strong_weight": float("inf")}[option]
    path = write_task(tmp_path, name="opts", protocol="pairwise", rows=ROWS, options={option: value})
    with pytest.raises(BadInput, match=said):
        load_task(path, Registry.collect(load_plugins().manager))


@pytest.mark.parametrize(("judge", "said"), [
    ({"spec": "openai:j", "concurrency": 0}, "judge.concurrency: Input should be greater than or equal to 1"),
    ({"spec": "openai:j", "timeout": 5}, "judge.timeout: unknown key"),
    ({"spec": "openai:j", "timeout_s": -1}, "judge.timeout_s: Input should be greater than 0"),
])
def test_a_bad_field_of_a_judge_mapping_is_named(tmp_path: Path, judge: dict[str, object], said: str) -> None:
    """The judge is text or a mapping: a mapping's bad field is what is wrong, not "judge.str:
    Input should be a valid string" (the text member's complaint, which every case said)."""
    with pytest.raises(BadInput) as info:
        load_task(task_with_judge(tmp_path, judge), Registry.collect(load_plugins().manager))
    assert str(info.value).endswith(said)
