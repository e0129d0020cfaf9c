"""AlpacaEval's length-controlled win rate as AlpacaEval computes it (its `length_controlled_v1` GLM).

harness.stats.length_control follows the paper's description with the harness's own choices (L2,
a model intercept, difficulty from an L2 joint fit). This module follows AlpacaEval's code
(tatsu-lab/alpaca_eval, `metrics/glm_winrate.py` and `notebooks/instruction_difficulty.ipynb`);
the facts carried over, written anew here:

- target: the judge's preference for the model, `preference - 1` in [0, 1] (soft labels);
- features, no intercept: `tanh(delta / std(delta))` with delta = len(baseline) - len(model) in
  characters and std the sample standard deviation (ddof 1) over that model's rows; the
  instruction difficulty gamma_x; and `not_gamed_baseline` (1 on the model's rows);
- the gamed baselines (the baseline's own answers made verbose / concise, result folders
  `<baseline>_verbose` / `<baseline>_concise`): their rows join every model's fit with
  not_gamed_baseline = 0 and weight 0.2 / 2, so the length slope is learned where quality is
  held equal and a verbosity-gamed model cannot buy its win rate with length;
- fit: L1-penalised soft logistic regression, `C * sum w * logloss + |coef|_1` (liblinear's
  objective), C chosen among logspace(-4, 4, 10) by 5-fold cross-validation on the weighted log
  loss, then refitted on all rows;
- gamma_x: once, from a joint fit over every model (a bias and a length slope per model, one
  coefficient per instruction with the first instruction as the reference level at 0, and the
  not_gamed_baseline column), with the same L1 cross-validated solver;
- LC win rate: 100 * mean over the model's instructions of sigmoid(w_not_gamed + w_difficulty *
  gamma_x), the prediction with the length term set to zero. The baseline against itself: 50.

What differs from AlpacaEval's code by necessity is said in docs/statistics.md: the optimiser
(exact optimum here, liblinear stops at tolerance 1e-4), the fold assignment (sklearn's GroupKFold
order on equal-size groups is not specified; here row r of n goes to fold (n - 1 - r) mod 5, what
its greedy assignment gives when the groups keep their order), the tiny random jitter AlpacaEval
adds to lengths before the joint fit (left out), and the models the difficulty is estimated on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import minimize
from scipy.special import expit

#: AlpacaEval's candidate inverse penalties (sklearn LogisticRegressionCV's default Cs=10).
CS = np.logspace(-4, 4, 10)
#: Cross-validation folds (glm_winrate's n_splits).
FOLDS = 5
#: Weight of the gamed baselines' rows, split over the two of them (regularize_to_baseline_lambda).
GAMED_LAMBDA = 0.2
GAMED_SPLIT = 2.0
#: Predicted probabilities are clipped to this before the cross-validation log loss (as AlpacaEval's).
CLIP = 1e-15


def is_gamed_baseline(model: str, baseline: str) -> bool:
    """AlpacaEval's test: the baseline's name with "verbose" or "concise" in it."""
    return model != baseline and baseline in model and ("verbose" in model or "concise" in model)


def length_term(len_model: np.ndarray, len_baseline: np.ndarray) -> np.ndarray:
    """tanh((len_baseline - len_model) / std), std with ddof 1 over this model's rows (0 when constant)."""
    delta = np.asarray(len_baseline, dtype=float) - np.asarray(len_model, dtype=float)
    scale = delta.std(ddof=1) if len(delta) > 1 else 0.0
    if not np.isfinite(scale) or scale == 0:
        return np.zeros_like(delta)
    return np.tanh(delta / scale)


