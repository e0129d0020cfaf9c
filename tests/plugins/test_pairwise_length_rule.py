"""The WildBench length rule has one reading: `harness report` (from the verdicts and the raw
options run.json records) and the run's aggregate (scores.csv) give the same numbers for every
`length_k`, `0` included (any longer winner's 'slightly better' becomes a tie). The judge is a
real OpenAI-compatible server on loopback; its levels vary with the prompt."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.cli import main
from harness.reports.reading import read_run
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task
from harness_plugins.pairwise.report import battles

LEVELS = ["[[A>B]]", "[[B>A]]", "[[A>B]]", "[[A>>B]]", "[[A=B]]", "[[B>A]]"]
ROWS = [{"id": f"q{i}", "instruction": f"Question {i}?",
         "answers": {"long": "a long answer " * (i + 2), "short": f"short {i}", "mid": "middle " * (i % 3 + 1)}}
        for i in range(6)]


def level(body: dict[str, Any]) -> Reply:
    prompt = json.dumps(body["messages"])
    return Reply(text=LEVELS[int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(LEVELS)])


@pytest.mark.parametrize("length_k", [0, 3, -1])
def test_report_and_aggregate_apply_the_same_length_rule(tmp_path: Path, length_k: int) -> None:
    task = write_task(tmp_path, name="lk", protocol="pairwise", rows=ROWS,
                      options={"verdict_format": "labels", "length_k": length_k, "n_bootstrap": 20})
    out = tmp_path / "run"
    with OpenAIServer(level) as server:
        assert main(["run", str(task), "--judge", "openai:j", "--base-url", server.base_url, "--out", str(out),
                     "--no-progress", "--no-cache"]) == 0
    b = battles(read_run(out))
    sides = pd.concat([
        pd.DataFrame({"model": b["model_a"], "share": b["score_a"], "reward": b["reward_a"]}),
        pd.DataFrame({"model": b["model_b"], "share": 1.0 - b["score_a"], "reward": -b["reward_a"]}),
    ]).groupby("model").mean()
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    if length_k >= 0:  # the rule had verdicts to act on: a slight win by an answer more than K longer
        verdicts = [json.loads(line)["data"] for line in (out / "verdicts.jsonl").read_text().splitlines()]
        assert any((d["level"] == "A>B" and d["len_a"] - d["len_b"] > length_k)
                   or (d["level"] == "B>A" and d["len_b"] - d["len_a"] > length_k) for d in verdicts)
    for model in scores.index:
        assert 100.0 * sides.loc[model, "share"] == pytest.approx(scores.loc[model, "win_rate"])
        assert sides.loc[model, "reward"] == pytest.approx(scores.loc[model, "wb_reward"])
