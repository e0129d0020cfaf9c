"""Tournaments and K-wise (listwise) judging against pairwise designs at equal judge calls and at
equal prompt tokens: Kendall tau with the planted truth and coverage of the 95% item-bootstrap
intervals, and the calls and tokens each design needs to reach tau 0.9 and 0.95.

Worlds: planted log-strengths (10 models over 100 items, 30 models over 30 items; spread sd 1.0
or close sd 0.3), each model's strength on an item perturbed by N(0, item_sd) shared by every
judgment of that item (so items differ and the item bootstrap has something to resample). A
pairwise verdict is a Bradley-Terry draw on the item's strengths, one per answer order; a listwise
order is a Plackett-Luce draw (strength + Gumbel noise) per presentation order. The two judges are
the same model of preference (the pairwise marginals of Plackett-Luce are Bradley-Terry), so the
designs differ only in what they ask.

Designs, each driven by the plan the harness runs (plugins/pairwise/sampling.py, tournament.py,
plugins/listwise/tuples.py, adaptive.py): pairwise all pairs / uniform / adaptive, baseline-anchored
(every model against the median-strength model, uniform over items), tournament (budget = items
bracketed), listwise K = 3, 4, 6 with uniform and adaptive tuples, each tuple in all K rotations.
Ratings: Bradley-Terry (pairwise) or Plackett-Luce (listwise) with the protocols' virtual-tie prior;
intervals from the item bootstrap. Tokens per call come from rendering the real templates
(prompts/pairwise.jinja, prompts/listwise.jinja) with a 400-character request and answers of
`--answer-chars` characters, at 4 characters a token.

    python bench/kwise_vs_pairwise.py [--seeds 3] [--boot 100] [--quick]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from types import SimpleNamespace

import numpy as np
from scipy.stats import kendalltau

FRACTIONS = (0.02, 0.05, 0.1, 0.2, 0.4)
#: Shares of the items a tournament brackets.
TOURNAMENT_ITEMS = (0.1, 0.25, 0.5, 1.0)
THRESHOLDS = (0.9, 0.95)


@dataclass
class World:
    theta: np.ndarray  # planted, centred
    item_strength: np.ndarray  # (items, m)
    seed: int

    @property
    def m(self) -> int:
        return len(self.theta)

    @property
    def items(self) -> int:
        return self.item_strength.shape[0]

    @property
    def names(self) -> list[str]:
        return [f"m{i:02d}" for i in range(self.m)]


def make_world(m: int, items: int, sd: float, item_sd: float, seed: int) -> World:
    rng = np.random.default_rng([seed, m, int(sd * 100)])
    theta = rng.normal(0.0, sd, m)
    theta -= theta.mean()
    return World(theta, theta[None, :] + rng.normal(0.0, item_sd, (items, m)), seed)


# -- judgments ---------------------------------------------------------------------------------
def pair_wins(world: World, cells: list[tuple[int, int, int]], seed: int) -> np.ndarray:
    """Per item wins (items, m, m) from both answer orders of every (item, a, b) cell."""
    rng = np.random.default_rng([seed, 1])
    tensor = np.zeros((world.items, world.m, world.m))
    if not cells:
        return tensor
    c = np.array(cells)
    gap = world.item_strength[c[:, 0], c[:, 1]] - world.item_strength[c[:, 0], c[:, 2]]
    a_wins = (rng.random((len(c), 2)) < 1.0 / (1.0 + np.exp(-gap))[:, None]).sum(axis=1).astype(float)
    np.add.at(tensor, (c[:, 0], c[:, 1], c[:, 2]), a_wins)
    np.add.at(tensor, (c[:, 0], c[:, 2], c[:, 1]), 2.0 - a_wins)
    return tensor


def list_orders(world: World, cells: list[tuple[int, tuple[int, ...]]], rotations: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plackett-Luce orders (model indices best first) of every cell in `rotations` orders."""
    rng = np.random.default_rng([seed, 2])
    rows, items = [], []
    for item, tup in cells:
        idx = np.array(tup)
        strength = world.item_strength[item, idx]
        for _ in range(rotations):
            rows.append(idx[np.argsort(-(strength + rng.gumbel(size=len(idx))))])
            items.append(item)
    return np.array(rows, dtype=np.int64).reshape(len(rows), -1), np.array(items)


