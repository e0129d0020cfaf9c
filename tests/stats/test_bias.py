"""Bias diagnostics on hand-counted battles, planted biases, and a real pairwise run's verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from harness.api import load_run
from harness.errors import BadInput
from harness.stats.bias import (
    battles_from_verdicts,
    bias_report,
    length_bias,
    model_family,
    position_bias,
    same_family,
    self_preference,
)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval written out from the formula (Wilson 1927)."""
    z = norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def test_position_bias_counts_and_consistency() -> None:
    battles = pd.DataFrame(
        [
            # item, A (first), B, level
            ("q1", "x", "y", "A>B"), ("q1", "y", "x", "A>>B"),  # first wins both times: inconsistent
            ("q2", "x", "y", "A>B"), ("q2", "y", "x", "B>A"),  # x wins both orders: consistent
            ("q3", "x", "y", "A=B"), ("q3", "y", "x", "A=B"),  # tie both orders: consistent
            ("q4", "x", "y", "B>>A"),  # only one order
        ],
        columns=["item_id", "model_a", "model_b", "level"],
    )
    result = position_bias(battles)
    # Decisive verdicts: 5 (ties dropped), won by position A: 3.
    win = result["first_position_win_rate"]
    assert (win["n"], win["rate"]) == (5, pytest.approx(3 / 5))
    assert (win["ci_low"], win["ci_high"]) == pytest.approx(wilson(3, 5))
    # Ties half: (1 + 1 + 1 + 0 + .5 + .5 + 0) / 7
    assert result["first_position_score"] == pytest.approx(4 / 7)
    assert result["tie_rate"] == pytest.approx(2 / 7)
    assert result["consistency"]["n"] == 3
    assert result["consistency"]["rate"] == pytest.approx(2 / 3)


def test_planted_first_position_preference_is_detected() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(300):
        for first, second in (("m1", "m2"), ("m2", "m1")):
            rows.append((f"q{i}", first, second, float(rng.random() < 0.8)))  # A wins 80%
    result = position_bias(pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a"]))
    win = result["first_position_win_rate"]
    assert win["ci_high"] - win["ci_low"] < 0.08  # n = 600: about +-0.032
    assert win["ci_low"] > 0.5  # the bias is detected
    assert win["ci_low"] <= 0.8 <= win["ci_high"]


def test_length_bias_excludes_ties_and_equal_lengths() -> None:
    battles = pd.DataFrame(
        {
            "item_id": list("abcdef"),
            "model_a": ["x"] * 6,
            "model_b": ["y"] * 6,
            "score_a": [1.0, 0.0, 1.0, 0.5, 1.0, 0.0],
            "len_a": [500, 500, 100, 500, 300, 100],
            "len_b": [100, 100, 500, 100, 300, 900],
        }
    )
    # Used rows: a (longer A wins), b (shorter B wins), c (shorter A wins), f (longer B wins).
    result = length_bias(battles)
    assert result["longer_wins"]["n"] == 4
    assert result["longer_wins"]["rate"] == pytest.approx(2 / 4)
    assert result["ties_excluded"] == 1 and result["equal_length_excluded"] == 1


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("gpt-4o-2024-05-13", "gpt"),
        ("openai:gpt-4o-mini", "gpt"),
        ("claude-3-opus", "claude"),
        ("meta-llama/Llama-3-8B-Instruct", "llama"),
        ("Qwen2-72B-Instruct", "qwen"),
        ("gemma-2-9b-it", "gemma"),
        ("vllm:mistralai/Mistral-7B-Instruct-v0.2", "mistral"),
        ("4o", ""),
    ],
)
def test_model_family(name: str, family: str) -> None:
    assert model_family(name) == family


def test_same_family_lists_the_judges_relatives() -> None:
    models = ["gpt-4-turbo", "claude-3-haiku", "GPT-3.5-turbo", "llama-3-70b"]
    assert same_family("openai:gpt-4o", models) == ["gpt-4-turbo", "GPT-3.5-turbo"]
    assert same_family("4o", models) == []


def test_self_preference_head_to_head_and_side_scores() -> None:
    battles = pd.DataFrame(
        [
            ("q1", "gpt-4", "claude-3", 1.0),
            ("q2", "claude-3", "gpt-4", 0.0),  # gpt wins from position B
            ("q3", "claude-3", "gpt-4", 1.0),  # claude wins
            ("q4", "gpt-4", "llama-3", 0.5),  # tie: excluded from head-to-head
            ("q5", "claude-3", "llama-3", 1.0),  # no gpt involved
        ],
        columns=["item_id", "model_a", "model_b", "score_a"],
    )
    result = self_preference(battles, "gpt-4o")
    assert result["judge_family"] == "gpt"
    assert result["same_family_models"] == ["gpt-4"]
    h2h = result["head_to_head"]
    assert (h2h["n"], h2h["rate"]) == (3, pytest.approx(2 / 3))
    # gpt-4 side scores: 1, 1, 0, .5 -> .625; other sides: 0, 0, 1, .5, 1, 0 -> 2.5/6
    assert result["same_family_score"] == pytest.approx(0.625)
    assert result["other_score"] == pytest.approx(2.5 / 6)


def test_bias_report_on_a_real_pairwise_run(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Verdicts of a real run directory layout (written here in the plugin's format)."""
    run = tmp_path_factory.mktemp("run")
    (run / "run.json").write_text(json.dumps({"task": {"name": "t"}}))
    lines = []
    for i, (first, second, level, la, lb) in enumerate(
        [("a", "b", "A>B", 10, 20), ("b", "a", "A>B", 20, 10), ("a", "b", "B>A", 10, 20), ("b", "a", "A=B", 20, 10)]
    ):
        lines.append(json.dumps({
            "item_id": f"q{i // 2}", "judge": "openai:gpt-4o", "status": "ok", "request_id": f"r{i}",
            "data": {"model_a": first, "model_b": second, "level": level, "len_a": la, "len_b": lb,
                     "order": "ab" if i % 2 == 0 else "ba"},
        }))
    lines.append(json.dumps({"item_id": "q9", "judge": "openai:gpt-4o", "status": "invalid", "request_id": "r9", "data": {}}))
    (run / "verdicts.jsonl").write_text("\n".join(lines) + "\n")
    battles = battles_from_verdicts(load_run(run).verdicts)
    assert len(battles) == 4  # the invalid verdict is dropped
    assert battles["score_a"].tolist() == [1.0, 1.0, 0.0, 0.5]
    report = bias_report(battles)
    assert report["position"]["first_position_win_rate"]["rate"] == pytest.approx(2 / 3)
    # q0: a wins, then b wins; q1: b wins, then a tie -> neither item is consistent.
    assert report["position"]["consistency"]["n"] == 2
    assert report["position"]["consistency"]["rate"] == 0.0
    assert report["length"]["longer_wins"]["rate"] == pytest.approx(2 / 3)  # b (longer) wins r1, r2; a wins r0
    assert report["self_preference"]["judge_family"] == "gpt"


def test_bad_battles_are_bad_input() -> None:
    with pytest.raises(BadInput, match="score_a column"):
        position_bias(pd.DataFrame({"item_id": ["q"], "model_a": ["x"], "model_b": ["y"]}))
    with pytest.raises(BadInput, match="unknown verdict level"):
        position_bias(pd.DataFrame({"item_id": ["q"], "model_a": ["x"], "model_b": ["y"], "level": ["A>>>B"]}))
    with pytest.raises(BadInput, match="len_a"):
        length_bias(pd.DataFrame({"item_id": ["q"], "model_a": ["x"], "model_b": ["y"], "score_a": [1.0]}))
