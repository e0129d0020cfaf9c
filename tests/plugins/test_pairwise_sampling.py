"""Uniform and adaptive sampling of pairwise comparisons, end to end over a real loopback judge
whose verdicts follow planted Bradley-Terry strengths."""

from __future__ import annotations

import json
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import kendalltau

from harness.cli import main
from harness.errors import BudgetReached
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.stats.bradley_terry import bootstrap_bradley_terry
from harness.stats.bt_newton import fit_bradley_terry
from harness.testing.planted import PlantedJudge, planted_rows
from harness.testing.tasks import write_task
from harness_plugins.pairwise.sampling import SamplingPlan, start_groups

MODELS = [f"m{i}" for i in range(6)]
SPREAD = dict(zip(MODELS, np.linspace(-2.0, 2.0, 6)))
EXPORTS = ("verdicts.jsonl", "scores.csv", "ranking.csv")


@pytest.fixture
def judge():
    with PlantedJudge(SPREAD) as planted:
        yield planted


def run(tmp_path: Path, judge: PlantedJudge, out: str, options: dict, *, n_items: int = 40, rows=None,
        max_calls: int | None = None):
    task_dir = tmp_path / f"task-{out}"
    task_dir.mkdir(exist_ok=True)
    task = write_task(task_dir, name="sampled", protocol="pairwise", rows=rows or planted_rows(MODELS, n_items),
                      judge=judge.spec, options={"n_bootstrap": 100, **options})
    return run_task(task, RunOptions(judge=judge.spec, base_url=judge.base_url, out=tmp_path / out,
                                     progress=False, cache=False, max_calls=max_calls))


def comparisons(directory: Path) -> Counter:
    """(item, model, model) -> how many answer orders were judged."""
    lines = (directory / "verdicts.jsonl").read_text().splitlines()
    return Counter(tuple(json.loads(line)["request_id"].split("::")[:3]) for line in lines)


def test_adaptive_recovers_the_planted_ranking_at_a_third_of_the_calls(tmp_path, judge):
    result = run(tmp_path, judge, "run", {"sampling": "adaptive", "budget": 0.3})
    facts = result.manifest["sampling"]
    assert judge.calls == facts["calls"] == 360 == facts["budget_calls"]
    assert facts["full_design_calls"] == 1200 and facts["calls_saved"] == 840
    assert facts["sampling"] == "adaptive" and facts["stopped_by"] == "budget" and facts["rounds"] > 2
    assert result.manifest["status"] == "finished" and result.manifest["counts"]["pending"] == 0
    fitted = result.ranking.set_index("model").score.reindex(MODELS)
    assert kendalltau(fitted, list(SPREAD.values())).statistic >= 0.85
    # Adaptive spends unevenly: the pairs of neighbours get more than the pairs far apart.
    per_pair = facts["comparisons_per_pair"]
    neighbours = np.mean([per_pair[f"m{i} vs m{i + 1}"] for i in range(5)])
    assert neighbours > 3 * per_pair["m0 vs m5"]


@pytest.mark.parametrize("sampling", ["uniform", "adaptive"])
def test_every_chosen_comparison_is_judged_in_both_orders(tmp_path, judge, sampling):
    result = run(tmp_path, judge, "run", {"sampling": sampling, "budget": 150})
    seen = comparisons(result.directory)
    assert set(seen.values()) == {2}
    assert len(seen) == 75 == result.manifest["sampling"]["calls"] // 2


def test_a_run_stopped_by_max_calls_resumes_to_the_files_of_an_uninterrupted_run(tmp_path, judge):
    options = {"sampling": "adaptive", "budget": 0.25}
    whole = run(tmp_path, judge, "whole", options)
    calls_whole = judge.calls
    with pytest.raises(BudgetReached):
        run(tmp_path, judge, "resumed", options, max_calls=130)
    assert judge.calls - calls_whole == 130
    resumed = run(tmp_path, judge, "resumed", options)
    assert judge.calls - calls_whole == whole.manifest["sampling"]["calls"]  # nothing judged twice
    for name in EXPORTS:
        assert (resumed.directory / name).read_text() == (whole.directory / name).read_text(), name
    assert resumed.manifest["sampling"] == whole.manifest["sampling"]


