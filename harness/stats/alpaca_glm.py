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
- gamma_x: once, from a joint fit over every model. AlpacaEval's notebook fits it with the same
  L1 cross-validated solver (a bias and a length slope per model, one coefficient per
  instruction, the first as the reference level at 0, the not_gamed_baseline column:
  `difficulty_fit="l1"`); the default here is an L2 joint fit with one length slope shared by
  the run's models (pooled_joint_fit), because the L1 one collapses on a run's few models;
- LC win rate: 100 * mean over the model's instructions of sigmoid(w_not_gamed + w_difficulty *
  gamma_x), the prediction with the length term set to zero. The baseline against itself: 50.

One part has no counterpart in AlpacaEval's code, whose fits always hold the gamed baselines'
rows: without them, each model's length slope is pulled toward the run's pooled slope
(`slope="anchored"`, the default then; see ANCHOR), since a model's own rows cannot separate its
quality from its length when its answers are all shorter or all longer than the baseline's.

What differs from AlpacaEval's code by necessity is said in docs/statistics.md: the optimiser
(exact optimum here, liblinear stops at tolerance 1e-4), the fold assignment (sklearn's GroupKFold
order on equal-size groups is not specified; here row r of n goes to fold (n - 1 - r) mod 5, what
its greedy assignment gives when the groups keep their order), the tiny random jitter AlpacaEval
adds to lengths before the joint fit (left out), and the models the difficulty is estimated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit

from harness.stats.length_control import joint_item_newton, per_model_feature
from harness.stats.soft_logistic import in_threads, l1_newton_fits, row_pairs, usable_cores

if TYPE_CHECKING:
    from scipy import sparse

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
    offset: np.ndarray | float = 0.0, ridge: np.ndarray | None = None,
) -> np.ndarray:
    """argmin_w  c * sum_i weights_i * logloss(target_i, sigmoid(x_i . w + offset_i)) + |w|_1  (no intercept),
    plus c * ridge_j * w_j^2 / 2 when `ridge` is given (as rows of data would add it: scaled by c).

    Dense fits (a model's three features) are solved by proximal Newton steps, liblinear's own
    method for L1 logistic regression (newGLMNET), run to the optimum (soft_logistic.l1_newton_fits,
    which also solves many of them at once: cross_validated_fits); the sparse joint fit of
    AlpacaEval's L1 difficulty by L-BFGS-B on w = u - v, u, v >= 0 (the L1 term is then smooth)."""
    from scipy import sparse  # with scipy.optimize, a fifth of a second to import: only when a fit is computed

    if not sparse.issparse(features):
        x = np.asarray(features, dtype=float)
        penalty = np.zeros(x.shape[1]) if ridge is None else np.asarray(ridge, dtype=float)
        shift = np.broadcast_to(np.asarray(offset, dtype=float), (len(target),))
        return l1_newton_fits(x[None], np.asarray(target, dtype=float)[None], c * np.asarray(weights, dtype=float)[None],
                              c * penalty[None], shift[None], None if start is None else np.asarray(start)[None])[0]
    k = features.shape[1]
    scaled = c * np.asarray(weights, dtype=float)

    def loss(uv: np.ndarray) -> tuple[float, np.ndarray]:
        coef = uv[:k] - uv[k:]
        z = features @ coef + offset
        value = float(scaled @ (np.logaddexp(0.0, z) - target * z)) + float(uv.sum())
        grad = features.T @ (scaled * (expit(z) - target))
        return value, np.concatenate([grad + 1.0, 1.0 - grad])

    begin = np.zeros(2 * k)
    if start is not None:
        begin[:k], begin[k:] = np.maximum(start, 0.0), np.maximum(-start, 0.0)
    # The joint fit (~1000 coefficients) stops at a relative decrease of 1e-8, as liblinear stops
    # early too: its difficulties move the LC of the six shared models by < 0.03 point.
    from scipy.optimize import minimize

    result = minimize(loss, begin, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * (2 * k),
                      options={"maxiter": 15000, "maxfun": 30000, "ftol": 1e-8, "gtol": 1e-5})
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
    offset: np.ndarray | None = None, ridge: np.ndarray | None = None,
) -> CrossValidatedFit:
    """LogisticRegressionCV's choice: the first C with the lowest mean fold loss, refitted on all rows.
    `offset`: a fixed term added to every row's linear predictor (a coefficient held, not fitted)."""
    fold = fold_of_rows(len(target), folds)
    shift = np.zeros(len(target)) if offset is None else np.asarray(offset, dtype=float)
    losses = np.zeros(len(cs))
    for f in range(folds):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        coef = None
        for index, c in enumerate(cs):  # warm start along increasing C: the path is continuous
            coef = l1_soft_logistic(features[train], target[train], weights[train], c, start=coef,
                                    offset=shift[train], ridge=None if ridge is None else ridge * (folds - 1) / folds)
            predicted = expit(features[test] @ coef + shift[test])
            losses[index] += weighted_log_loss(target[test], predicted, weights[test]) / folds
    best = int(np.argmin(losses))
    refit = l1_soft_logistic(features, target, weights, cs[best], offset=shift, ridge=ridge)
    return CrossValidatedFit(refit, float(cs[best]), losses)


