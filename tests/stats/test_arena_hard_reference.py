"""Arena-Hard's scores reproduced on a real Arena-Hard-Auto v0.1 result set (ko-arena-hard-auto,
../shared/data/arena_hard_ko), against a reference written here from Arena-Hard's show_result.py
logic and nothing of the harness: battles exploded row by row ("much better" = 3 copies), every
battle duplicated with a tie as one win and one loss, a design matrix with +-ln 10 (the baseline's
own file included, as show_result.py reads the whole folder), fitted by scipy's L-BFGS as a plain
logistic regression (no control) or with scikit-learn's default L2 penalty (style, length and
markdown control), and v2.0's mean battle score."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from tests.importers.helpers import harness_cli, shared_data

BASELINE = "claude-3.7-sonnet"
ELEMENTS = {  # show_result.py's STYLE / LENGTH / MARKDOWN_CONTROL_ELEMENTS, by conv_metadata key
    "style": ("token_len", "header_count", "list_count", "bold_count"),
    "length": ("token_len",),
    "markdown": ("header_count", "list_count", "bold_count"),
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]


def _battles(folder: Path, skip: set[str]) -> list[dict]:
    """get_battles_from_row for every line of every judgment file: model_a is the baseline."""
    out = []
    for path in sorted((folder / "model_judgment" / "ensemble").glob("*.jsonl")):
        for row in _lines(path):
            if row["model"] in skip:
                continue
            for game, flip in ((row["games"][0], False), (row["games"][1], True)):
                score, weight, winner = game["score"], 1, None
                if score == "A=B":
                    winner = "tie"
                elif score in ("A>B", "A>>B"):
                    winner = "model_b" if flip else "model_a"
                elif score in ("B>A", "B>>A"):
                    winner = "model_a" if flip else "model_b"
                if score in ("A>>B", "B>>A"):
                    weight = 3
                if winner is None:
                    continue
                out += [{"qid": row["question_id"], "a": BASELINE, "b": row["model"], "winner": winner}] * weight
    return out


def _fit(x: np.ndarray, y: np.ndarray, penalty: float) -> np.ndarray:
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ w
        value = np.sum(np.logaddexp(0, eta) - y * eta) + 0.5 * penalty * w @ w
        grad = x.T @ (1 / (1 + np.exp(-eta)) - y) + penalty * w
        return float(value), grad

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B",
                      options={"maxiter": 20000, "gtol": 1e-9, "ftol": 1e-15})
    return result.x


def reference(folder: Path, control: str | None) -> dict[str, float]:
    """Arena-Hard v0.1 win rate (%) against the baseline, per show_result.py's logic."""
    skip: set[str] = set()
    meta: dict[tuple[str, str], dict] = {}
    if control:
        for path in (folder / "model_answer").glob("*.jsonl"):
            for row in _lines(path):
                meta[(row["model_id"], row["question_id"])] = row["conv_metadata"]
        # style control needs every model's answers: the model without an answer file cannot take part
        skip = {p.stem for p in (folder / "model_judgment" / "ensemble").glob("*.jsonl")} - {m for m, _ in meta}
    battles = _battles(folder, skip)
    models = sorted({b["a"] for b in battles} | {b["b"] for b in battles})
    col = {m: i for i, m in enumerate(models)}
    rows = battles + battles  # duplicate battles
    n = len(rows)
    elements = ELEMENTS[control] if control else ()
    x = np.zeros((n, len(models) + len(elements)))
    for i, b in enumerate(rows):
        x[i, col[b["a"]]] = math.log(10)
        x[i, col[b["b"]]] = -math.log(10)
    y = np.array([1.0 if b["winner"] == "model_a" else 0.0 for b in rows])
    y[: n // 2][np.array([b["winner"] == "tie" for b in battles])] = 1.0  # a tie: one A win, one B win
    if elements:
        def total(v):
            return v if isinstance(v, int) else sum(v.values())

        a = np.array([[total(meta[(b["a"], b["qid"])][e]) for e in elements] for b in rows], dtype=float)
        bb = np.array([[total(meta[(b["b"], b["qid"])][e]) for e in elements] for b in rows], dtype=float)
        diff = (a - bb) / (a + bb + 1)
        x[:, len(models):] = (diff - diff.mean(axis=0)) / diff.std(axis=0)
    coef = _fit(x, y, 1.0 if control else 0.0)[: len(models)]
    elo = 400 * coef
    return {m: 100 / (1 + 10 ** ((elo[col[BASELINE]] - elo[col[m]]) / 400)) for m in models}


def reference_v2(folder: Path) -> dict[str, float]:
    """v2.0: 100 * the mean battle score over both games of every fully judged question."""
    value = {"A>B": [1], "A>>B": [1] * 3, "A=B": [0.5], "B>A": [0], "B>>A": [0] * 3}
    scores: dict[str, list[float]] = {}
    for path in sorted((folder / "model_judgment" / "ensemble").glob("*.jsonl")):
        for row in _lines(path):
            g1, g2 = row["games"]
            if g1 is None or g2 is None or g1["score"] is None or g2["score"] is None or row["model"] == BASELINE:
                continue
            scores.setdefault(row["model"], []).extend(value[g2["score"]] + [1 - s for s in value[g1["score"]]])
    return {m: 100 * float(np.mean(s)) for m, s in scores.items()}


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    folder = shared_data("arena_hard_ko")
    out = tmp_path_factory.mktemp("ah") / "run"
    result = harness_cli("import", "arena_hard", folder / "model_judgment" / "ensemble", "--answers",
                         folder / "model_answer", folder / "question.jsonl", "--baseline", BASELINE, "--out", out)
    assert result.returncode == 0, result.stderr
    with (out / "scores.csv").open(encoding="utf-8") as handle:
        return {"_run": {"path": str(out)}, **{row["model"]: row for row in csv.DictReader(handle)}}


@pytest.mark.parametrize(("column", "control"), [
    ("arena_hard_score", None), ("arena_hard_style", "style"), ("arena_hard_length", "length"),
    ("arena_hard_markdown", "markdown"),
])
def test_v01_scores_match_arena_hards_logic(imported: dict[str, dict[str, str]], column: str, control: str | None) -> None:
    expected = reference(shared_data("arena_hard_ko"), control)
    got = {m: float(row[column]) for m, row in imported.items() if m != "_run" and row[column] != ""}
    assert set(got) == set(expected)
    worst = max(abs(got[m] - expected[m]) for m in expected)
    print(column, "max |harness - reference|:", worst)
    assert worst < 0.01, {m: (round(got[m], 3), round(expected[m], 3)) for m in expected}


def test_v2_score_matches_arena_hards_logic(imported: dict[str, dict[str, str]]) -> None:
    expected = reference_v2(shared_data("arena_hard_ko"))
    for model, value in expected.items():
        assert float(imported[model]["arena_hard_v2"]) == pytest.approx(value, abs=1e-6)
    assert float(imported[BASELINE]["arena_hard_v2"]) == 50.0


def test_the_harness_rating_without_its_prior_is_arena_hards(imported: dict[str, dict[str, str]]) -> None:
    """The harness's own Bradley-Terry rating differs from Arena-Hard's only by its virtual-tie
    prior: with options.prior_ties=0 its win probability against the baseline is Arena-Hard's."""
    run = Path(imported["_run"]["path"])
    result = harness_cli("aggregate", run, "--set", "options.prior_ties=0")
    assert result.returncode == 0, result.stderr
    with (run / "ranking.csv").open(encoding="utf-8") as handle:
        rating = {row["model"]: float(row["score"]) for row in csv.DictReader(handle)}
    expected = reference(shared_data("arena_hard_ko"), None)
    for model, value in expected.items():
        assert 100 / (1 + 10 ** ((rating[BASELINE] - rating[model]) / 400)) == pytest.approx(value, abs=1e-3)
