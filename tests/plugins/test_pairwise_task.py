"""The pairwise task: which pairs, which requests, and the numbers made of hand-built verdicts."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.models import Verdict
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.tasks import load_task
from harness.testing import OpenAIServer, Reply
from harness_plugins.pairwise.aggregate import aggregate_pairwise
from harness_plugins.pairwise.config import PairwiseConfig
from harness_plugins.pairwise.pairs import choose_pairs

ANSWERS = {
    "q1": {"alpha": "Paris is the capital of France.", "beta": "It is Paris.", "gamma": "Lyon, I believe, though it is a big city."},
    "q2": {"alpha": "Water boils at 100 degrees Celsius at sea level.", "beta": "100 C.", "gamma": "Around 90 degrees."},
    # gamma did not answer q3
    "q3": {"alpha": "Seven continents.", "beta": "There are seven: Africa, Antarctica, Asia, Australia, Europe, North and South America."},
}
INSTRUCTIONS = {"q1": "Capital of France?", "q2": "Boiling point of water?", "q3": "How many continents?"}


def write_task(tmp_path: Path, options: dict[str, Any] | None = None, answers: dict[str, dict[str, str]] | None = None) -> Path:
    answers = answers or ANSWERS
    data = tmp_path / "data.jsonl"
    data.write_text(
        "".join(json.dumps({"id": k, "instruction": INSTRUCTIONS.get(k, k), "answers": v}) + "\n" for k, v in answers.items()),
        encoding="utf-8",
    )
    task = {
        "name": "pairwise-test",
        "protocol": "pairwise",
        "dataset": {"path": "data.jsonl"},
        "judge": "openai:judge",
        "options": {"n_bootstrap": 50, **(options or {})},
    }
    path = tmp_path / "task.yaml"
    path.write_text(json.dumps(task), encoding="utf-8")  # JSON is YAML
    return path


def load(path: Path) -> Any:
    return load_task(path, Registry.collect(load_plugins().manager))


# -- pairs -----------------------------------------------------------------------------------------


def test_one_baseline() -> None:
    assert choose_pairs(["m1", "m2", "m3", "m4"], ["m2"]) == [("m1", "m2"), ("m3", "m2"), ("m4", "m2")]


def test_three_baselines_each_unordered_pair_once() -> None:
    models = ["x", "b1", "y", "b2", "b3"]
    pairs = choose_pairs(models, ["b1", "b2", "b3"])
    keys = [frozenset(p) for p in pairs]
    assert len(keys) == len(set(keys)), "an unordered pair appears twice"
    expected = {frozenset(p) for p in [
        ("x", "b1"), ("y", "b1"), ("x", "b2"), ("y", "b2"), ("x", "b3"), ("y", "b3"),
        ("b1", "b2"), ("b1", "b3"), ("b2", "b3"),
    ]}
    assert set(keys) == expected  # x-y (no baseline in it) is not compared
    assert all(a != b for a, b in pairs)
    # every pair holds a baseline in second place
    assert all(b in ("b1", "b2", "b3") for _, b in pairs)


def test_all_pairs_without_baselines() -> None:
    models = ["m1", "m2", "m3", "m4"]
    pairs = choose_pairs(models, [])
    assert len(pairs) == 6
    assert {frozenset(p) for p in pairs} == {frozenset(p) for p in combinations(models, 2)}


def test_unknown_baseline_is_bad_input() -> None:
    with pytest.raises(BadInput, match="nobody"):
        choose_pairs(["m1", "m2"], ["nobody"])


@pytest.mark.parametrize("models", [[], ["only"]])
def test_fewer_than_two_models_is_bad_input(models: list[str]) -> None:
    with pytest.raises(BadInput, match="at least two"):
        choose_pairs(models, [])


def test_bad_baseline_in_a_task_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="baselines"):
        load(write_task(tmp_path, {"baselines": ["delta"]}))


def test_single_model_dataset_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="at least two"):
        load(write_task(tmp_path, answers={"q1": {"alpha": "x"}, "q2": {"alpha": "y"}}))


# -- requests --------------------------------------------------------------------------------------

FENCE = re.compile(r"<(answer_[ab])_([0-9a-f]{10})>\n(.*?)\n</\1_\2>", re.S)


def fenced_answers(content: str) -> dict[str, str]:
    found = {}
    for match in FENCE.finditer(content):
        assert match.group(1) not in found
        found[match.group(1)] = match.group(3)
    return found


def test_requests_in_both_orders(tmp_path: Path) -> None:
    loaded = load(write_task(tmp_path))
    requests = loaded.task.build_requests()
    # q1, q2: 3 pairs x 2 orders; q3 has no gamma: only alpha-beta, 2 orders
    assert len(requests) == 6 + 6 + 2
    ids = [r.id for r in requests]
    assert len(set(ids)) == len(ids)
    assert len({r.key for r in requests}) == len(requests)
    by_id = {r.id: r for r in requests}
    for request in requests:
        item, first, second, order = request.id.split("::")
        assert item == request.item_id
        meta = request.meta
        assert meta["order"] == order
        if order == "ab":
            assert (meta["model_a"], meta["model_b"]) == (first, second)
            twin = by_id[f"{item}::{first}::{second}::ba"]
            assert (twin.meta["model_a"], twin.meta["model_b"]) == (second, first)
        answer_a, answer_b = ANSWERS[item][meta["model_a"]], ANSWERS[item][meta["model_b"]]
        assert meta["len_a"] == len(answer_a)
        assert meta["len_b"] == len(answer_b)
        user = [m for m in request.messages if m.role == "user"]
        assert len(user) == 1
        assert fenced_answers(user[0].content) == {"answer_a": answer_a, "answer_b": answer_b}
        assert INSTRUCTIONS[item] in user[0].content
        # reasoning is on by default: free text, no constraint
        assert request.constraint is None
        assert request.sampling.max_tokens == 1024
        assert request.sampling.logprobs is True and request.sampling.top_logprobs == 10
    assert not any("gamma" in r.id for r in requests if r.item_id == "q3")
    pairs = {(r.item_id, frozenset((r.meta["model_a"], r.meta["model_b"]))) for r in requests}
    assert len(pairs) == 7


@pytest.mark.parametrize(
    ("verdict_format", "choices"),
    [("scale", ("[[1]]", "[[2]]", "[[3]]", "[[4]]", "[[5]]")), ("binary", ("A", "B"))],
)
def test_constraint_only_without_reasoning(tmp_path: Path, verdict_format: str, choices: tuple[str, ...]) -> None:
    free = load(write_task(tmp_path, {"verdict_format": verdict_format})).task.build_requests()
    assert all(r.constraint is None for r in free)
    short = load(write_task(tmp_path, {"verdict_format": verdict_format, "reasoning": False,
                                       "logprobs": False})).task.build_requests()
    assert all(r.constraint is not None and r.constraint.choices == choices for r in short)
    assert all(r.sampling.max_tokens <= 16 for r in short)
    assert all(r.sampling.logprobs is False and r.sampling.top_logprobs == 0 for r in short)
    # same calls otherwise: the ids match one to one
    assert [r.id for r in free] == [r.id for r in short]


def test_labels_without_reasoning_have_no_constraint(tmp_path: Path) -> None:
    requests = load(write_task(tmp_path, {"verdict_format": "labels", "reasoning": False})).task.build_requests()
    assert requests and all(r.constraint is None for r in requests)


def test_baseline_requests(tmp_path: Path) -> None:
    requests = load(write_task(tmp_path, {"baselines": ["beta"]})).task.build_requests()
    # alpha-beta on q1..q3, gamma-beta on q1, q2; two orders each
    assert sorted(r.id for r in requests) == sorted(
        f"{item}::{m}::beta::{order}"
        for item, m in [("q1", "alpha"), ("q1", "gamma"), ("q2", "alpha"), ("q2", "gamma"), ("q3", "alpha")]
        for order in ("ab", "ba")
    )


# -- aggregation on hand-built verdicts ------------------------------------------------------------


def verdict(item: str, first: str, second: str, order: str, level: str | None = None, *,
            status: str = "ok", len_a: int = 100, len_b: int = 100,
            probs: dict[str, float] | None = None) -> Verdict:
    model_a, model_b = (first, second) if order == "ab" else (second, first)
    data: dict[str, Any] = {"model_a": model_a, "model_b": model_b, "order": order, "len_a": len_a,
                            "len_b": len_b, "category": None}
    if level is not None:
        data["level"] = level
    if probs is not None:
        data["probs"] = probs
    request_id = f"{item}::{first}::{second}::{order}"
    return Verdict(request_id=request_id, request_key=request_id.replace("::", "-"), item_id=item,
                   judge="openai:judge", status=status, data=data,
                   error=None if status == "ok" else f"{status} on purpose")


def config(**kwargs: Any) -> PairwiseConfig:
    return PairwiseConfig(n_bootstrap=100, **kwargs)


def scores_by_model(verdicts: list[Verdict], **kwargs: Any) -> Any:
    return aggregate_pairwise(verdicts, config(**kwargs)).scores.set_index("model")


# A: model in position A; the reward of each model is noted per line.
HAND_BUILT = [
    verdict("i1", "a", "b", "ab", "A>>B"),   # a +100, b -100
    verdict("i1", "a", "b", "ba", "B>A"),    # A=b, B=a: a +50, b -50
    verdict("i1", "a", "c", "ab", "A=B"),    # a 0, c 0
    verdict("i1", "a", "c", "ba", "A>B"),    # A=c: c +50, a -50
    verdict("i1", "b", "c", "ab", "B>>A"),   # A=b: c +100, b -100
    verdict("i1", "b", "c", "ba", status="invalid"),
    verdict("i2", "a", "b", "ab", "B>A"),    # a -50, b +50
    verdict("i2", "a", "b", "ba", "A>>B"),   # A=b: b +100, a -100
    verdict("i2", "a", "c", "ab", status="failed"),
    verdict("i2", "a", "c", "ba", "B>>A"),   # A=c, B=a: a +100, c -100
    verdict("i2", "b", "c", "ab", "A>B"),    # A=b: b +50, c -50
    verdict("i2", "b", "c", "ba", "A=B"),    # b 0, c 0
]


def test_wb_reward_and_outcome_counts() -> None:
    agg = aggregate_pairwise(HAND_BUILT, config())
    scores = agg.scores.set_index("model")
    # a: 100 + 50 + 0 - 50 - 50 - 100 + 100 = 50 over 7; b: -100 - 50 - 100 + 50 + 100 + 50 + 0 = -50 over 7;
    # c: 0 + 50 + 100 - 100 - 50 + 0 = 0 over 6
    expected = {"a": (50 / 7, 7), "b": (-50 / 7, 7), "c": (0.0, 6)}
    for model, (mean, n) in expected.items():
        assert scores.loc[model, "score"] == pytest.approx(mean)
        assert scores.loc[model, "wb_reward"] == pytest.approx(mean)
        assert scores.loc[model, "n"] == n
    counts = scores[["win_much", "win", "tie", "lose", "lose_much", "invalid", "failed"]]
    assert counts.loc["a"].tolist() == [2, 1, 1, 2, 1, 0, 1]
    assert counts.loc["b"].tolist() == [1, 2, 1, 1, 2, 1, 0]
    assert counts.loc["c"].tolist() == [1, 1, 2, 1, 1, 1, 1]
    # win rate: wins + half the ties; a: (3 + 0.5) / 7, b: (3 + 0.5) / 7, c: (2 + 1) / 6
    assert scores.loc["a", "win_rate"] == pytest.approx(50.0)
    assert scores.loc["c", "win_rate"] == pytest.approx(50.0)
    # no logprobs anywhere: no expected reward
    assert scores["expected_reward"].isna().all()
    assert agg.scores["model"].tolist() == ["a", "c", "b"]  # by score
    for model in "abc":
        assert scores.loc[model, "ci_low"] <= scores.loc[model, "score"] <= scores.loc[model, "ci_high"]
    assert agg.summary["verdicts"] == {"ok": 10, "invalid": 1, "failed": 1}
    assert list(agg.ranking.columns) == ["model", "rank", "score", "ci_low", "ci_high", "n"]
    # Bradley-Terry battles: ok verdicts only; a 7, b 7, c 6
    assert agg.ranking.set_index("model")["n"].to_dict() == {"a": 7, "b": 7, "c": 6}


def test_invalid_and_failed_are_never_scored() -> None:
    scored = [v for v in HAND_BUILT if v.status == "ok"]
    with_problems = scores_by_model(HAND_BUILT)
    without = scores_by_model(scored)
    for column in ("score", "wb_reward", "n", "win_much", "win", "tie", "lose", "lose_much"):
        assert with_problems[column].tolist() == pytest.approx(without[column].tolist())
    assert without["invalid"].sum() == 0 and without["failed"].sum() == 0


def test_model_with_only_problem_verdicts_is_listed_unscored() -> None:
    verdicts = [
        verdict("i1", "a", "b", "ab", "A>B"),
        verdict("i1", "a", "z", "ab", status="failed"),
        verdict("i1", "a", "z", "ba", status="invalid"),
    ]
    scores = scores_by_model(verdicts)
    assert scores.loc["z", "n"] == 0
    assert scores.loc["z", ["invalid", "failed"]].tolist() == [1, 1]
    assert scores.loc["a", "n"] == 1 and scores.loc["a", "score"] == pytest.approx(50.0)


LENGTHY = [
    verdict("i1", "x", "y", "ab", "A>B", len_a=800, len_b=200),  # winner x 600 longer
    verdict("i1", "x", "y", "ba", "B>A", len_a=200, len_b=800),  # A=y, B=x: winner x 600 longer
    verdict("i2", "x", "y", "ab", "A>B", len_a=200, len_b=800),  # winner x shorter: stays
    verdict("i2", "x", "y", "ba", "B>>A", len_a=200, len_b=800),  # much better: stays
]


def test_length_rule_at_aggregation() -> None:
    off = scores_by_model(LENGTHY, length_k=-1)
    # x: 50 + 50 + 50 + 100 = 250 / 4
    assert off.loc["x", "score"] == pytest.approx(62.5)
    assert off.loc["x", ["win_much", "win", "tie"]].tolist() == [1, 3, 0]
    on = scores_by_model(LENGTHY, length_k=500)
    # the first two become ties: x: 0 + 0 + 50 + 100 = 150 / 4
    assert on.loc["x", "score"] == pytest.approx(37.5)
    assert on.loc["y", "score"] == pytest.approx(-37.5)
    assert on.loc["x", ["win_much", "win", "tie"]].tolist() == [1, 1, 2]
    # 600 is not more than 600
    assert scores_by_model(LENGTHY, length_k=600).loc["x", "score"] == pytest.approx(62.5)
    # the parsed level is kept for position statistics; only the scored level changes
    agg = aggregate_pairwise(LENGTHY, config(length_k=500))
    assert agg.summary["first_position_win_rate"] == pytest.approx(2 / 4)


SOFT_PROBS = {"A>>B": 0.5, "A>B": 0.2, "A=B": 0.1, "B>A": 0.1, "B>>A": 0.1}


def test_soft_uses_the_distribution_and_falls_back_to_the_verdict() -> None:
    verdicts = [
        verdict("i1", "x", "y", "ab", "A>B", probs=SOFT_PROBS),  # E[A] = 50 + 10 + 0 - 5 - 10 = 45
        verdict("i1", "x", "y", "ba", "B>A"),                     # no probs: x +50
    ]
    hard = scores_by_model(verdicts, soft=False)
    soft = scores_by_model(verdicts, soft=True)
    assert hard.loc["x", "score"] == pytest.approx(50.0)          # (50 + 50) / 2
    assert soft.loc["x", "score"] == pytest.approx((45 + 50) / 2)
    assert soft.loc["y", "score"] == pytest.approx(-(45 + 50) / 2)
    # wb_reward is always the parsed verdicts'; expected_reward only where there are probs
    assert soft.loc["x", "wb_reward"] == pytest.approx(50.0)
    assert soft.loc["x", "expected_reward"] == pytest.approx(45.0)
    assert hard.loc["x", "expected_reward"] == pytest.approx(45.0)
    assert soft.loc["y", "expected_reward"] == pytest.approx(-45.0)


def test_soft_with_the_length_rule() -> None:
    verdicts = [verdict("i1", "x", "y", "ab", "A>>B", len_a=800, len_b=200, probs=SOFT_PROBS)]
    # A is 600 longer: the A>B mass (0.2) moves to the tie: 50 + 0 + 0 - 5 - 10 = 35
    soft = scores_by_model(verdicts, soft=True, length_k=500)
    assert soft.loc["x", "score"] == pytest.approx(35.0)
    assert soft.loc["x", "wb_reward"] == pytest.approx(100.0)  # A>>B is not touched by the rule


def test_position_statistics() -> None:
    verdicts = [
        verdict("i1", "a", "b", "ab", "A>>B"),  # forward A>>B
        verdict("i1", "a", "b", "ba", "B>A"),   # mirrored A>B: same winner, not the same level
        verdict("i1", "a", "c", "ab", "A>>B"),
        verdict("i1", "a", "c", "ba", "A>>B"),  # mirrored B>>A: the first position won both times
        verdict("i2", "a", "b", "ab", "A=B"),
        verdict("i2", "a", "b", "ba", "A=B"),   # consistent tie
        verdict("i2", "a", "c", "ab", "A>B"),   # reverse order missing
        verdict("i2", "a", "c", "ba", status="invalid"),
    ]
    summary = aggregate_pairwise(verdicts, config()).summary
    assert summary["judged"] == 7
    assert summary["pairs_with_both_orders"] == 3
    assert summary["position_consistency"] == pytest.approx(1 / 3)
    assert summary["position_consistency_winner"] == pytest.approx(2 / 3)
    # first position won: A>>B, A>>B, A>>B, A>B = 4 of 7; second: B>A = 1 of 7; ties 2 of 7
    assert summary["first_position_win_rate"] == pytest.approx(4 / 7, abs=1e-6)
    assert summary["second_position_win_rate"] == pytest.approx(1 / 7, abs=1e-6)
    assert summary["tie_rate"] == pytest.approx(2 / 7, abs=1e-6)


# -- a real run: the exported files ----------------------------------------------------------------


def test_run_exports_ranking_and_scores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    # a judge that always prefers the first answer slightly
    with OpenAIServer(lambda body: Reply(text="A is slightly better.\n[[2]]")) as server:
        result = run_task(write_task(tmp_path), RunOptions(
            judge="openai:judge", base_url=server.base_url, out=tmp_path / "run", progress=False,
            retry=RetryPolicy(max_attempts=2, initial_wait_s=0.01, max_wait_s=0.05)))
        assert len(server.requests) == 14
    run = tmp_path / "run"
    # Every item alike: each bootstrap resample is the data, so no interval (not [1000, 1000]),
    # and ranking.csv says why.
    ranking = pd.read_csv(run / "ranking.csv")
    assert list(ranking.columns) == ["model", "rank", "score", "ci_low", "ci_high", "n", "ci_note"]
    assert ranking[["ci_low", "ci_high"]].isna().all().all() and ranking["ci_note"].str.startswith("no interval").all()
    assert (run / "scores.csv").read_text().splitlines()[0].split(",")[:5] == ["model", "score", "ci_low", "ci_high", "n"]
    scores = result.scores.set_index("model")
    # each model is first as often as second: +50 and -50 cancel
    assert scores["score"].tolist() == pytest.approx([0.0, 0.0, 0.0])
    # alpha, beta: 2 pairs on q1, q2 and one on q3 -> 5 pairs x 2 orders; gamma: 2 pairs on q1, q2 -> 8
    assert scores["n"].to_dict() == {"alpha": 10, "beta": 10, "gamma": 8}
    assert scores["win"].to_dict() == {"alpha": 5, "beta": 5, "gamma": 4}
    summary = result.aggregate.summary
    assert summary["first_position_win_rate"] == 1.0
    assert summary["position_consistency"] == 0.0
    assert summary["position_consistency_winner"] == 0.0
    assert summary["pairs_with_both_orders"] == 7


# -- checklists as guidance -------------------------------------------------------------------------

CHECKLIST = ["Does it name Paris?", "Is it one sentence?"]


def write_checklist_task(tmp_path: Path, options: dict[str, Any]) -> Path:
    from harness.testing.tasks import write_task as write_task_file

    rows = [{"id": k, "instruction": INSTRUCTIONS[k], "answers": v, **({"checklist": CHECKLIST} if k == "q1" else {})}
            for k, v in ANSWERS.items()]
    return write_task_file(tmp_path, name="guided", protocol="pairwise", rows=rows, options=options)


@pytest.mark.parametrize("template", ["pairwise.jinja", "pairwise_small.jinja"])
def test_checklist_guides_the_judge_only_when_asked(tmp_path: Path, template: str) -> None:
    guided = load(write_checklist_task(tmp_path, {"use_checklist": True}))
    guided.task.prompts = type(guided.task.prompts)(guided.task.prompts.template.environment, template)
    for request in guided.task.build_requests():
        user = next(m.content for m in request.messages if m.role == "user")
        outside_fences = FENCE.sub("", user)
        for question in CHECKLIST:
            assert (question in outside_fences) == (request.item_id == "q1"), (request.id, question)
    plain = load(write_checklist_task(tmp_path, {}))
    assert not any(q in m.content for r in plain.task.build_requests() for m in r.messages for q in CHECKLIST)


def test_use_checklist_without_any_checklist_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="use_checklist"):
        load(write_task(tmp_path, {"use_checklist": True}))
