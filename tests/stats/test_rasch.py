"""Many-facet Rasch fit: closed-form cases, planted-truth recovery, harsh-judge correction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from harness.errors import BadInput
from harness.stats.rasch import fit_rasch, panel_scores

COLUMNS = ["model", "item_id", "judge", "score"]
THRESHOLDS = np.array([-1.5, -0.5, 0.5, 1.5])


def andrich_probabilities(eta: float, thresholds: np.ndarray) -> np.ndarray:
    """P(score = 1..K) written straight from the rating-scale formula, independent of the module."""
    numerators = [1.0]
    total = 0.0
    for tau in thresholds:
        total += eta - tau
        numerators.append(math.exp(total))
    z = sum(numerators)
    return np.array([v / z for v in numerators])


def simulate(ability: dict[str, float], difficulty: dict[str, float], severity: dict[str, float],
             cells: list[tuple[str, str, str]], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for m, i, j in cells:
        p = andrich_probabilities(ability[m] - difficulty[i] - severity[j], THRESHOLDS)
        rows.append((m, i, j, 1 + int(rng.choice(len(p), p=p))))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_dichotomous_single_item_matches_closed_form() -> None:
    # Two categories, one item, one judge: P(top) = sigmoid(theta), so the MLE is the logit of
    # the observed share: 3 of 4 top scores -> theta = log 3, and its model SE is
    # 1 / sqrt(n p (1 - p)) = 1 / sqrt(4 * 3/4 * 1/4).
    frame = pd.DataFrame(
        [("a", "q", "j", 2), ("a", "q", "j", 2), ("a", "q", "j", 2), ("a", "q", "j", 1),
         ("b", "q", "j", 1), ("b", "q", "j", 1), ("b", "q", "j", 1), ("b", "q", "j", 2)],
        columns=COLUMNS,
    )
    fit = fit_rasch(frame, ridge=1e-8)
    a = fit.abilities.set_index("model")
    assert a.loc["a", "ability"] == pytest.approx(math.log(3), abs=1e-4)
    assert a.loc["b", "ability"] == pytest.approx(-math.log(3), abs=1e-4)
    assert a.loc["a", "se"] == pytest.approx(1 / math.sqrt(0.75), rel=1e-3)
    assert a.loc["a", "fair_score"] == pytest.approx(1.75, abs=1e-4)
    assert fit.thresholds.tolist() == pytest.approx([0.0])
    assert a.loc["a", "raw_mean"] == 1.75 and a.loc["a", "n"] == 4
    # Each model: three outcomes at probability 3/4 and one at 1/4.
    assert fit.log_likelihood == pytest.approx(2 * (3 * math.log(0.75) + math.log(0.25)), abs=1e-6)


def test_planted_severities_abilities_and_thresholds_are_recovered() -> None:
    rng = np.random.default_rng(11)
    ability = {f"m{k}": v for k, v in enumerate(np.linspace(-1.5, 1.5, 6))}
    d = rng.normal(0, 1, 40)
    difficulty = {f"i{k}": v for k, v in enumerate(d - d.mean())}
    severity = {"j0": -1.0, "j1": -0.4, "j2": 0.1, "j3": 0.5, "j4": 0.8}
    cells = [(m, i, j) for m in ability for i in difficulty for j in severity]
    fit = fit_rasch(simulate(ability, difficulty, severity, cells, seed=1))
    assert fit.converged
    s = fit.severities.set_index("judge")["severity"]
    assert np.corrcoef(s.to_numpy(), [severity[j] for j in s.index])[0, 1] >= 0.95
    a = fit.abilities.set_index("model")["ability"]
    assert np.corrcoef(a.to_numpy(), [ability[m] for m in a.index])[0, 1] >= 0.98
    assert fit.thresholds == pytest.approx(THRESHOLDS, abs=0.3)
    assert abs(fit.severities["severity"].sum()) < 1e-8 and abs(fit.difficulties["difficulty"].sum()) < 1e-8


def test_model_scored_mostly_by_a_harsh_judge_is_not_penalised() -> None:
    # "harsh_victim" and "lenient_luck" are equally able; the first is scored 90% by the harsh
    # judge, the second 90% by the lenient one. Four linking models see every judge.
    ability = {"link0": -1.0, "link1": -0.3, "link2": 0.3, "link3": 1.0, "harsh_victim": 0.2, "lenient_luck": 0.2}
    difficulty = {f"i{k}": v for k, v in enumerate(np.linspace(-1, 1, 30))}
    severity = {"harsh": 1.5, "middle": 0.0, "lenient": -1.5}
    cells = [(m, i, j) for m in list(ability)[:4] for i in difficulty for j in severity]
    rng = np.random.default_rng(2)
    for i in difficulty:
        for _ in range(3):
            cells.append(("harsh_victim", i, "harsh" if rng.random() < 0.9 else "lenient"))
            cells.append(("lenient_luck", i, "lenient" if rng.random() < 0.9 else "harsh"))
    frame = simulate(ability, difficulty, severity, cells, seed=3)
    table = panel_scores(frame).set_index("model")
    raw_gap = table.loc["lenient_luck", "raw_mean"] - table.loc["harsh_victim", "raw_mean"]
    fair_gap = table.loc["lenient_luck", "score"] - table.loc["harsh_victim", "score"]
    assert raw_gap > 1.0  # raw means punish the model that drew the harsh judge
    assert abs(fair_gap) < 0.25  # the fair score does not
    assert abs(fair_gap) < raw_gap / 4
    # The fair score's interval covers the equal-ability truth for both.
    truth = fit_rasch(frame).expected_score(0.2)[0]
    for model in ("harsh_victim", "lenient_luck"):
        assert table.loc[model, "ci_low"] <= truth <= table.loc[model, "ci_high"]


def test_panel_scores_table_shape_and_order() -> None:
    ability = {"weak": -1.0, "mid": 0.0, "strong": 1.0}
    difficulty = {f"i{k}": v for k, v in enumerate(np.linspace(-1, 1, 12))}
    severity = {"j1": 0.0, "j2": 0.0}
    cells = [(m, i, j) for m in ability for i in difficulty for j in severity]
    table = panel_scores(simulate(ability, difficulty, severity, cells, seed=4), bootstrap=20, seed=1)
    assert list(table.columns) == ["model", "rank", "score", "ci_low", "ci_high", "n", "ability", "ability_se", "raw_mean"]
    assert table["model"].tolist() == ["strong", "mid", "weak"]
    assert table["rank"].tolist() == [1, 2, 3]
    assert (table["n"] == 24).all()
    assert ((table["ci_low"] <= table["score"]) & (table["score"] <= table["ci_high"])).all()
    assert ((table["score"] >= 1) & (table["score"] <= 5)).all()


def test_explicit_scale_keeps_unused_top_category() -> None:
    frame = pd.DataFrame([("a", "q", "j", s) for s in (1, 2, 2, 3)], columns=COLUMNS)
    fit = fit_rasch(frame, scale=(1, 5))
    assert fit.categories.tolist() == [1, 2, 3, 4, 5]
    assert fit.thresholds.size == 4


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"model": ["a"], "item_id": ["q"], "score": [1]}), "missing column"),
        (pd.DataFrame({"model": ["a", "a"], "item_id": ["q", "r"], "judge": ["j", "j"], "score": [1.5, 2]}), "integer"),
        (pd.DataFrame({"model": ["a", "a"], "item_id": ["q", "r"], "judge": ["j", "j"], "score": [3, 3]}), "two categories"),
    ],
)
def test_bad_tables_are_bad_input(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        fit_rasch(frame)


def test_scores_outside_the_given_scale_are_bad_input() -> None:
    frame = pd.DataFrame({"model": ["a", "a"], "item_id": ["q", "r"], "judge": ["j", "j"], "score": [1, 7]})
    with pytest.raises(BadInput, match="outside the scale"):
        fit_rasch(frame, scale=(1, 5))
