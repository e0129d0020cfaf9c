"""Arena-Hard-Auto's scores, computed the way its `show_result.py` computes them.

Why a module of its own: Arena-Hard publishes a *win probability against its baseline* from a
Bradley-Terry fit with its own conventions, and users compare our numbers with its tables. The
harness's own rating (bradley_terry.py, style_control.py) makes different, deliberate choices
(a virtual-tie prior, characters for length, item bootstrap); these functions reproduce
Arena-Hard's instead, so both can be shown side by side and each named for what it is.

v0.1 (`show_result.py` with `utils_math.py`, the version the published v0.1 tables use):

* every game is a battle between the baseline (`model_a`) and the model; a "much better" verdict
  (A>>B, B>>A) counts as `weight` (3) identical battles, a missing verdict as none; a tie is half
  a win (Arena-Hard duplicates every battle and scores a tie as one win and one loss);
* no control: maximum likelihood, no prior, no penalty; ratings on the Elo scale anchored at the
  baseline; the score is 100 * P(model beats baseline) = 100 / (1 + 10^((R_base - R_model)/400));
* style / length / markdown control: the same battles with style covariates, each the
  difference baseline - model over (baseline + model + 1) of the answers' token count, header
  count, list-item count or bold count, standardised (mean 0, population SD 1) over all battle
  rows, weights included; fitted by scikit-learn's default LogisticRegression (an L2 penalty
  of 1/2 |coef|^2 on every coefficient against the sum of the log-losses of the duplicated
  rows); the score is the model's win probability against the baseline at the average style
  difference (z = 0). Rows of the baseline judged against itself, when the results hold them,
  take part in the standardisation and (penalised) fit as Arena-Hard's code lets them.

v2.0 (today's `show_result.py`, no control): each judged question gives the battle scores of both
games (1 win, 0.5 tie, 0 loss, a "much better" verdict `weight` times), a question with a missing
game is dropped whole, and the score is 100 * the mean over the model's battles. (Arena-Hard
prints the mean of 100 bootstrap means; this is the mean itself, which that estimates.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit

if TYPE_CHECKING:
    from scipy import sparse

#: Arena-Hard's style elements, in its order (STYLE_CONTROL_ELEMENTS).
STYLE = ("tokens", "headers", "lists", "bold")
#: Which elements each control holds equal (its show_result.py flags).
CONTROLS: dict[str, tuple[str, ...]] = {
    "style": STYLE,                          # --style-control
    "length": ("tokens",),                   # --length-control-only
    "markdown": ("headers", "lists", "bold"),  # --markdown-control-only
}
LN10 = math.log(10.0)
#: Model-side battle score of each verdict, from the model's side (1 = the model won).
MODEL_SCORE = {"win_much": 1.0, "win": 1.0, "tie": 0.5, "lose": 0.0, "lose_much": 0.0}
STRONG = {"win_much", "lose_much"}


@dataclass(frozen=True)
class Games:
    """Judged games against one baseline, one row each: `item_id`, `model`, `outcome` (from the
    model's side: win_much, win, tie, lose, lose_much), `game` (1: baseline shown first, 2: the
    model first); optional style columns `model_<f>` and `base_<f>` for f in STYLE.
    `self_games`: the baseline judged against itself, counts of outcome from position A's side
    per game, {1: {"win": n, ...}, 2: {...}} (Arena-Hard's results include such a file)."""

    frame: pd.DataFrame
    baseline: str
    self_games: dict[int, dict[str, float]] | None = None


def _battles(games: Games, weight: float) -> pd.DataFrame:
    """Arena-Hard's battle rows: model index, y = the baseline's score, w = copies (weight)."""
    frame = games.frame
    y = 1.0 - frame["outcome"].map(MODEL_SCORE).to_numpy(dtype=float)
    w = np.where(frame["outcome"].isin(STRONG), weight, 1.0)
    out = pd.DataFrame({"model": frame["model"].to_numpy(), "y": y, "w": w, "self": False})
    for f in STYLE:
        if f"model_{f}" in frame.columns and f"base_{f}" in frame.columns:
            out[f"a_{f}"] = frame[f"base_{f}"].to_numpy(dtype=float)
            out[f"b_{f}"] = frame[f"model_{f}"].to_numpy(dtype=float)
    rows = [out]
    for game, counts in (games.self_games or {}).items():
        for outcome, n in counts.items():
            if n <= 0:
                continue
            # position A is the baseline "model_a": game 1's A>B is a model_a win, game 2's a model_b win
            a_score = MODEL_SCORE[outcome] if game == 1 else 1.0 - MODEL_SCORE[outcome]
            row = {"model": games.baseline, "y": a_score, "w": (weight if outcome in STRONG else 1.0) * n, "self": True}
            row.update({f"{side}_{f}": 0.0 for f in STYLE for side in "ab" if f"a_{f}" in out.columns})
            rows.append(pd.DataFrame([row]))
    return pd.concat(rows, ignore_index=True)


def style_design(battles: pd.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """Arena-Hard's standardised style covariates: (a - b) / (a + b + 1), then mean 0 and
    population SD 1 over the battle rows counted with their weights (a self row is 0 before)."""
    w = battles["w"].to_numpy(dtype=float)
    columns = []
    for f in features:
        a, b = battles[f"a_{f}"].to_numpy(dtype=float), battles[f"b_{f}"].to_numpy(dtype=float)
        x = np.where(battles["self"].to_numpy(dtype=bool), 0.0, (a - b) / (a + b + 1.0))
        mean = np.average(x, weights=w)
        sd = math.sqrt(np.average((x - mean) ** 2, weights=w))
        columns.append((x - mean) / sd if sd > 0 else np.zeros_like(x))
    return np.column_stack(columns) if columns else np.zeros((len(battles), 0))


def _newton(design: sparse.csr_matrix, y: np.ndarray, c: np.ndarray, penalty: float, tol: float = 1e-10) -> np.ndarray:
    """argmin of sum c * logloss(y, design @ coef) + penalty / 2 * |coef|^2 (Newton, halving steps).

    `design` is sparse (two model entries per battle and the style covariates), so the Hessian
    costs O(battles * nonzeros^2), not O(battles * coefficients^2)."""
    k = design.shape[1]
    coef = np.zeros(k)
    eye = np.eye(k)

    def objective(v: np.ndarray) -> float:
        eta = design @ v
        return float((c * (y * np.logaddexp(0.0, -eta) + (1.0 - y) * np.logaddexp(0.0, eta))).sum() + 0.5 * penalty * v @ v)

    current = objective(coef)
    for _ in range(200):
        p = expit(design @ coef)
        grad = design.T @ (c * (p - y)) + penalty * coef
        hess = (design.T @ design.multiply((c * p * (1.0 - p))[:, None]).tocsr()).toarray() + (penalty + 1e-12) * eye
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:
            trial = coef - t * step
            value = objective(trial)
            if value <= current + 1e-12 * abs(current) or t < 1e-10:
                break
            t /= 2.0
        coef, moved, current = trial, float(np.abs(t * step).max(initial=0.0)), value
        if moved < tol:
            break
    return coef


def v01_scores(games: Games, control: str | None = None, *, weight: float = 3.0) -> tuple[pd.Series, dict[str, float]]:
    """Arena-Hard v0.1 score (0-100) per model, the baseline at 50, and the style coefficients.

    `control`: None (plain Bradley-Terry), or "style", "length", "markdown" (CONTROLS), which need
    the style columns of `games`.
    """
    from scipy import sparse  # only an Arena-Hard column fits this: the rest of a run never loads scipy.sparse

    battles = _battles(games, weight)
    battles = battles[battles["w"] > 0].reset_index(drop=True)
    models = sorted(set(battles["model"]) | {games.baseline})
    index = {m: i for i, m in enumerate(models)}
    base = index[games.baseline]
    m_idx = battles["model"].map(index).to_numpy()
    self_rows = battles["self"].to_numpy(dtype=bool)
    y = battles["y"].to_numpy(dtype=float)
    c = 2.0 * battles["w"].to_numpy(dtype=float)  # Arena-Hard fits every battle twice
    n = len(battles)
    # +ln 10 for the baseline (model_a), -ln 10 for the model; a self row keeps only -ln 10 at the
    # baseline, as Arena-Hard's matrix does (its second assignment overwrites the first)
    design = sparse.csr_matrix(
        (np.concatenate([np.where(self_rows, 0.0, LN10), np.full(n, -LN10)]),
         (np.concatenate([np.arange(n), np.arange(n)]), np.concatenate([np.full(n, base), m_idx]))),
        shape=(n, len(models)))
    design.eliminate_zeros()
    features = CONTROLS[control] if control else ()
    if control is None:
        keep = [i for i in range(len(models)) if i != base]  # plain MLE: the baseline is the anchor
        coef = np.zeros(len(models))
        coef[keep] = _newton(design[~self_rows][:, keep], y[~self_rows], c[~self_rows], 0.0)
        coefficients: dict[str, float] = {}
    else:
        missing = [f for f in features if f"a_{f}" not in battles.columns]
        if missing:
            raise ValueError(f"Arena-Hard {control} control needs the answers' {', '.join(missing)}")
        z = style_design(battles, features)
        full = _newton(sparse.hstack([design, sparse.csr_matrix(z)]).tocsr(), y, c, 1.0)  # scikit-learn's default C = 1
        coef, coefficients = full[: len(models)], dict(zip(features, full[len(models):].tolist(), strict=True))
    score = 100.0 * expit(LN10 * (coef - coef[base]))
    return pd.Series(score, index=models, dtype=float), coefficients


def v2_scores(games: Games, *, weight: float = 3.0) -> pd.Series:
    """Arena-Hard v2.0 score (0-100): the mean battle score of each model against the baseline,
    questions with a missing game left out (the frame must hold both games of every question
    kept); the baseline at 50."""
    frame = games.frame
    both = frame.groupby(["item_id", "model"])["game"].transform("nunique") == 2
    frame = frame[both]
    score = frame["outcome"].map(MODEL_SCORE).astype(float)
    w = np.where(frame["outcome"].isin(STRONG), weight, 1.0)
    totals = pd.DataFrame({"model": frame["model"], "s": score * w, "w": w}).groupby("model")[["s", "w"]].sum()
    result = 100.0 * totals["s"] / totals["w"]
    result[games.baseline] = 50.0
    return result.sort_index()


__all__ = ["CONTROLS", "STYLE", "Games", "style_design", "v01_scores", "v2_scores"]