@dataclass
class Problem:
    """One model's rows for cross_validated_fits: dense features, soft target, weights, fixed offset."""

    features: np.ndarray
    target: np.ndarray
    weights: np.ndarray
    offset: np.ndarray


#: Rows (problems x the longest problem's rows) fitted as one stack by cross_validated_fits: ten
#: models of 5,000 items, or all 57 of AlpacaEval's 805 instructions.
CHUNK_ROWS = 50_000


def cross_validated_fits(
    problems: list[Problem], cs: np.ndarray = CS, folds: int = FOLDS, ridge: np.ndarray | None = None,
) -> list[CrossValidatedFit]:
    """cross_validated_fit of every problem: the fits of all problems and folds at one C solved as
    one stack (each warm-started from its fit at the C before), then every refit as one stack;
    the problems are split among the cores (each stack padded to the same length whatever the
    split, so a problem's numbers do not depend on it)."""
    penalty = np.zeros(problems[0].features.shape[1]) if ridge is None else np.asarray(ridge, dtype=float)
    fold = [fold_of_rows(len(p.target), folds) for p in problems]
    lengths = (max(int((f != g).sum()) for f in fold for g in range(folds)),
               max(int((f == g).sum()) for f in fold for g in range(folds)), max(len(p.target) for p in problems))
    # at least a chunk per core, and at most CHUNK_ROWS rows in one: a chunk's stacks (its problems
    # x 5 folds x rows x features, and their pairwise products) held 0.3 GB more at 100 models x
    # 5,000 items when there was one chunk per core. No more chunks than that: a chunk's many small
    # steps hold the interpreter between numpy's loops, so two threads mostly take turns, and a few
    # large stacks beat many small ones (57 models x 805 rows: 0.30-0.34 s in 2 chunks against
    # 0.36 s in 6)
    count = max(min(len(problems), usable_cores()), -(-len(problems) * lengths[2] // CHUNK_ROWS))
    chunks = [list(chunk) for chunk in np.array_split(np.arange(len(problems)), count)]
    done = in_threads(lambda chunk: _cross_validated_chunk([problems[m] for m in chunk], [fold[m] for m in chunk],
                                                           cs, folds, penalty, lengths), chunks)
    return [fit for chunk in done for fit in chunk]


def _cross_validated_chunk(
    problems: list[Problem], fold: list[np.ndarray], cs: np.ndarray, folds: int, penalty: np.ndarray,
    lengths: tuple[int, int, int],
) -> list[CrossValidatedFit]:
    """cross_validated_fits of some problems, on one thread (BLAS already held to one)."""
    parts = [(m, np.flatnonzero(fold[m] != f), np.flatnonzero(fold[m] == f)) for m in range(len(problems)) for f in range(folds)]
    train = _stack([(problems[m], rows) for m, rows, _ in parts], lengths[0])
    test = _stack([(problems[m], rows) for m, _, rows in parts], lengths[1])
    counts = np.array([len(rows) for _, _, rows in parts], dtype=float)
    by_fold = np.zeros((len(problems), folds, len(cs)))
    coef, pairs = None, row_pairs(train.features)
    for index, c in enumerate(cs):  # warm start along increasing C: the path is continuous
        coef = l1_newton_fits(train.features, train.target, c * train.weights,
                              np.tile(c * penalty * (folds - 1) / folds, (len(parts), 1)), train.offset, coef,
                              limit_blas=False, pairs=pairs)
        q = np.clip(expit((test.features @ coef[:, :, None])[:, :, 0] + test.offset), CLIP, 1.0 - CLIP)
        loss = -np.einsum("pn,pn->p", test.weights, test.target * np.log(q) + (1.0 - test.target) * np.log(1.0 - q))
        with np.errstate(invalid="ignore"):  # a model without rows: NaN, as the mean of no rows is
            by_fold[:, :, index] = (loss / counts).reshape(len(problems), folds)
    losses = np.zeros((len(problems), len(cs)))
    for f in range(folds):  # summed in fold order, as cross_validated_fit does
        losses += by_fold[:, f] / folds
    best = np.argmin(losses, axis=1)
    every = _stack([(p, np.arange(len(p.target))) for p in problems], lengths[2])
    chosen = cs[best][:, None]
    refit = l1_newton_fits(every.features, every.target, chosen * every.weights, chosen * penalty, every.offset,
                           limit_blas=False)
    return [CrossValidatedFit(refit[m], float(cs[best[m]]), losses[m]) for m in range(len(problems))]


def _stack(parts: list[tuple[Problem, np.ndarray]], longest: int) -> Problem:
    """The given rows of each problem, stacked and padded to `longest` rows with weight-0 rows."""
    k = parts[0][0].features.shape[1]
    features, target = np.zeros((len(parts), longest, k)), np.zeros((len(parts), longest))
    weights, offset = np.zeros((len(parts), longest)), np.zeros((len(parts), longest))
    for index, (problem, rows) in enumerate(parts):
        n = len(rows)
        features[index, :n], target[index, :n] = problem.features[rows], problem.target[rows]
        weights[index, :n], offset[index, :n] = problem.weights[rows], problem.offset[rows]
    return Problem(features, target, weights, offset)


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
    from scipy import sparse

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


#: How gamma_x is estimated when not given: "l2" (the default), one L2 joint fit over the run's
#: models with one length slope shared by all (pooled_joint_fit), or "l1", AlpacaEval's notebook's
#: cross-validated L1 joint fit (fit_instruction_difficulty).
DIFFICULTY_FITS = ("l2", "l1")
#: Each model's length slope: its own (AlpacaEval's fit), the run's pooled slope held fixed,
#: its own pulled toward the pooled one ("anchored"), or "auto": its own when the gamed
#: baselines' rows are in the run, else anchored.
SLOPES = ("auto", "own", "pooled", "anchored")
#: "anchored": c * ANCHOR * (slope - pooled slope)^2 / 2 joins each model's fit, in place of what
#: the gamed baselines' rows would tell it about the judge's slope. Set a priori to their
#: information on a slope: 2 x 805 rows at weight 0.1, each p(1 - p) x^2 with p near 1/2 and
#: x = tanh(standardised length gap), E[x^2] about 1/2: 161 x 0.25 x 0.5 = 20.
ANCHOR = 20.0
#: L2 strength on gamma in the pooled joint fit (on the summed log loss). Weaker than the
#: harness's LC's 1.0: with six models each gamma_x rests on six rows, and 1.0 halves its spread,
#: which the shared slope then partly absorbs (on a planted exact world, 1.0 moved the slope from
#: -1.55 to -1.40). 0.3 is the value the six real models preferred among 0.1, 0.3, 1, 3
#: (docs/statistics.md gives all four).
POOLED_L2 = 0.3


@dataclass
class JointFit:
    """gamma_x by instruction, and the length slope shared by every model of the run."""

    difficulty: pd.Series
    slope: float


def pooled_joint_fit(
    frame: pd.DataFrame, baseline: str, l2: float = POOLED_L2, difficulty: pd.Series | None = None,
) -> JointFit:
    """sigmoid(theta_m + phi * tanh(delta / sd_m) + gamma_x) over every model but the baseline.

    With `difficulty` given, gamma is held at it and only the biases and the slope are fitted.

    One length slope phi for the judge, a bias theta_m per model, an L2 penalty on gamma (which
    pins its level and keeps its spread: AlpacaEval's L1 cross-validation zeroes it on a few
    models). Why one slope: without the gamed baselines' rows a model's own rows cannot tell its
    quality from its length when its answers are all longer or all shorter than the baseline's
    (the length term is then nearly constant); pooled over the run's models, whose length gaps
    differ, the slope is identified. AlpacaEval's published per-model slopes for its judge
    cluster (most within -1.9..-1.2), which is what makes one slope a fair summary."""
    rows = _usable(frame[frame["model"] != baseline])
    model_codes, models = pd.factorize(rows["model"])
    item_codes, items = pd.factorize(rows["item_id"])
    length = per_model_feature(length_term, model_codes, len(models), rows)
    held = None if difficulty is None else difficulty.reindex(items).fillna(0.0).to_numpy(dtype=float)
    fit = joint_item_newton(model_codes, item_codes, length, rows["p"].to_numpy(dtype=float), len(models), len(items),
                            l2=l2, shared_slope=True, held_gamma=held)
    gamma = pd.Series(fit.gamma, index=items).reindex(item_order(frame)).fillna(0.0)
    return JointFit(gamma.rename("instruction_difficulty"), float(fit.phi[0]))


def estimated_difficulty(frame: pd.DataFrame, baseline: str, how: str = "l2", cs: np.ndarray = CS) -> JointFit:
    """gamma_x (and the pooled slope: NaN from the L1 fit) from the run's models, the baseline's own
    rows left out; 0 for every instruction with a single model (see several_models).

    "l2" is the default: bench/alpaca_lc_planted.py measures both against a planted difficulty
    and against what AlpacaEval's procedure publishes; the L2 fit keeps the spread the L1
    cross-validation loses on a run's few models, is closer at 20 and 43 models and with the gamed
    baselines at 6 (mixed at 6 without them), and takes seconds where the L1 path takes about a
    minute at 43 models."""
    if how not in DIFFICULTY_FITS:
        raise ValueError(f"difficulty fit must be one of {DIFFICULTY_FITS}, not {how!r}")
    if not several_models(frame, baseline):
        return JointFit(pd.Series(0.0, index=item_order(frame), name="instruction_difficulty"), float("nan"))
    if how == "l1":
        return JointFit(fit_instruction_difficulty(frame, baseline, cs), float("nan"))
    return pooled_joint_fit(frame, baseline)


def alpaca_eval_lc(
    frame: pd.DataFrame, baseline: str, *, difficulty: pd.Series | None = None, cs: np.ndarray = CS,
    difficulty_fit: str = "l2", slope: str = "auto",
) -> pd.DataFrame:
    """One row per model: AlpacaEval's LC win rate (0-100) and its fit.

    `frame`: one row per (model, instruction), columns model, item_id, p (the judge's preference
    for the model, NaN when none), len_model, len_baseline; the instructions in the evaluation
    set's order. The gamed baselines' rows (see is_gamed_baseline) join every fit when present
    (`gamed` says how many of them did). `difficulty`: gamma by item, else estimated here by
    `difficulty_fit` (see estimated_difficulty). `slope` (see SLOPES): with "pooled" each model's
    length coefficient is the run's pooled slope held fixed (pooled_joint_fit) and only its
    difficulty and not_gamed_baseline weights are fitted, AlpacaEval's way otherwise.
    """
    columns = ["model", "lc_win_rate", "not_gamed_baseline", "length", "difficulty", "c", "gamed", "n", "slope"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if slope not in SLOPES:
        raise ValueError(f"slope must be one of {SLOPES}, not {slope!r}")
    gamed = sorted({str(m) for m in frame["model"].unique() if is_gamed_baseline(str(m), baseline)})
    if slope == "auto":
        slope = "own" if gamed else "anchored"
    pooled = slope in ("pooled", "anchored")
    shared = float("nan")
    if difficulty is None:
        joint = estimated_difficulty(frame, baseline, difficulty_fit, cs)
        difficulty, shared = joint.difficulty, joint.slope
    if pooled and not np.isfinite(shared) and several_models(frame, baseline):  # gamma given (or L1's)
        shared = pooled_joint_fit(frame, baseline, difficulty=difficulty).slope
    pooled = pooled and bool(np.isfinite(shared))  # a single model: no pooled slope, its own
    table = ModelRows(frame, difficulty)
    gamed_rows = [table.design(g, 0.0) for g in gamed]
    fitted = [model for model in table.models if model != baseline]
    problems, owns = [], []
    for model in fitted:
        own = table.design(model, 1.0)
        parts = [*gamed_rows, own]
        features = np.vstack([p[0] for p in parts])
        weights = np.concatenate([np.full(len(p[1]), GAMED_LAMBDA / GAMED_SPLIT) for p in gamed_rows]
                                 + [np.ones(len(own[1]))])
        offset = shared * features[:, 0] if pooled else np.zeros(len(features))
        if pooled and slope == "pooled":  # the length coefficient held at the run's slope: an offset, not a feature
            features = features[:, 1:]
        problems.append(Problem(features, np.concatenate([p[1] for p in parts]), weights, offset))
        owns.append(len(own[1]))
    anchor = np.array([ANCHOR, 0.0, 0.0]) if pooled and slope == "anchored" else None  # its own slope, pulled toward the run's
    fits = cross_validated_fits(problems, cs, ridge=anchor) if problems else []
    by_model = {model: (fit, n) for model, fit, n in zip(fitted, fits, owns)}
    rows = []
    for model in table.models:
        if model == baseline:
            rows.append({"model": model, "lc_win_rate": 50.0, "not_gamed_baseline": 0.0, "length": 0.0,
                         "difficulty": 0.0, "c": np.nan, "gamed": len(gamed), "n": len(table.rows[model]), "slope": "none"})
            continue
        fit, n = by_model[model]
        if pooled and slope == "anchored":
            coef = fit.coef + np.array([shared, 0.0, 0.0])
        elif pooled:
            coef = np.concatenate([[shared], fit.coef])
        else:
            coef = fit.coef
        lc = 100.0 * float(expit(coef[2] + coef[1] * table.gamma[table.rows[model]]).mean())
        rows.append({"model": model, "lc_win_rate": lc, "length": coef[0], "difficulty": coef[1],
                     "not_gamed_baseline": coef[2], "c": fit.c, "gamed": len(gamed), "n": n,
                     "slope": slope if pooled else "own"})
    return pd.DataFrame(rows, columns=columns)


class ModelRows:
    """The frame's columns as arrays, each model's rows (in frame order) and every row's gamma:
    looked up once for all models, not once per model through pandas."""

    def __init__(self, frame: pd.DataFrame, difficulty: pd.Series):
        codes, models = pd.factorize(frame["model"], sort=True)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(models) + 1))
        self.models = list(models)
        self.rows = {model: order[bounds[k]:bounds[k + 1]] for k, model in enumerate(self.models)}
        self.gamma = difficulty.reindex(frame["item_id"]).fillna(0.0).to_numpy(dtype=float)
        self.p = frame["p"].to_numpy(dtype=float)
        self.len_model, self.len_baseline = frame["len_model"].to_numpy(), frame["len_baseline"].to_numpy()

    def design(self, model: object, not_gamed: float) -> tuple[np.ndarray, np.ndarray]:
        """(features [length term, difficulty, not_gamed_baseline], target) of the model's rows with a preference."""
        rows = self.rows[model]
        rows = rows[~np.isnan(self.p[rows])]
        length = length_term(self.len_model[rows], self.len_baseline[rows])
        return np.column_stack([length, self.gamma[rows], np.full(len(rows), not_gamed)]), self.p[rows]