# -- fits --------------------------------------------------------------------------------------
def bt_eval(world: World, tensor: np.ndarray, boot: int, seed: int, ties: float = 1.0) -> tuple[float, float]:
    from harness.stats.bradley_terry import bootstrap_bradley_terry
    from harness.stats.bt_newton import fit_bradley_terry
    from harness.stats.bt_prior import shared_ties

    judged = tensor[tensor.sum(axis=(1, 2)) > 0]
    total = judged.sum(axis=0)
    prior = shared_ties(total, ties)
    theta = fit_bradley_terry(total + prior)
    draws = bootstrap_bradley_terry(judged, n_rounds=boot, seed=seed, start=theta, prior=prior)
    return _tau_cov(world, theta, draws)


def pl_eval(world: World, rankings: np.ndarray, items: np.ndarray, boot: int, seed: int) -> tuple[float, float]:
    from harness.stats.bt_prior import shared_ties
    from harness.stats.plackett_luce import bootstrap_plackett_luce, co_occurrence, fit_plackett_luce

    prior = shared_ties(co_occurrence(rankings, world.m))
    theta = fit_plackett_luce(rankings, world.m, prior=prior)
    draws = bootstrap_plackett_luce(rankings, items, world.m, n_rounds=boot, seed=seed, prior=prior, start=theta)
    return _tau_cov(world, theta, draws)


def _tau_cov(world: World, theta: np.ndarray, draws: np.ndarray) -> tuple[float, float]:
    theta = theta - theta.mean()
    draws = draws - draws.mean(axis=1, keepdims=True)
    low, high = np.quantile(draws, [0.025, 0.975], axis=0)
    tau = float(kendalltau(theta, world.theta).statistic)
    return tau, float(np.mean((low <= world.theta) & (world.theta <= high)))


# -- designs: each returns (calls, prompt tokens, tau, coverage) for a budget in calls ------------
Design = Callable[[World, float, int], tuple[int, float, float]]


def pairwise_cells(world: World, kind: str, calls: float, seed: int, baseline: int | None = None) -> list:
    from harness_plugins.pairwise.sampling import SamplingPlan

    names = world.names
    pairs = ([(names[i], names[baseline]) for i in range(world.m) if i != baseline] if baseline is not None
             else list(combinations(names, 2)))
    answered = [set(names)] * world.items
    index = {n: i for i, n in enumerate(names)}
    plan = SamplingPlan("uniform" if kind == "all" else kind, names, pairs, answered,
                        budget=None if kind == "all" else max(2, int(calls)), seed=seed)
    chosen = plan.first_round()
    tensor_cells = lambda cs: [(i, index[pairs[k][0]], index[pairs[k][1]]) for i, k in cs]
    if kind == "adaptive":
        judged = list(chosen)
        while True:
            tensor = pair_wins(world, tensor_cells(judged), seed)
            more = plan.next_round(tensor.sum(axis=0))
            if not more:
                break
            judged += more
        chosen = judged
    return tensor_cells(chosen)


