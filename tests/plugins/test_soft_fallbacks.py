"""`soft: true` where a verdict has no logprobs: it counts as its parsed level, and the run says how
many did, per model, on its summary line and in run.json (never a silent fallback)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness.models import TokenLogprob
from harness.testing import OpenAIServer, Reply
from harness.testing.planted import planted_rows
from harness.testing.tasks import write_task
from harness_plugins.pairwise.aggregate import aggregate_pairwise
from harness_plugins.pairwise.config import PairwiseConfig
from harness_plugins.pairwise.task import PairwiseTask
from tests.plugins.test_pairwise_task import SOFT_PROBS, verdict

MODELS = ["x", "y", "z"]


def test_fallbacks_are_counted_per_model_only_with_soft() -> None:
    verdicts = [
        verdict("i1", "x", "y", "ab", "A>B", probs=SOFT_PROBS),
        verdict("i1", "x", "y", "ba", "B>A"),  # no probs: falls back
        verdict("i1", "x", "z", "ab", "A>B"),  # no probs: falls back
        verdict("i1", "y", "z", "ab", "A>B", probs=SOFT_PROBS),
        verdict("i1", "y", "z", "ba", status="invalid"),  # no verdict at all: not a fallback
    ]
    soft = aggregate_pairwise(verdicts, PairwiseConfig(n_bootstrap=20, soft=True)).summary
    assert soft["soft_fallbacks"] == {"verdicts": 2, "of": 4, "by_model": {"x": 2, "y": 1, "z": 1}}
    fact = next(f for f in PairwiseTask.summary_facts(soft) if f.startswith("soft:"))
    assert fact == "soft: 2 of 4 verdicts had no logprobs and count as their parsed level (x 2, y 1, z 1)"
    hard = aggregate_pairwise(verdicts, PairwiseConfig(n_bootstrap=20)).summary
    assert "soft_fallbacks" not in hard and not any(f.startswith("soft:") for f in PairwiseTask.summary_facts(hard))


def _respond(body: dict[str, Any]) -> Reply:
    """A binary judge that prefers position A; it gives logprobs only when model z is in position A."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    first = prompt.index("[planted:")
    model_a = prompt[first + len("[planted:"):].split("|", 1)[0]
    top = {"A": math.log(0.8), "B": math.log(0.2)}
    if model_a == "z":
        return Reply(text="A", logprobs=[TokenLogprob(token="A", logprob=top["A"], top=top)])
    plain = {"id": "c1", "object": "chat.completion", "created": 0, "model": "judge",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop",
                          "logprobs": None}],
             "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}
    return Reply(body=plain)


def test_a_soft_run_says_how_many_verdicts_fell_back(tmp_path: Path) -> None:
    task = write_task(tmp_path, name="soft", protocol="pairwise", rows=planted_rows(MODELS, 4),
                      options={"n_bootstrap": 20, "soft": True, "verdict_format": "binary"})
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_BASE_URL")}
    env["OPENAI_API_KEY"] = "sk-soft"
    with OpenAIServer(_respond) as server:
        done = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(task), "--judge", "openai:judge",
                               "--base-url", server.base_url, "--out", str(tmp_path / "run"), "--no-progress",
                               "--no-cache"], capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr
    # 4 items x 3 pairs x 2 orders = 24 verdicts; z is in position A in 8 of them (with logprobs)
    summary = json.loads((tmp_path / "run" / "run.json").read_text())["summary"]
    assert summary["soft_fallbacks"] == {"verdicts": 16, "of": 24, "by_model": {"x": 12, "y": 12, "z": 8}}
    printed = " ".join(done.stdout.split())  # the console wraps long lines
    assert "soft: 16 of 24 verdicts had no logprobs and count as their parsed level (x 12, y 12, z 8)" in printed
