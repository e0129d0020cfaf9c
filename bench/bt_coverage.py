"""Coverage of the planted strengths by pairwise Bradley-Terry intervals, per design and prior.

What users read: ranking.csv's per-model rating interval (centred on the mean model, or anchored
to the baseline for the baseline-anchored design, as the aggregate anchors to `baselines[0]`) and
the report's pairwise difference intervals (`pairwise_significance`). Both are computed here by
the very functions the harness calls (`bradley_terry_table`, `pairwise_significance`) on battles
simulated without HTTP: planted log-strengths (sd 1.0 "spread" or 0.3 "close"), each model's
strength on an item perturbed by N(0, item_sd) shared by both answer orders, one Bradley-Terry
draw per answer order, designs planned by the harness's own SamplingPlan (bench/kwise_vs_pairwise.py).

The truth an interval should cover is what Bradley-Terry estimates with unlimited items: the
fit to the world's expected win rates averaged over its items (equal to the planted strengths
when item_sd = 0; with item noise the marginal win rates are slightly attenuated).

`--rule pair` measures the previous prior (one virtual tie per pair of models that met),
`--rule model` (the default, the harness's prior now) one virtual tie per model, shared among its
opponents (harness/stats/bt_prior.py). Coverage is averaged over the models (pairs) of a world;
the table gives the median over worlds, the mean and its Monte-Carlo standard error (sd over
worlds / sqrt(worlds)).

    python bench/bt_coverage.py [--worlds 30] [--boot 200] [--rule pair|model] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kwise_vs_pairwise import make_world, pair_wins, pairwise_cells, tournament_cells

from harness.stats import bradley_terry as bt_module
from harness.stats import significance as sig_module
from harness.stats.bt_newton import fit_bradley_terry
from harness.stats.bt_prior import shared_ties, virtual_ties
from harness_plugins.pairwise.aggregate import design_prior_ties

#: (models, items, share of the all-pairs calls that uniform and adaptive get)
SIZES = ((10, 100, 0.2), (10, 20, 0.2), (30, 30, 0.1), (30, 100, 0.1))
DESIGNS = ("all", "uniform", "adaptive", "anchored", "tournament")
SPREADS = {"spread": 1.0, "close": 0.3}
ELO = 400.0 / math.log(10.0)


def bt_truth(item_strength: np.ndarray) -> np.ndarray:
    """Centred log-strengths Bradley-Terry converges to on unlimited items of this world."""
    gap = item_strength[:, :, None] - item_strength[:, None, :]
    rate = (1.0 / (1.0 + np.exp(-gap))).mean(axis=0)
    np.fill_diagonal(rate, 0.0)
    theta = fit_bradley_terry(rate * 1000.0)
    return theta - theta.mean()


def battles_of(tensor: np.ndarray, names: list[str]) -> pd.DataFrame:
    """One weighted battle row per (item, a, b) with wins: a's wins over b in both orders."""
    k, a, b = np.nonzero(np.triu(np.ones(tensor.shape[1:]), 1)[None] * (tensor + tensor.transpose(0, 2, 1)))
    rows = []
    for item, i, j in zip(k, a, b):
        won, lost = tensor[item, i, j], tensor[item, j, i]
        rows.append((f"i{item}", names[i], names[j], won / (won + lost), won + lost))
    return pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "score_a", "weight"])


def judged(world, design: str, calls: float, seed: int, baseline: int | None) -> np.ndarray:
    """Per-item wins (items, m, m) of a design at a budget in calls."""
    if design == "tournament":  # budget: calls // (2 (m - 1)) items bracketed
        tensor = np.zeros((world.items, world.m, world.m))
        for i, x, y, x_wins in tournament_cells(world, calls, seed):
            tensor[i, x, y] += x_wins
            tensor[i, y, x] += 2 - x_wins
        return tensor
    kind = "all" if design == "all" else ("uniform" if design == "anchored" else design)
    return pair_wins(world, pairwise_cells(world, kind, calls, seed, baseline), seed)