def test_a_larger_budget_continues_where_the_smaller_one_stopped(tmp_path, judge):
    small = run(tmp_path, judge, "grown", {"sampling": "adaptive", "budget": 0.2})
    before = comparisons(small.directory)
    calls_small = judge.calls
    grown = run(tmp_path, judge, "grown", {"sampling": "adaptive", "budget": 0.4})
    assert judge.calls - calls_small == 480 - 240  # only the new comparisons are paid for
    assert set(before) <= set(comparisons(grown.directory))
    fresh = run(tmp_path, judge, "fresh", {"sampling": "adaptive", "budget": 0.4})
    for name in EXPORTS:
        assert (grown.directory / name).read_text() == (fresh.directory / name).read_text(), name


def test_uniform_with_a_larger_budget_keeps_the_smaller_sample(tmp_path, judge):
    small = comparisons(run(tmp_path, judge, "small", {"sampling": "uniform", "budget": 0.1}).directory)
    large = comparisons(run(tmp_path, judge, "large", {"sampling": "uniform", "budget": 0.3}).directory)
    assert set(small) < set(large) and len(large) == 180


def test_intervals_come_from_the_judged_items_only(tmp_path, judge):
    sampled = run(tmp_path, judge, "sampled", {"sampling": "uniform", "budget": 0.2})
    full = run(tmp_path, judge, "full", {})
    ok = [json.loads(line) for line in (sampled.directory / "verdicts.jsonl").read_text().splitlines()]
    battles = Counter(m for v in ok for m in (v["data"]["model_a"], v["data"]["model_b"]))
    ranking = sampled.ranking.set_index("model")
    assert ranking.n.to_dict() == dict(battles)
    width = lambda r: (r.ci_high - r.ci_low).mean()
    assert width(sampled.ranking) > 1.5 * width(full.ranking)  # a fifth of the data: wider intervals
    # Recomputing from the store alone (items rebuilt from the verdicts, no dataset) gives the
    # same numbers: the items that were never judged took no part in the intervals.
    written = (sampled.directory / "ranking.csv").read_text()
    assert main(["aggregate", str(sampled.directory)]) == 0
    assert (sampled.directory / "ranking.csv").read_text() == written
    assert json.loads((sampled.directory / "run.json").read_text())["sampling"]["sampling"] == "uniform"
    assert full.manifest["sampling"] == {"sampling": "all", "calls": 1200, "full_design_calls": 1200,
                                         "calls_saved": 0}


def test_one_baseline_adaptive_gives_the_close_models_the_items(tmp_path):
    strengths = {"base": 0.0, "far": -3.0, "close_a": 0.9, "close_b": 1.1}
    with PlantedJudge(strengths) as planted:
        result = run(tmp_path, planted, "run", {"sampling": "adaptive", "budget": 0.5, "baselines": ["base"]},
                     rows=planted_rows(list(strengths), 60))
    per_pair = result.manifest["sampling"]["comparisons_per_pair"]
    assert set(per_pair) == {"far vs base", "close_a vs base", "close_b vs base"}
    assert min(per_pair["close_a vs base"], per_pair["close_b vs base"]) > 1.25 * per_pair["far vs base"]
    # The items a model was compared on are the first ones of one shared order: common items.
    seen = comparisons(result.directory)
    items = {m: {i for (i, a, _b) in seen if a == m} for m in ("far", "close_a", "close_b")}
    assert items["far"] <= items["close_a"] and items["far"] <= items["close_b"]


def test_two_baselines_adaptive_compares_every_model_with_each_on_shared_items(tmp_path):
    strengths = {"base1": 0.0, "base2": 0.5, "far": -3.0, "close_a": 0.9, "close_b": 1.1}
    with PlantedJudge(strengths) as planted:
        result = run(tmp_path, planted, "run", {"sampling": "adaptive", "budget": 0.4,
                                                "baselines": ["base1", "base2"]},
                     rows=planted_rows(list(strengths), 50))
    facts = result.manifest["sampling"]
    assert facts["calls"] == planted.calls == facts["budget_calls"]
    per_pair = facts["comparisons_per_pair"]
    assert {p.split(" vs ")[1] for p in per_pair} == {"base1", "base2"} and all(n > 0 for n in per_pair.values())
    seen = comparisons(result.directory)
    assert set(seen.values()) == {2}
    # Pairs with the same baseline take their items from one place in one order: the model
    # compared least with a baseline was compared on items the others also had.
    for base in ("base1", "base2"):
        items = {m: {i for (i, a, b) in seen if {a, b} == {m, base}} for m in ("far", "close_a", "close_b")}
        fewest = min(items.values(), key=len)
        assert all(fewest <= other for other in items.values())


