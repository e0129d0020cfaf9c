"""The listwise protocol end to end over a real loopback judge whose orders follow planted
Plackett-Luce strengths (harness.testing.planted_listwise), and its parsing of orders."""

from __future__ import annotations

import json
from collections import Counter
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from harness.cli import main
from harness.protocol import InvalidOutput
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing.planted import planted_rows
from harness.testing.planted_listwise import PlantedListwiseJudge
from harness.testing.tasks import write_task
from harness_plugins.listwise.verdicts import parse_json_order, parse_order, ranking_schema

ELO = 400.0 / np.log(10.0)


def models(m: int) -> list[str]:
    return [f"m{i}" for i in range(m)]


def spread(m: int, width: float = 2.0) -> dict[str, float]:
    return dict(zip(models(m), np.linspace(-width, width, m)))


def run(tmp_path: Path, judge: PlantedListwiseJudge, out: str, options: dict, rows: list[dict], **extra):
    task_dir = tmp_path / f"task-{out}"
    task_dir.mkdir(exist_ok=True)
    task = write_task(task_dir, name="lists", protocol="listwise", rows=rows, judge=judge.spec,
                      options={"n_bootstrap": 100, **options})
    return run_task(task, RunOptions(judge=judge.spec, base_url=judge.base_url, out=tmp_path / out,
                                     progress=False, cache=False, **extra))


