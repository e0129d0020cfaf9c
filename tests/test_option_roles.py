"""Each protocol declares on its options model what changing an option changes (issue 20, item 2):
`harness aggregate --set` takes only aggregation options, a calibration fingerprint covers only
judging options, and an option its plugin does not classify counts as judging."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from harness.calibrate.identity import judging_settings
from harness.cli import main
from harness.errors import BadInput
from harness.plugins import load_plugins
from harness.protocol import JudgeOptions
from harness.protocol.roles import option_roles, role
from harness.registry import Registry
from harness.running.recompute import apply_overrides
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task


class ToneOptions(JudgeOptions):
    """A third-party protocol's options: `tone` unclassified, `window` declared aggregation-only."""

    tone: str = "plain"
    window: int = Field(default=3, json_schema_extra=role("aggregation"))


def test_an_unclassified_option_is_a_judging_option() -> None:
    roles = option_roles(ToneOptions)
    assert roles["tone"] == "judging" and roles["window"] == "aggregation" and roles["n_bootstrap"] == "aggregation"
    config = ToneOptions().model_dump(mode="json")
    settings = judging_settings(config, ToneOptions)
    assert settings["tone"] == "plain" and "window" not in settings and "n_bootstrap" not in settings


def test_aggregate_set_takes_only_what_the_protocol_declares_aggregation() -> None:
    config = ToneOptions().model_dump(mode="json")
    assert apply_overrides(config, ["options.window=5"], ToneOptions)["window"] == 5
    with pytest.raises(BadInput, match="'tone' changes what the judge was asked"):
        apply_overrides(config, ["options.tone=stern"], ToneOptions)
    with pytest.raises(BadInput, match=r"unknown option 'colour' \(aggregation options: n_bootstrap, seed, window\)"):
        apply_overrides(config, ["options.colour=red"], ToneOptions)


def test_an_unknown_role_is_refused_where_it_is_declared() -> None:
    with pytest.raises(ValueError, match="unknown option role 'sometimes'"):
        role("sometimes")  # type: ignore[arg-type]


def test_checklist_mode_and_answer_match_domain_are_judging_options() -> None:
    kinds = Registry.collect(load_plugins().manager).task_kinds
    checklist = kinds["checklist"].config_model
    every = judging_settings(checklist(mode="each").model_dump(mode="json"), checklist)
    assert every["mode"] == "each" and "generate" not in every and "max_questions" not in every
    answer_match = pytest.importorskip("harness_answer_match.config").AnswerMatchOptions
    assert judging_settings(answer_match(domain="chemistry").model_dump(mode="json"), answer_match)["domain"] == "chemistry"


def test_aggregate_set_refuses_checklist_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?", "checklist": ["Right?", "Short?"],
             "answers": {"a": f"alpha {i}", "b": f"beta {i}"}} for i in range(3)]
    task = write_task(tmp_path, name="c", protocol="checklist", rows=rows, options={"generate": False, "n_bootstrap": 20})
    out = tmp_path / "run"
    with OpenAIServer(lambda body: Reply(text="1. YES\n2. NO")) as server:
        assert main(["run", str(task), "--judge", "openai:j", "--base-url", server.base_url, "--out", str(out),
                     "--no-progress", "--no-cache"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["aggregate", str(out), "--set", "options.mode=each"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'mode' changes what the judge was asked" in err[0]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