def test_the_stopping_rule_ends_early_once_neighbours_are_ordered(tmp_path):
    strengths = dict(zip(MODELS[:4], [-3.0, -1.0, 1.0, 3.0]))
    with PlantedJudge(strengths) as planted:
        result = run(tmp_path, planted, "run", {"sampling": "adaptive", "stop_confidence": 0.9},
                     rows=planted_rows(MODELS[:4], 60))
    facts = result.manifest["sampling"]
    assert facts["stopped_by"] == "confidence"
    assert facts["calls"] < facts["full_design_calls"] // 2
    assert all(n["same_order"] >= 0.9 for n in facts["neighbours"])
    assert [n["upper"] for n in facts["neighbours"]] == ["m3", "m2", "m1"]


@pytest.mark.parametrize(("options", "message"), [
    ({"budget": 100}, "options.budget: only with sampling uniform or adaptive"),
    ({"sampling": "uniform", "budget": 1.5}, "options.budget:"),
    ({"sampling": "adaptive", "budget": 0}, "options.budget:"),
    ({"sampling": "uniform", "stop_confidence": 0.9}, "options.stop_confidence:"),
    ({"sampling": "sometimes"}, "options.sampling:"),
])
def test_bad_sampling_options_are_one_line_and_exit_2(tmp_path, capsys, options, message):
    task = write_task(tmp_path, name="bad", protocol="pairwise", rows=planted_rows(MODELS[:3], 4),
                      options=options)
    assert main(["run", str(task), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def _planted_world(m: int, n_items: int, sd: float, seed: int):
    """Planted log-strengths and every comparison's outcome (wins of the pair's first model over
    both answer orders), drawn once, for driving a plan in process."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, sd, m)
    theta -= theta.mean()
    pairs = list(combinations(range(m), 2))
    a, b = np.array(pairs).T
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    score = (rng.random((n_items, len(pairs), 2)) < p[None, :, None]).sum(axis=-1).astype(float)

    def tensor(cells):
        items, codes = np.unique([i for i, _ in cells], return_inverse=True)
        t = np.zeros((len(items), m, m))
        for code, (i, k) in zip(codes, cells):
            t[code, a[k], b[k]] += score[i, k]
            t[code, b[k], a[k]] += 2.0 - score[i, k]
        return t

    return theta, pairs, tensor


def test_adaptive_intervals_cover_the_planted_strengths_at_a_small_budget():
    # Many close models and 5% of the calls: where always comparing the closest-looking pairs, all
    # on the first items of one order, gave intervals that held the planted strength for about
    # two models in three.
    m, n_items = 30, 40
    covered = []
    for seed in range(4):
        theta, pairs, tensor = _planted_world(m, n_items, 0.3, seed)
        names = [f"m{i:02d}" for i in range(m)]
        plan = SamplingPlan("adaptive", names, [(names[i], names[j]) for i, j in pairs],
                            [set(names)] * n_items, budget=0.05, seed=seed)
        cells = plan.first_round()
        while batch := plan.next_round(tensor(cells).sum(axis=0)):
            cells += batch
        assert len(cells) == plan.target
        wins = tensor(cells)
        fitted = fit_bradley_terry(wins.sum(axis=0))
        low, high = np.quantile(bootstrap_bradley_terry(wins, n_rounds=200, seed=seed, start=fitted),
                                [0.025, 0.975], axis=0)
        covered.append(np.mean((low <= theta) & (theta <= high)))
    assert np.mean(covered) >= 0.85, covered


def test_pairs_sharing_a_baseline_start_together_and_all_pairs_spread_over_the_items():
    models = ["a", "b", "c", "d"]
    every = [(x, y) for i, x in enumerate(models) for y in models[i + 1:]]
    order = np.arange(len(every))
    assert sorted(start_groups(every, order)) == list(range(len(every)))  # all pairs: one group each
    against = [("a", "base1"), ("b", "base1"), ("a", "base2"), ("b", "base2"), ("c", "base1"), ("c", "base2")]
    groups = start_groups(against, np.arange(len(against)))
    assert groups == [0, 0, 1, 1, 0, 1]
    # All pairs of six models on 40 items at a tenth of the calls: the comparisons spread over
    # most items instead of piling onto the first few of one order.
    names = [f"m{i}" for i in range(6)]
    pairs = [(x, y) for i, x in enumerate(names) for y in names[i + 1:]]
    plan = SamplingPlan("adaptive", names, pairs, [set(names)] * 40, budget=0.1, seed=1)
    cells = plan.first_round()
    while batch := plan.next_round(np.full((6, 6), float(len(cells)) / 15)):  # every pair level so far
        cells += batch
    assert len(cells) == 60 and len({item for item, _ in cells}) >= 30