def coverage(world, design: str, share: float, seed: int, boot: int,
             ties: float | None = None) -> tuple[float, float, float]:
    """(rating coverage, difference coverage, battles per pair that met) of one design and world."""
    truth = bt_truth(world.item_strength)
    m = world.m
    baseline = int(np.argsort(world.theta)[m // 2]) if design == "anchored" else None
    calls = share * world.items * m * (m - 1)  # the share of all pairs on all items, both orders
    tensor = judged(world, design, calls, seed, baseline)
    prior = design_prior_ties(ties)
    names = world.names
    battles = battles_of(tensor, names)
    anchor = names[baseline] if baseline is not None else None
    table = bt_module.bradley_terry_table(battles, n_bootstrap=boot, seed=seed, anchor=anchor, scale=1.0,
                                          base=math.e, offset=0.0, prior_ties=prior).set_index("model")
    met = sorted(set(battles.model_a) | set(battles.model_b))
    index = [names.index(n) for n in met]
    target = truth[index] - (truth[baseline] if baseline is not None else truth[index].mean())
    low, high = table.ci_low[met].to_numpy(), table.ci_high[met].to_numpy()
    keep = np.isfinite(low)  # the anchor's own interval is blank
    rating = float(np.mean((low[keep] <= target[keep]) & (target[keep] <= high[keep])))
    pairs = sig_module.pairwise_significance(battles, n_rounds=boot, seed=seed, scale=1.0, base=math.e,
                                              min_items=0, prior_ties=prior)
    where = {n: i for i, n in enumerate(names)}
    gap = truth[[where[n] for n in pairs.model_1]] - truth[[where[n] for n in pairs.model_2]]
    diff = float(np.mean((pairs.ci_low <= gap) & (gap <= pairs.ci_high)))
    games = tensor.sum(axis=0)
    games = games + games.T
    per_pair = float(games[np.triu_indices(m, 1)][games[np.triu_indices(m, 1)] > 0].mean())
    return rating, diff, per_pair


def use_rule(rule: str) -> None:
    """Point the tables at the prior to measure (the bench only; the harness uses shared_ties)."""
    prior = virtual_ties if rule == "pair" else shared_ties
    bt_module.shared_ties = prior  # type: ignore[attr-defined]
    sig_module.shared_ties = prior  # type: ignore[attr-defined]


def summary(values: list[float]) -> str:
    v = np.asarray(values)
    return f"{np.median(v):.2f} ({v.mean():.3f} ± {v.std(ddof=1) / math.sqrt(len(v)):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=30)
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--item-sd", type=float, default=0.3)
    parser.add_argument("--rule", choices=("pair", "model"), default="model")
    parser.add_argument("--ties", type=float, default=None, help="prior_ties (default: each design's)")
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--models", type=int, default=0, help="only the sizes with this many models")
    parser.add_argument("--quick", action="store_true", help="10 worlds, 100 rounds")
    args = parser.parse_args()
    worlds, boot = (10, 100) if args.quick else (args.worlds, args.boot)
    use_rule(args.rule)
    print(f"## Coverage of 95% intervals, prior rule `{args.rule}`, prior_ties {args.ties or 'default'}, item noise sd {args.item_sd}, "
          f"{worlds} worlds, {boot} bootstrap rounds\n")
    print("cells: median over worlds (mean ± Monte-Carlo standard error)\n")
    print("| models | items | spread | design | battles per pair met | rating coverage | difference coverage |")
    print("|---|---|---|---|---|---|---|")
    started = time.perf_counter()
    for m, items, share in SIZES:
        if args.models and m != args.models:
            continue
        for spread, sd in SPREADS.items():
            for design in args.designs.split(","):
                rows = []
                for seed in range(worlds):
                    world = make_world(m, items, sd, args.item_sd, seed)
                    rows.append(coverage(world, design, share, seed, boot, args.ties))
                r, d, n = zip(*rows)
                print(f"| {m} | {items} | {spread} | {design} | {np.mean(n):.1f} | {summary(list(r))} | "
                      f"{summary(list(d))} |", flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