def tournament_cells(world: World, calls: float, seed: int) -> list:
    from harness_plugins.pairwise.tournament import TournamentPlan

    names = world.names
    index = {n: i for i, n in enumerate(names)}
    brackets = max(1, min(world.items, int(calls // (2 * (world.m - 1)))))
    plan = TournamentPlan([names] * world.items, budget=brackets, seed=seed)
    matches = plan.first_round()
    judged: list[tuple[int, int, int, int]] = []
    rng = np.random.default_rng([seed, 3])
    while matches:
        margins = {}
        for i, x, y in matches:
            gap = world.item_strength[i, index[x]] - world.item_strength[i, index[y]]
            x_wins = int((rng.random(2) < 1.0 / (1.0 + math.exp(-gap))).sum())
            margins[(i, x, y)] = 2.0 * x_wins - 2.0
            judged.append((i, index[x], index[y], x_wins))
        matches = plan.next_round(lambda i, x, y, found=margins: found.get((i, x, y)))
    return judged


def listwise_run(world: World, k: int, kind: str, calls: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from harness_plugins.listwise.adaptive import AdaptiveTuples
    from harness_plugins.listwise.tuples import uniform_cells

    names = world.names
    index = {n: i for i, n in enumerate(names)}
    answered = [names] * world.items
    cells = max(1, int(calls // k))
    as_idx = lambda cs: [(i, tuple(index[m] for m in t)) for i, t in cs]
    if kind == "uniform":
        return list_orders(world, as_idx(uniform_cells(answered, k, seed, cells)), k, seed)
    plan = AdaptiveTuples(answered, k, seed=seed, target=cells, rotations=k)
    batch = as_idx(plan.first_round())
    rankings, items, verdicts = [], [], []
    while batch:
        r, i = list_orders(world, batch, k, seed + 7919 * len(rankings))
        rankings.append(r)
        items.append(i)
        verdicts += [SimpleNamespace(status="ok", data={"ranking": [names[j] for j in row]}) for row in r]
        batch = as_idx(plan.next_round(verdicts))  # type: ignore[arg-type]
    return np.concatenate(rankings), np.concatenate(items)


# -- tokens ------------------------------------------------------------------------------------
def prompt_tokens(answer_chars: int) -> dict[int, float]:
    """Prompt tokens of one call showing n answers (n = 2 pairwise, else listwise), at 4 chars/token."""
    from harness.prompts import PromptRenderer, builtin_prompt_dir, make_environment

    env = make_environment([builtin_prompt_dir()])
    answer = ("lorem ipsum " * answer_chars)[:answer_chars]
    request = ("what is asked " * 40)[:400]
    out = {}
    pair = PromptRenderer(env, "pairwise.jinja").render(
        instruction=request, conversation=[], reference=None, category=None, checklist=[], answer_a=answer,
        answer_b=answer + " ", verdict_format="scale", reasoning=True)
    out[2] = sum(len(m.content) for m in pair) / 4.0
    listwise = PromptRenderer(env, "listwise.jinja")
    for k in (3, 4, 6):
        labels = [chr(65 + j) for j in range(k)]
        msgs = listwise.render(instruction=request, conversation=[], reference=None, category=None,
                               answers=[{"label": x, "text": answer + " " * j} for j, x in enumerate(labels)],
                               labels=labels, reasoning=True)
        out[k] = sum(len(m.content) for m in msgs) / 4.0
    return out


# -- driver ------------------------------------------------------------------------------------
def evaluate(world: World, design: str, calls: float, seed: int, boot: int) -> tuple[int, float, float]:
    """(calls actually made, tau, coverage) of one design at a budget in calls."""
    if design.startswith("listwise"):
        _, k_text, kind = design.split()
        k = int(k_text.split("=")[1])
        rankings, items = listwise_run(world, k, kind, calls, seed)
        return len(rankings), *pl_eval(world, rankings, items, boot, seed)
    if design == "tournament":
        judged = tournament_cells(world, calls, seed)
        tensor = np.zeros((world.items, world.m, world.m))
        for i, x, y, x_wins in judged:
            tensor[i, x, y] += x_wins
            tensor[i, y, x] += 2 - x_wins
        return 2 * len(judged), *bt_eval(world, tensor, boot, seed)
    kind = design.split()[1]
    baseline = int(np.argsort(world.theta)[world.m // 2]) if kind == "anchored" else None
    cells = pairwise_cells(world, "uniform" if kind == "anchored" else kind, calls, seed, baseline)
    return 2 * len(cells), *bt_eval(world, pair_wins(world, cells, seed), boot, seed)


def designs(ks: tuple[int, ...]) -> list[str]:
    return (["pairwise all", "pairwise uniform", "pairwise adaptive", "pairwise anchored", "tournament"]
            + [f"listwise K={k} {kind}" for k in ks for kind in ("uniform", "adaptive")])


def tokens_of(design: str, tokens: dict[int, float]) -> float:
    return tokens[int(design.split()[1].split("=")[1])] if design.startswith("listwise") else tokens[2]


def run_world(m: int, items: int, sd: float, item_sd: float, seeds: int, boot: int, ks: tuple[int, ...],
              tokens: dict[int, float], fractions: tuple[float, ...] = FRACTIONS) -> None:
    full = items * m * (m - 1)  # pairwise all pairs, both orders
    print(f"\n## {m} models, {items} items, strengths sd {sd}, item noise sd {item_sd} "
          f"({seeds} seeds; pairwise full design {full} calls)\n")
    rows: dict[tuple[str, str, float], list[tuple[int, float, float]]] = {}
    started = time.perf_counter()
    for seed in range(seeds):
        world = make_world(m, items, sd, item_sd, seed)
        for design in designs(ks):
            budgets = [1.0] if design == "pairwise all" else list(fractions)
            if design == "tournament":  # its full design is every item bracketed: 2 / m of all pairs
                budgets = [f * 2 / m for f in TOURNAMENT_ITEMS]
            for f in budgets:
                for axis in ("calls", "tokens"):
                    if axis == "tokens" and not design.startswith("listwise"):
                        continue  # pairwise designs: equal tokens is equal calls
                    calls = f * full * (tokens[2] / tokens_of(design, tokens) if axis == "tokens" else 1.0)
                    rows.setdefault((design, axis, f), []).append(evaluate(world, design, calls + 1e-6, seed, boot))
    print("| design | budget (share of pairwise full calls / tokens) | calls | prompt tokens | tau | coverage |")
    print("|---|---|---|---|---|---|")
    curve: dict[str, list[tuple[float, float, float]]] = {}
    for (design, axis, f), values in rows.items():
        calls = float(np.mean([v[0] for v in values]))
        tau, cov = float(np.mean([v[1] for v in values])), float(np.mean([v[2] for v in values]))
        tok = calls * tokens_of(design, tokens)
        label = "equal tokens" if axis == "tokens" else "equal calls"
        print(f"| {design} | {f:.0%} ({label}) | {calls:,.0f} | {tok / 1e6:,.2f}M | {tau:.3f} | {cov:.2f} |")
        curve.setdefault(design, []).append((calls, tok, tau))
    print("\nCalls and prompt tokens to reach a mean tau with the truth (smallest budget measured; "
          "ratio to pairwise uniform):\n")
    print("| design | " + " | ".join(f"calls tau {t} | tokens tau {t} | tokens ratio {t}" for t in THRESHOLDS) + " |")
    print("|---|" + "---|---|---|" * len(THRESHOLDS))
    reach = {d: {t: min(((c, k) for c, k, tau in pts if tau >= t), default=None) for t in THRESHOLDS}
             for d, pts in curve.items()}
    for design, by_t in reach.items():
        cells = []
        for t in THRESHOLDS:
            found, base = by_t[t], reach.get("pairwise uniform", {}).get(t)
            if found is None:
                cells += ["not reached", "not reached", "-"]
                continue
            ratio = f"{found[1] / base[1]:.2f}" if base else "-"
            cells += [f"{found[0]:,.0f}", f"{found[1] / 1e6:,.2f}M", ratio]
        print(f"| {design} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - started:.0f} s)")


def coverage_check(seeds: int, boot: int) -> None:
    """Interval coverage of the planted strengths: tournament against pairwise uniform and adaptive
    at the tournament's calls, over many planted worlds (10 models, 100 items), without item
    noise (the planted strengths are then exactly what Bradley-Terry estimates) and with it."""
    print(f"\n## Coverage of the 95% item-bootstrap intervals, 10 models, 100 items ({seeds} worlds, {boot} rounds)\n")
    print("| item noise sd | items bracketed | calls | tournament tau | coverage | uniform tau | coverage | "
          "adaptive tau | coverage |")
    print("|---|---|---|---|---|---|---|---|---|")
    for item_sd in (0.0, 0.3):
        for share in (0.25, 1.0):
            out: dict[str, list[tuple[int, float, float]]] = {}
            calls = share * 100 * 2 * 9
            for seed in range(seeds):
                world = make_world(10, 100, 1.0, item_sd, seed)
                for design in ("tournament", "pairwise uniform", "pairwise adaptive"):
                    out.setdefault(design, []).append(evaluate(world, design, calls + 1e-6, seed, boot))
            cells = [f"{np.mean([v[1] for v in out[d]]):.3f} | {np.mean([v[2] for v in out[d]]):.3f}"
                     for d in ("tournament", "pairwise uniform", "pairwise adaptive")]
            print(f"| {item_sd} | {share:.0%} | {calls:,.0f} | " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--boot", type=int, default=100, help="bootstrap rounds per interval")
    parser.add_argument("--answer-chars", type=int, default=1200, help="length of every answer (characters)")
    parser.add_argument("--quick", action="store_true", help="only the 10-model worlds")
    parser.add_argument("--only-30", action="store_true", help="only the 30-model worlds")
    parser.add_argument("--coverage", type=int, default=0, metavar="WORLDS",
                        help="only the tournament coverage check, over this many planted worlds")
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)),
                        help="budgets as shares of the pairwise full design (comma-separated)")
    args = parser.parse_args()
    fractions = tuple(float(x) for x in args.fractions.split(","))
    if args.coverage:
        coverage_check(args.coverage, args.boot)
        return 0
    tokens = prompt_tokens(args.answer_chars)
    print("prompt tokens per call: " + ", ".join(
        f"{'pairwise' if n == 2 else f'listwise K={n}'} {t:,.0f}" for n, t in tokens.items()))
    ks = (3, 4, 6)
    if not args.only_30:
        run_world(10, 100, 1.0, 0.3, args.seeds, args.boot, ks, tokens, fractions)
        run_world(10, 100, 0.3, 0.3, args.seeds, args.boot, ks, tokens, fractions)
    if not args.quick:
        run_world(30, 30, 1.0, 0.3, args.seeds, args.boot, ks, tokens, fractions)
        run_world(30, 30, 0.3, 0.3, args.seeds, args.boot, ks, tokens, fractions)
    return 0


if __name__ == "__main__":
    sys.exit(main())