def l1_soft_logistic(
    features: np.ndarray | sparse.csr_matrix, target: np.ndarray, weights: np.ndarray, c: float, start: np.ndarray | None = None,
) -> np.ndarray:
    """argmin_w  c * sum_i weights_i * logloss(target_i, sigmoid(x_i . w)) + |w|_1  (no intercept).

    Solved exactly (to L-BFGS-B's tolerance) with w = u - v, u, v >= 0, which makes the L1 term
    smooth: sum(u + v)."""
    k = features.shape[1]
    scaled = c * np.asarray(weights, dtype=float)

    def loss(uv: np.ndarray) -> tuple[float, np.ndarray]:
        coef = uv[:k] - uv[k:]
        z = features @ coef
        value = float(scaled @ (np.logaddexp(0.0, z) - target * z)) + float(uv.sum())
        grad = features.T @ (scaled * (expit(z) - target))
        return value, np.concatenate([grad + 1.0, 1.0 - grad])

    begin = np.zeros(2 * k)
    if start is not None:
        begin[:k], begin[k:] = np.maximum(start, 0.0), np.maximum(-start, 0.0)
    # Small dense fits stop only when the loss no longer moves (ftol 1e-15): with a large C the loss
    # is large and flat, and a looser rule stops while coefficients still move in the third decimal.
    # The joint fit (sparse, ~1000 coefficients) stops at 1e-8, as liblinear stops early too: its
    # difficulties move the LC of the six shared models by < 0.03 point, at a quarter of the time.
    exact = not sparse.issparse(features)
    result = minimize(loss, begin, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * (2 * k),
                      options={"maxiter": 15000, "maxfun": 30000, "ftol": 1e-15 if exact else 1e-8,
                               "gtol": 1e-7 if exact else 1e-5})
    coef: np.ndarray = result.x[:k] - result.x[k:]
    return coef


def fold_of_rows(n: int, folds: int = FOLDS) -> np.ndarray:
    """Row r of n in fold (n - 1 - r) mod folds: GroupKFold's greedy assignment of equal groups in order."""
    return (n - 1 - np.arange(n)) % folds


def weighted_log_loss(target: np.ndarray, predicted: np.ndarray, weights: np.ndarray) -> float:
    """AlpacaEval's cross-validation score (to minimise): mean of weight * soft log loss."""
    q = np.clip(predicted, CLIP, 1.0 - CLIP)
    return float(-np.mean(weights * (target * np.log(q) + (1.0 - target) * np.log(1.0 - q))))


@dataclass
class CrossValidatedFit:
    """The refitted coefficients, the C cross-validation chose, and every C's mean fold loss."""

    coef: np.ndarray
    c: float
    losses: np.ndarray


def cross_validated_fit(
    features: np.ndarray | sparse.csr_matrix, target: np.ndarray, weights: np.ndarray, cs: np.ndarray = CS, folds: int = FOLDS,
) -> CrossValidatedFit:
    """LogisticRegressionCV's choice: the first C with the lowest mean fold loss, refitted on all rows."""
    fold = fold_of_rows(len(target), folds)
    losses = np.zeros(len(cs))
    for f in range(folds):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        coef = None
        for index, c in enumerate(cs):  # warm start along increasing C: the path is continuous
            coef = l1_soft_logistic(features[train], target[train], weights[train], c, start=coef)
            losses[index] += weighted_log_loss(target[test], expit(features[test] @ coef), weights[test]) / folds
    best = int(np.argmin(losses))
    return CrossValidatedFit(l1_soft_logistic(features, target, weights, cs[best]), float(cs[best]), losses)


def _usable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with a preference, in the frame's order."""
    return frame[frame["p"].notna()].reset_index(drop=True)


def item_order(frame: pd.DataFrame) -> pd.Index:
    """Instructions in order of first appearance: AlpacaEval's `index` (the evaluation set's order)."""
    return pd.Index(pd.unique(frame["item_id"]))


def fit_instruction_difficulty(frame: pd.DataFrame, baseline: str, cs: np.ndarray = CS) -> pd.Series:
    """gamma_x for every instruction, from AlpacaEval's joint fit over all models of `frame`.

    Features per row of model m on instruction x: one-hot bias of m, m's length term, one-hot
    of x (the first instruction is the reference, 0), and not_gamed_baseline; L1, C by
    cross-validation. `frame`: columns model, item_id, p, len_model, len_baseline.
    """
    rows = _usable(frame[frame["model"] != baseline])
    items = item_order(rows)
    model_codes, models = pd.factorize(rows["model"])
    item_codes = items.get_indexer(rows["item_id"])
    n, n_models, n_items = len(rows), len(models), len(items)
    length = np.zeros(n)
    for code in range(n_models):
        mine = model_codes == code
        length[mine] = length_term(rows["len_model"].to_numpy()[mine], rows["len_baseline"].to_numpy()[mine])
    keep = np.flatnonzero(item_codes > 0)  # the first instruction is the reference level: no column
    not_gamed = np.array([0.0 if is_gamed_baseline(str(m), baseline) else 1.0 for m in rows["model"]])
    every = np.arange(n)
    features = sparse.csr_matrix((  # one row per verdict, four nonzeros: sparse keeps 40 models cheap
        np.concatenate([np.ones(n), length, np.ones(len(keep)), not_gamed]),
        (np.concatenate([every, every, keep, every]),
         np.concatenate([model_codes, n_models + model_codes, 2 * n_models + item_codes[keep] - 1,
                         np.full(n, 2 * n_models + n_items - 1)])),
    ), shape=(n, 2 * n_models + n_items))
    fit = cross_validated_fit(features, rows["p"].to_numpy(dtype=float), np.ones(n), cs)
    gamma = np.concatenate([[0.0], fit.coef[2 * n_models:2 * n_models + n_items - 1]])
    return pd.Series(gamma, index=items, name="instruction_difficulty")


