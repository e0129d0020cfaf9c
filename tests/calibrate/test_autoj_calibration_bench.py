"""bench/autoj_calibration.py end to end on a few Auto-J pairs, with a loopback judge standing in
for the embedded model (the real-model figures are in docs/calibration.md)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from harness.models import TokenLogprob
from harness.testing.openai_server import Reply
from tests.importers.helpers import shared_data

REPO = Path(__file__).resolve().parents[2]


def test_bench_calibrates_on_one_half_and_evaluates_on_the_other(
    tmp_path: Path,
    harness_judge_server,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = shared_data("prometheus_eval", "autoj_pairwise.jsonl")
    spec = importlib.util.spec_from_file_location("autoj_calibration", REPO / "bench" / "autoj_calibration.py")
    bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    top = {"A": math.log(0.8), "B": math.log(0.2)}  # always A, 80% sure: overconfident in position A
    harness_judge_server.otherwise(Reply(text="A", logprobs=[TokenLogprob(token="A", logprob=top["A"], top=top)]))
    code = bench.main(
        [
            "--limit",
            "12",
            "--max-chars",
            "1500",
            "--judge",
            harness_judge_server.judge,
            "--base-url",
            harness_judge_server.base_url,
            "--min-pairs",
            "3",
            "--data",
            str(data),
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "response 1 win rate on the evaluation half: human" in out and "ECE raw 0.3" in out
    assert len(harness_judge_server.prompts) == 24
    assert (tmp_path / "evaluate" / "run" / "ranking_calibrated.csv").is_file()
