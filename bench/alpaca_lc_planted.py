"""AlpacaEval's LC win rate on a planted, semi-real world: how close each way of computing it gets.

The world follows AlpacaEval's own GLM (`length_controlled_v1`), so its truth is known exactly:
each model m has a length slope, a difficulty weight and a `not_gamed_baseline` weight drawn to
resemble the spread of AlpacaEval's published per-model weights (summary facts: slopes about
-1.55 +- 0.35, difficulty weights about 0.93 +- 0.17, not_gamed weights spread over -4.5..1.5),
every instruction a planted difficulty gamma_x with AlpacaEval's spread (sd 1), the answer
lengths are real ones (the baseline's, and per instruction a real model's answer length from
../shared/data/alpaca_eval scaled by a per-model factor), and the judge's soft preference on
(m, x) is a Beta draw with mean sigmoid(w_len * tanh(delta / sd) + w_diff * gamma_x + w_ng) and
concentration 0.5 (mostly near 0 or 1, as the real logprob preferences are). Optionally: the
baseline's own answers made verbose and concise (`base_verbose` / `base_concise`, not_gamed 0),
and a length-gamed model like `gpt4_gamed` (answers 2.2 times the baseline's, slope -3).

    truth(m) = 100 * mean_x sigmoid(w_ng(m) + w_diff(m) * gamma_x)

The same world is scored against two references: the truth, and what AlpacaEval publishes for it
(its GLM fitted on each model's rows with both gamed baselines' rows and the difficulty fixed
beforehand, here the planted one, as AlpacaEval's was estimated once on many models): the
hidden check compares with a published leaderboard, which carries the judge's noise too.
Reported: |LC - reference| over all models, the length-gamed one included (mean, median, share
within 1 point, worst) and the gamed model's signed error, for the harness's LC
(harness.stats.length_control) and AlpacaEval's GLM (harness.stats.alpaca_glm): its default
(pooled L2 joint fit for the difficulty; each model's length slope its own with the gamed
baselines, without them its own pulled toward the run's pooled slope), the pooled slope held, own slopes always, the former default (AlpacaEval's
L1 cross-validated joint difficulty, own slopes), and own slopes with the planted difficulty.
Seconds: CPU of the whole computation per world.

    python bench/alpaca_lc_planted.py [--models 6 20 43] [--worlds 2] [--items 805]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from harness.stats.alpaca_glm import alpaca_eval_lc, length_term
from harness.stats.length_control import length_controlled_win_rates

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "alpaca_eval"
BASELINE = "base"
GAMED_MODEL = "gamed_model"
#: Concentration of the judge's Beta preferences around the GLM's probability.
CONCENTRATION = 0.5


def real_lengths(folder: Path = DATA) -> tuple[np.ndarray, np.ndarray]:
    """(the baseline's answer lengths, one row per real model of its answer lengths), 805 each.
    NullModel's answers (one adversarial text) are left out of the rows."""
    files = sorted(folder.glob("*/annotations.json"))
    if not files:
        raise SystemExit(f"no AlpacaEval folders under {folder}")
    rows, baseline = [], None
    for file in files:
        records = json.loads(file.read_text(encoding="utf-8"))
        baseline = np.array([len(r["output_1"]) for r in records], dtype=float)
        if file.parent.name != "NullModel":
            rows.append([len(r["output_2"]) for r in records])
    assert baseline is not None
    return baseline, np.array(rows, dtype=float)


def planted_world(
    n_models: int, *, gamed_baselines: bool, gamed_model: bool, items: int = 805, seed: int = 0,
    lengths: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(frame of the GLMs' rows, truth by model, planted gamma by item). `n_models` counts the
    length-gamed model when there is one, not the gamed baselines."""
    rng = np.random.default_rng(seed)
    base_len, model_len = lengths if lengths is not None else real_lengths()
    base_len, model_len = base_len[:items], model_len[:, :items]
    gamma = rng.normal(0.0, 1.0, size=items)
    weights: dict[str, tuple[float, float, float]] = {}
    model_lengths: dict[str, np.ndarray] = {}
    for index in range(n_models - int(gamed_model)):
        name = f"m{index:02d}"
        weights[name] = (float(np.clip(rng.normal(-1.55, 0.35), -3.0, -0.2)),
                         float(np.clip(rng.normal(0.93, 0.17), 0.4, 1.25)), float(rng.uniform(-4.5, 1.5)))
        source = rng.integers(0, len(model_len), size=items)
        model_lengths[name] = model_len[source, np.arange(items)] * rng.lognormal(0.0, 0.4)
    if gamed_model:
        weights[GAMED_MODEL] = (-3.0, 0.62, -2.25)
        model_lengths[GAMED_MODEL] = base_len * rng.lognormal(np.log(2.2), 0.3, size=items)
    if gamed_baselines:
        weights[f"{BASELINE}_verbose"] = (-1.6, 0.8, 0.0)
        model_lengths[f"{BASELINE}_verbose"] = base_len * rng.lognormal(np.log(1.8), 0.3, size=items)
        weights[f"{BASELINE}_concise"] = (-1.6, 0.8, 0.0)
        model_lengths[f"{BASELINE}_concise"] = base_len * rng.lognormal(np.log(0.5), 0.3, size=items)
    parts, truth = [], {}
    item_ids = np.array([f"x{i:03d}" for i in range(items)])
    for name, (w_len, w_diff, w_ng) in weights.items():
        mean = expit(w_len * length_term(model_lengths[name], base_len) + w_diff * gamma + w_ng)
        p = rng.beta(CONCENTRATION * mean, CONCENTRATION * (1.0 - mean))
        parts.append(pd.DataFrame({"model": name, "item_id": item_ids, "p": p,
                                   "len_model": model_lengths[name], "len_baseline": base_len}))
        truth[name] = 100.0 * float(expit(w_ng + w_diff * gamma).mean())
    return pd.concat(parts, ignore_index=True), pd.Series(truth), pd.Series(gamma, index=item_ids)


def published_like(frame: pd.DataFrame, gamma: pd.Series) -> pd.Series:
    """What AlpacaEval publishes for this world: its GLM fitted on each model's rows with both gamed
    baselines' rows and the difficulty fixed beforehand (here the planted one, as AlpacaEval's
    was estimated once over many models). It differs from the truth by the judge's noise."""
    return alpaca_eval_lc(frame, BASELINE, difficulty=gamma).set_index("model")["lc_win_rate"]


def scored(frame: pd.DataFrame, gamma: pd.Series) -> dict[str, tuple[pd.Series, float]]:
    """LC by model, and CPU seconds, for every way of computing it."""
    out: dict[str, tuple[pd.Series, float]] = {}
    start = time.process_time()
    harness = length_controlled_win_rates(frame).set_index("model")["lc_win_rate"]
    out["harness LC"] = (harness, time.process_time() - start)
    for name, options in (("GLM (default)", {}), ("GLM, pooled slope", {"slope": "pooled"}),
                          ("GLM, own slopes", {"slope": "own"}),
                          ("GLM, L1 difficulty (old)", {"slope": "own", "difficulty_fit": "l1"}),
                          ("GLM, planted difficulty", {"slope": "own", "difficulty": gamma})):
        start = time.process_time()
        table = alpaca_eval_lc(frame, BASELINE, **options).set_index("model")["lc_win_rate"]
        out[name] = (table, time.process_time() - start)
    return out


def summary(errors: np.ndarray) -> str:
    a = np.abs(errors)
    return (f"mean {a.mean():5.2f}  median {np.median(a):5.2f}  within 1: {np.mean(a <= 1.0):4.0%}  "
            f"worst {a.max():5.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[6, 20, 43])
    parser.add_argument("--worlds", type=int, default=2)
    parser.add_argument("--items", type=int, default=805)
    parser.add_argument("--gamed", choices=["both", "with", "without"], default="both")
    args = parser.parse_args(argv)
    lengths = real_lengths()
    settings = {"both": [False, True], "with": [True], "without": [False]}[args.gamed]
    for n in args.models:
        for with_gamed in settings:
            errors: dict[str, dict[str, list[np.ndarray]]] = {"truth": {}, "published": {}}
            seconds: dict[str, float] = {}
            for world in range(args.worlds):
                whole, truth, gamma = planted_world(n, gamed_baselines=True, gamed_model=True,
                                                    items=args.items, seed=world, lengths=lengths)
                references = {"truth": truth, "published": published_like(whole, gamma)}
                frame = whole if with_gamed else whole[~whole["model"].str.startswith(f"{BASELINE}_")]
                models = [m for m in truth.index if not m.startswith(f"{BASELINE}_")]
                for name, (lc, cpu) in scored(frame, gamma).items():
                    for ref, values in references.items():
                        errors[ref].setdefault(name, []).append((lc[models] - values[models]).to_numpy())
                    seconds[name] = seconds.get(name, 0.0) + cpu / args.worlds
            for ref, table in errors.items():
                print(f"\n{n} models ({n - 1} + a length-gamed one), gamed baselines {'imported' if with_gamed else 'absent'}, "
                      f"{args.worlds} world(s) x {args.items} instructions; |LC - {ref}| over the {n} models "
                      "(the gamed model's signed error apart):")
                for name, values in table.items():
                    print(f"  {name:26s} {summary(np.concatenate(values))}  gamed model "
                          f"{np.mean([v[-1] for v in values]):+6.2f}  {seconds[name]:6.1f} s CPU")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