def several_models(frame: pd.DataFrame, baseline: str) -> bool:
    """Whether the joint difficulty fit has two models or more besides the baseline and its gamed
    versions: fitted on one model's own verdicts, the difficulty would absorb them (and the fit
    of 800 coefficients on 805 rows is slow for nothing); then the difficulty term is 0."""
    models = {str(m) for m in frame["model"].unique()}
    return len({m for m in models if m != baseline and not is_gamed_baseline(m, baseline)}) >= 2


def alpaca_eval_lc(
    frame: pd.DataFrame, baseline: str, *, difficulty: pd.Series | None = None, cs: np.ndarray = CS,
) -> pd.DataFrame:
    """One row per model: AlpacaEval's LC win rate (0-100) and its fit.

    `frame`: one row per (model, instruction), columns model, item_id, p (the judge's preference
    for the model, NaN when none), len_model, len_baseline; the instructions in the evaluation
    set's order. The gamed baselines' rows (see is_gamed_baseline) join every fit when present
    (`gamed` says how many of them did). `difficulty`: gamma by item, else estimated here (0 for
    every item when the run has a single model: see several_models).
    """
    columns = ["model", "lc_win_rate", "not_gamed_baseline", "length", "difficulty", "c", "gamed", "n"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if difficulty is None:
        difficulty = fit_instruction_difficulty(frame, baseline, cs) if several_models(frame, baseline) else (
            pd.Series(0.0, index=item_order(frame), name="instruction_difficulty"))
    gamed = sorted({str(m) for m in frame["model"].unique() if is_gamed_baseline(str(m), baseline)})
    gamed_rows = [_design(_usable(frame[frame["model"] == g]), difficulty, 0.0) for g in gamed]
    rows = []
    for model, group in frame.groupby("model", sort=True):
        if model == baseline:
            rows.append({"model": model, "lc_win_rate": 50.0, "not_gamed_baseline": 0.0, "length": 0.0,
                         "difficulty": 0.0, "c": np.nan, "gamed": len(gamed), "n": len(group)})
            continue
        own = _design(_usable(group), difficulty, 1.0)
        parts = [*gamed_rows, own]
        features = np.vstack([p[0] for p in parts])
        target = np.concatenate([p[1] for p in parts])
        weights = np.concatenate([np.full(len(p[1]), GAMED_LAMBDA / GAMED_SPLIT) for p in gamed_rows]
                                 + [np.ones(len(own[1]))])
        fit = cross_validated_fit(features, target, weights, cs)
        gamma = difficulty.reindex(group["item_id"]).fillna(0.0).to_numpy(dtype=float)
        lc = 100.0 * float(expit(fit.coef[2] + fit.coef[1] * gamma).mean())
        rows.append({"model": model, "lc_win_rate": lc, "length": fit.coef[0], "difficulty": fit.coef[1],
                     "not_gamed_baseline": fit.coef[2], "c": fit.c, "gamed": len(gamed), "n": len(own[1])})
    return pd.DataFrame(rows, columns=columns)


def _design(rows: pd.DataFrame, difficulty: pd.Series, not_gamed: float) -> tuple[np.ndarray, np.ndarray]:
    """(features [length term, difficulty, not_gamed_baseline], target) of one model's rows."""
    gamma = difficulty.reindex(rows["item_id"]).fillna(0.0).to_numpy(dtype=float)
    length = length_term(rows["len_model"].to_numpy(), rows["len_baseline"].to_numpy())
    features = np.column_stack([length, gamma, np.full(len(rows), not_gamed)])
    return features, rows["p"].to_numpy(dtype=float)