def verdict_lines(directory: Path) -> list[dict]:
    return [json.loads(line) for line in (directory / "verdicts.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("text", "order"), [("[[C>A>B]]", ["C", "A", "B"]), ("so: [[ b > c > a ]]", ["B", "C", "A"])])
def test_text_orders_are_read(text, order):
    assert parse_order(text, 3) == order


@pytest.mark.parametrize(("text", "why"), [
    ("[[A>B]]", "missing"), ("[[A>B>A]]", "repeated"), ("[[A>B>D]]", "unknown"), ("A is best", "no order"),
    ("[[A>B>C]] then [[C>B>A]]", "conflicting"),
])
def test_invalid_orders_are_invalid_verdicts(text, why):
    with pytest.raises(InvalidOutput, match=why):
        parse_order(text, 3)


def test_structured_orders_use_the_labels_as_enum():
    schema = ranking_schema(4, reasoning=False)
    assert schema["properties"]["ranking"]["items"]["enum"] == ["A", "B", "C", "D"]
    assert schema["properties"]["ranking"]["minItems"] == schema["properties"]["ranking"]["maxItems"] == 4
    assert parse_json_order('{"ranking": ["D", "A", "C", "B"]}', 4) == ["D", "A", "C", "B"]
    with pytest.raises(InvalidOutput, match="repeated"):
        parse_json_order('{"ranking": ["D", "A", "A", "B"]}', 4)


def test_all_tuples_in_every_rotation_recover_the_planted_order(tmp_path):
    names = models(5)
    strengths = spread(5)
    with PlantedListwiseJudge(strengths) as judge:
        result = run(tmp_path, judge, "run", {"k": 3}, planted_rows(names, 12))
        calls = judge.calls
    facts = result.manifest["sampling"]
    assert calls == facts["calls"] == comb(5, 3) * 3 * 12 == facts["full_design_calls"]
    assert result.manifest["status"] == "finished"
    lines = verdict_lines(result.directory)
    # Every tuple of every item is shown in its three rotations: each model once in each position.
    shown = Counter((v["item_id"], frozenset(v["data"]["models"])) for v in lines)
    assert set(shown.values()) == {3} and len(shown) == comb(5, 3) * 12
    for (item, tuple_), _ in list(shown.items())[:20]:
        orders = [v["data"]["models"] for v in lines if v["item_id"] == item and frozenset(v["data"]["models"]) == tuple_]
        for position in range(3):
            assert {o[position] for o in orders} == set(tuple_)
    ranking = result.ranking.set_index("model")
    assert kendalltau(ranking.score.reindex(names), list(strengths.values())).statistic > 0.99
    assert (ranking.ci_low < ranking.score).all() and (ranking.score < ranking.ci_high).all()
    scores = pd.read_csv(result.directory / "scores.csv").set_index("model")
    assert list(scores.columns[:4]) == ["score", "ci_low", "ci_high", "n"]
    assert scores.loc["m4", "first_rate"] > scores.loc["m0", "first_rate"]
    assert (pd.read_csv(result.directory / "ranking.csv").model.tolist()
            == result.ranking.model.tolist())


def test_the_fenced_answers_come_in_label_order(tmp_path):
    names = models(4)
    with PlantedListwiseJudge(spread(4)) as judge:
        run(tmp_path, judge, "run", {"k": 4, "rotations": 2}, planted_rows(names, 2))
        prompts = ["\n".join(m["content"] for m in body["messages"]) for body in judge.server.requests]
    for prompt in prompts:
        starts = [prompt.index(f"<answer_{label}_") for label in "abcd"]
        assert starts == sorted(starts)
        assert all(f"</answer_{label}_" in prompt for label in "abcd")


def test_a_planted_position_preference_is_reported(tmp_path):
    names = models(4)
    equal = dict.fromkeys(names, 0.0)
    with PlantedListwiseJudge(equal, position_bias=1.5) as biased, PlantedListwiseJudge(equal) as fair:
        tilted = run(tmp_path, biased, "biased", {"k": 4}, planted_rows(names, 30))
        even = run(tmp_path, fair, "fair", {"k": 4}, planted_rows(names, 30))
    rates = tilted.manifest["summary"]["position_first_rates"]
    # exp(1.5) / (exp(1.5) + 3) = 0.6 of the orders put position A first; unbiased 0.25.
    assert rates["A"] > 0.5 and max(rates[x] for x in "BCD") < 0.2
    assert abs(even.manifest["summary"]["position_first_rates"]["A"] - 0.25) < 0.1
    # Rotations cancel the preference: no model is lifted by it (the bonus is worth 260 Elo points
    # to whichever model is shown first; the ratings stay within the noise of equal models).
    assert (tilted.ranking.score - 1000.0).abs().max() < 60.0
    assert main(["report", str(tilted.directory)]) == 0
    html = (tilted.directory / "report.html").read_text()
    assert "Position bias (listwise)" in html


def test_invalid_orders_are_asked_again(tmp_path):
    names = models(4)
    with PlantedListwiseJudge(spread(4), invalid_first=True) as judge:
        result = run(tmp_path, judge, "run", {"k": 3, "rotations": 1}, planted_rows(names, 5))
        calls = judge.calls
    assert calls == 2 * comb(4, 3) * 5  # every first answer broken, every re-ask read
    assert result.manifest["summary"]["verdicts"] == {"ok": comb(4, 3) * 5, "invalid": 0, "failed": 0}


def test_structured_output_orders(tmp_path):
    names = models(4)
    with PlantedListwiseJudge(spread(4)) as judge:
        result = run(tmp_path, judge, "run", {"k": 4, "structured_output": True, "reasoning": False},
                     planted_rows(names, 8))
        bodies = judge.server.requests
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["ranking"]["items"]["enum"] == ["A", "B", "C", "D"]
    assert result.manifest["summary"]["verdicts"]["ok"] == 8 * 4


def test_uniform_spends_the_budget_evenly_and_a_larger_budget_keeps_the_smaller(tmp_path):
    names = models(8)
    rows = planted_rows(names, 30)
    with PlantedListwiseJudge(spread(8)) as judge:
        small = run(tmp_path, judge, "small", {"k": 4, "tuples": "uniform", "budget": 240}, rows)
        large = run(tmp_path, judge, "large", {"k": 4, "tuples": "uniform", "budget": 480}, rows)
    assert small.manifest["sampling"]["calls"] == 240 and large.manifest["sampling"]["calls"] == 480
    small_ids = {v["request_id"] for v in verdict_lines(small.directory)}
    large_ids = {v["request_id"] for v in verdict_lines(large.directory)}
    assert small_ids < large_ids
    appearances = Counter(m for v in verdict_lines(large.directory) for m in v["data"]["models"])
    assert max(appearances.values()) - min(appearances.values()) <= 0.2 * np.mean(list(appearances.values()))


def test_bootstrap_intervals_cover_the_planted_strengths(tmp_path):
    names = models(6)
    strengths = spread(6, 1.0)
    truth = np.array(list(strengths.values()))
    truth = 1000.0 + ELO * (truth - truth.mean())
    covered = []
    for seed in range(5):
        with PlantedListwiseJudge(strengths, seed=seed) as judge:
            result = run(tmp_path, judge, f"s{seed}", {"k": 3, "tuples": "uniform", "budget": 360,
                                                         "n_bootstrap": 300}, planted_rows(names, 60))
        ranking = result.ranking.set_index("model").reindex(names)
        covered += list((ranking.ci_low.to_numpy() <= truth) & (truth <= ranking.ci_high.to_numpy()))
    assert np.mean(covered) >= 0.85


def test_plackett_luce_with_two_answers_is_bradley_terry():
    from harness.stats.bt_newton import fit_bradley_terry
    from harness.stats.plackett_luce import fit_plackett_luce

    rng = np.random.default_rng(3)
    pairs = np.array([rng.choice(5, 2, replace=False) for _ in range(400)])
    wins = np.zeros((5, 5))
    np.add.at(wins, (pairs[:, 0], pairs[:, 1]), 1.0)
    assert np.allclose(fit_plackett_luce(pairs, 5), fit_bradley_terry(wins), atol=1e-8)


def test_adaptive_tuples_recover_the_order_and_resume_to_the_same_files(tmp_path):
    from harness.errors import BudgetReached

    names = models(8)
    strengths = spread(8, 1.5)
    rows = planted_rows(names, 40)
    options = {"k": 4, "tuples": "adaptive", "budget": 400}
    with PlantedListwiseJudge(strengths) as judge:
        whole = run(tmp_path, judge, "whole", options, rows)
        calls = judge.calls
        with pytest.raises(BudgetReached):
            run(tmp_path, judge, "resumed", options, rows, max_calls=150)
        resumed = run(tmp_path, judge, "resumed", options, rows)
        assert judge.calls - calls == 400
    facts = whole.manifest["sampling"]
    assert facts["calls"] == 400 and facts["rounds"] > 2 and facts["stopped_by"] == "budget"
    fitted = whole.ranking.set_index("model").score.reindex(names)
    assert kendalltau(fitted, list(strengths.values())).statistic >= 0.85
    for name in ("verdicts.jsonl", "scores.csv", "ranking.csv"):
        assert (resumed.directory / name).read_text() == (whole.directory / name).read_text(), name


def test_aggregate_from_the_store_and_replay_give_the_same_ranking(tmp_path):
    names = models(5)
    rows = planted_rows(names, 10)
    with PlantedListwiseJudge(spread(5)) as judge:
        result = run(tmp_path, judge, "run", {"k": 3, "tuples": "uniform", "budget": 90}, rows)
    written = (result.directory / "ranking.csv").read_text()
    assert main(["aggregate", str(result.directory)]) == 0
    assert (result.directory / "ranking.csv").read_text() == written
    task = tmp_path / "task-run" / "task.yaml"
    replayed = run_task(task, RunOptions(judge=f"replay:{result.directory}", out=tmp_path / "replayed",
                                         progress=False, cache=False))
    assert (replayed.directory / "ranking.csv").read_text() == written


def test_models_with_only_invalid_orders_are_named(tmp_path):
    from harness.testing.scripted import ScriptedJudge

    judge = ScriptedJudge().otherwise("They are all fine.")  # never an order
    try:
        task = write_task(tmp_path, name="lists", protocol="listwise", rows=planted_rows(models(3), 3),
                          judge=judge.judge, options={"k": 3, "reask": 0, "n_bootstrap": 20})
        code = main(["run", str(task), "--judge", judge.judge, "--base-url", judge.base_url,
                     "--out", str(tmp_path / "out"), "--no-progress"])
    finally:
        judge.close()
    completeness = json.loads((tmp_path / "out" / "run.json").read_text())["completeness"]
    assert code == 1 and completeness["models_only_invalid"] == models(3)
