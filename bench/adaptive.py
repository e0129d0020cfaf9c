"""How much of the judge budget adaptive sampling saves: Kendall tau with the full-data ranking and
interval coverage of the truth, against the fraction of calls used, for `uniform` and `adaptive`.

Worlds:
- synthetic Bradley-Terry worlds with known strengths (10 and 50 models, all pairs, close and
  spread strengths), every comparison's two answer orders drawn once, so every sampler and the
  full-data ranking see the same realisation;
- replays of real judgments under ../shared/data: AlpacaEval 2.0 (six models against the
  gpt4_1106_preview baseline, 805 items, soft preferences; one order stored, mirrored for the
  other, as the replay judge does) and WildBench v2 (WB-Scores of three models on the same
  sessions turned into pairwise verdicts: the higher score wins, equal scores tie).

The samplers are the plan the pairwise protocol runs (plugins/pairwise/sampling.py), driven in
process with each world's answers; intervals are the run's item bootstrap over the judged items.
At the end the full path runs once: `harness import alpaca_eval`, then `harness run` with
`sampling: adaptive` and `uniform` answered by `--judge replay:IMPORTED_RUN`.

    python bench/adaptive.py [--seeds 3] [--quick] [--no-full-path]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from harness.stats.bradley_terry import bootstrap_bradley_terry
from harness.stats.bt_newton import fit_bradley_terry
from harness_plugins.pairwise.sampling import SamplingPlan

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.6)
#: The replays find the full-data ranking from about 10% of the calls, so they are read at
#: smaller budgets, in pairs one twice the other (the "half of uniform's calls" goal).
REPLAY_FRACTIONS = (0.01, 0.02, 0.04, 0.05, 0.1, 0.2)
#: A replay is one fixed set of judgments: only the samplers' seeds vary, and three models give
#: tau in steps of 1/3, so more seeds are needed (and cheap).
REPLAY_SEED_FACTOR = 5
#: Worlds of a few models are cheap and noisy (one swapped pair moves tau by 0.02-0.07): they get
#: this many times the seeds of the 50-model worlds, whose plans take seconds each.
SMALL_WORLD_SEED_FACTOR = 3
BOOT = 200


@dataclass
class World:
    """Every comparison's outcome: score[item, pair] = weighted wins of the pair's first model
    over both answer orders, weight[item, pair] = the battles' weight (0: not answered)."""

    name: str
    models: list[str]
    pairs: list[tuple[str, str]]
    score: np.ndarray
    weight: np.ndarray
    truth: np.ndarray | None = None  # centred log-strengths, when planted
    plan_seconds: float = 0.0  # mean time of an adaptive plan, set by measure()
    mean_full_vs_truth: float | None = None  # over the seeds' worlds, set by measure()

    def __post_init__(self) -> None:
        index = {m: i for i, m in enumerate(self.models)}
        self.a = np.array([index[p] for p, _ in self.pairs])
        self.b = np.array([index[q] for _, q in self.pairs])
        self.answered = [
            {m for k, (p, q) in enumerate(self.pairs) if self.weight[i, k] > 0 for m in (p, q)}
            for i in range(self.score.shape[0])
        ]
        every = [(i, k) for i, k in zip(*np.nonzero(self.weight > 0))]
        self.full_theta = fit_bradley_terry(self.wins(every))
        #: Kendall tau of the full-data ranking with the planted one: how well the full design
        #: itself ranks the world (low where strengths are close and items few).
        self.full_vs_truth: float | None = None
        if self.truth is not None:
            self.full_vs_truth = float(kendalltau(self.full_theta, self.truth).statistic)

    def wins(self, cells: list[tuple[int, int]]) -> np.ndarray:
        m = len(self.models)
        w = np.zeros((m, m))
        if cells:
            c = np.array(cells)
            s, n = self.score[c[:, 0], c[:, 1]], self.weight[c[:, 0], c[:, 1]]
            np.add.at(w, (self.a[c[:, 1]], self.b[c[:, 1]]), s)
            np.add.at(w, (self.b[c[:, 1]], self.a[c[:, 1]]), n - s)
        return w

    def tensor(self, cells: list[tuple[int, int]]) -> np.ndarray:
        """Per judged item wins, for the item bootstrap (unjudged items are not in it)."""
        c = np.array(cells)
        items, codes = np.unique(c[:, 0], return_inverse=True)
        m = len(self.models)
        t = np.zeros((len(items), m, m))
        s, n = self.score[c[:, 0], c[:, 1]], self.weight[c[:, 0], c[:, 1]]
        np.add.at(t, (codes, self.a[c[:, 1]], self.b[c[:, 1]]), s)
        np.add.at(t, (codes, self.b[c[:, 1]], self.a[c[:, 1]]), n - s)
        return t


def synthetic(m: int, n_items: int, sd: float, seed: int) -> World:
    rng = np.random.default_rng(1000 + seed)
    theta = rng.normal(0.0, sd, m)
    theta -= theta.mean()
    models = [f"m{i:02d}" for i in range(m)]
    pairs = list(combinations(models, 2))
    idx = np.array(list(combinations(range(m), 2)))
    p = 1.0 / (1.0 + np.exp(-(theta[idx[:, 0]] - theta[idx[:, 1]])))
    score = (rng.random((n_items, len(pairs), 2)) < p[None, :, None]).sum(axis=-1).astype(float)
    label = "spread" if sd >= 0.6 else "close"
    return World(f"synthetic {m} models, {label} (sd {sd}; a new world per seed)", models, pairs, score,
                 np.full(score.shape, 2.0), truth=theta)


def synthetic_baseline(m: int, n_items: int, sd: float, item_sd: float, seed: int) -> World:
    """One baseline, as AlpacaEval: model i beats the baseline on item k with probability
    sigmoid(theta_i + delta_k), items differing in difficulty delta_k ~ N(0, item_sd); the truth
    is each model's gap to the baseline (the baseline at 0)."""
    rng = np.random.default_rng(2000 + seed)
    theta = np.concatenate([[0.0], rng.normal(0.0, sd, m)])
    delta = rng.normal(0.0, item_sd, n_items)
    models = ["baseline"] + [f"m{i:02d}" for i in range(m)]
    pairs = [(name, "baseline") for name in models[1:]]
    p = 1.0 / (1.0 + np.exp(-(theta[None, 1:] + delta[:, None])))
    score = (rng.random((n_items, m, 2)) < p[:, :, None]).sum(axis=-1).astype(float)
    world = World(f"synthetic {m} models vs a baseline, items differ (sd {item_sd}; a new world per seed)",
                  models, pairs, score, np.full(score.shape, 2.0))
    world.truth = None  # item effects make the planted theta a different scale from Bradley-Terry's
    return world


def alpaca_world() -> World | None:
    from harness.importers.alpaca_eval import import_alpaca_eval
    from harness_plugins.pairwise.aggregate import judged_battles
    from harness_plugins.pairwise.config import PairwiseConfig

    paths = sorted((DATA / "alpaca_eval").glob("*/annotations.json"))
    if not paths:
        return None
    run = import_alpaca_eval(paths)
    battles = judged_battles(run.verdicts, PairwiseConfig(**run.config))
    baseline = run.config["baselines"][0]
    models = [baseline] + sorted(set(battles.model_b))
    pairs = [(m, baseline) for m in models[1:]]
    items = sorted(set(battles.item_id))
    row = {item: i for i, item in enumerate(items)}
    col = {m: k for k, (m, _) in enumerate(pairs)}
    score, weight = np.zeros((len(items), len(pairs))), np.zeros((len(items), len(pairs)))
    for item, model, share, w in zip(battles.item_id, battles.model_b, battles.bt_score_a, battles.bt_weight):
        score[row[item], col[model]] = 2.0 * (1.0 - share) * w  # both orders: stored + mirrored
        weight[row[item], col[model]] = 2.0 * w
    return World("AlpacaEval 2.0 replay (6 models vs baseline)", models, pairs, score, weight)


def wildbench_world() -> World | None:
    files = sorted((DATA / "wildbench").glob("score.v2.eval=*.json"))
    if not files:
        return None
    scores: dict[str, dict[str, float]] = {}
    for path in files:
        for rec in json.loads(path.read_text()):
            try:
                scores.setdefault(str(rec["model_test"]), {})[str(rec["session_id"])] = float(rec["score"])
            except (KeyError, TypeError, ValueError):
                continue
    models = sorted(scores)
    sessions = sorted(set.intersection(*(set(s) for s in scores.values())))
    pairs = list(combinations(models, 2))
    score = np.zeros((len(sessions), len(pairs)))
    for k, (p, q) in enumerate(pairs):
        diff = np.array([scores[p][s] - scores[q][s] for s in sessions])
        score[:, k] = 2.0 * np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
    return World("WildBench v2 replay (3 models, pairs from WB-Scores)", models, pairs, score,
                 np.full(score.shape, 2.0))


def plan_for(world: World, kind: str, budget: float, seed: int) -> SamplingPlan:
    return SamplingPlan(kind, world.models, world.pairs, world.answered, budget=budget, seed=seed)


def adaptive_sequence(world: World, budget: float, seed: int) -> tuple[list[tuple[int, int]], float]:
    """Every comparison an adaptive run with `budget` asks for, in order; a smaller budget's run
    asks exactly a prefix of it (the plan's rounds never depend on the budget)."""
    started = time.perf_counter()
    plan = plan_for(world, "adaptive", budget, seed)
    cells = plan.first_round()
    while batch := plan.next_round(world.wins(cells)):
        cells += batch
    return cells, time.perf_counter() - started


def evaluate(world: World, cells: list[tuple[int, int]], seed: int) -> tuple[float, float | None]:
    theta = fit_bradley_terry(world.wins(cells))
    tau = float(kendalltau(theta, world.full_theta).statistic)
    if world.truth is None:
        return tau, None
    boot = bootstrap_bradley_terry(world.tensor(cells), n_rounds=BOOT, seed=seed, start=theta)
    low, high = np.quantile(boot, [0.025, 0.975], axis=0)
    return tau, float(np.mean((low <= world.truth) & (world.truth <= high)))


def measure(make, seeds: int, fractions: tuple[float, ...]) -> tuple[World, dict[str, dict[float, list]]]:
    """`make(seed)` gives the world: a fresh realisation per seed for synthetic worlds, the same
    judgments for replays; the seed also drives both samplers."""
    out: dict[str, dict[float, list]] = {"uniform": {f: [] for f in fractions}, "adaptive": {f: [] for f in fractions}}
    plan_s, full_vs_truth = [], []
    for seed in range(seeds):
        world = make(seed)
        if world.full_vs_truth is not None:
            full_vs_truth.append(world.full_vs_truth)
        for f in fractions:
            out["uniform"][f].append(evaluate(world, plan_for(world, "uniform", f, seed).first_round(), seed))
        sequence, spent = adaptive_sequence(world, max(fractions), seed)
        plan_s.append(spent)
        full = plan_for(world, "adaptive", 1.0, seed).full
        for f in fractions:
            out["adaptive"][f].append(evaluate(world, sequence[: min(full, int(np.ceil(f * full)))], seed))
    world.plan_seconds = float(np.mean(plan_s))
    world.mean_full_vs_truth = float(np.mean(full_vs_truth)) if full_vs_truth else None
    return world, out


def print_table(world: World, results: dict, fractions: tuple[float, ...], seeds: int) -> dict:
    full = int((world.weight > 0).sum())
    print(f"\n## {world.name}: {len(world.models)} models, {len(world.pairs)} pairs, "
          f"{world.score.shape[0]} items, full design {2 * full} calls, {seeds} seeds "
          f"(adaptive plan: {world.plan_seconds:.2f} s per run to {max(fractions):.0%})")
    if world.mean_full_vs_truth is not None:
        print(f"(the full design's own ranking has tau {world.mean_full_vs_truth:.3f} "
              "with the planted one)")
    head = "| sampler | " + " | ".join(f"{f:.0%}" for f in fractions) + " |"
    print(head)
    print("|" + "---|" * (len(fractions) + 1))
    means = {}
    for kind, by_f in results.items():
        taus = [np.mean([t for t, _ in by_f[f]]) for f in fractions]
        means[kind] = dict(zip(fractions, taus))
        print(f"| {kind} tau | " + " | ".join(f"{t:.3f}" for t in taus) + " |")
    if world.truth is not None:
        for kind, by_f in results.items():
            cov = [np.mean([c for _, c in by_f[f]]) for f in fractions]
            print(f"| {kind} coverage | " + " | ".join(f"{c:.2f}" for c in cov) + " |")
    return means


def verdicts(world: World, means: dict, fractions: tuple[float, ...]) -> list[str]:
    lines = []
    ahead = sum(means["adaptive"][f] >= means["uniform"][f] - 1e-9 for f in fractions)
    lines.append(f"adaptive >= uniform at {ahead}/{len(fractions)} budgets")
    if world.truth is not None:
        for kind in ("adaptive", "uniform"):
            reach = [f for f in fractions if means[kind][f] >= 0.95]
            lines.append(f"{kind} tau >= 0.95 from {reach[0]:.0%} of calls" if reach
                         else f"{kind} tau < 0.95 at every budget up to {max(fractions):.0%}")
    else:
        halves = [(f, 2 * f) for f in fractions if 2 * f in fractions]
        hits = [f"{g:.0%}" for f, g in halves if means["adaptive"][f] >= means["uniform"][g] - 1e-9]
        lines.append(f"adaptive at half of uniform's calls reaches uniform's tau at uniform budgets: "
                     f"{', '.join(hits) or 'none'} (of {', '.join(f'{g:.0%}' for _, g in halves)})")
    return lines


# -- what any design could do on a close world ---------------------------------------------------


def fixed_designs(seeds: int) -> None:
    """Designs that know the answer, on the close 10-model world: judging only the neighbours (or
    the neighbours' neighbours) of the full-data ranking on every item, and a balanced design
    (every pair on the same share of items). If these cannot reach tau 0.95 at 30% of the calls,
    no sampler can be expected to."""
    rows: dict[str, list[float]] = {}
    for seed in range(seeds):
        world = synthetic(10, 200, 0.3, seed)
        n_items = world.score.shape[0]
        order = np.argsort(-world.full_theta)
        pair_of = {frozenset((int(a), int(b))): k for k, (a, b) in enumerate(zip(world.a, world.b))}
        for reach in (1, 2):
            ks = [pair_of[frozenset((int(order[i]), int(order[i + g])))]
                  for g in range(1, reach + 1) for i in range(len(order) - g)]
            cells = [(i, k) for k in ks for i in range(n_items)]
            share = len(cells) / (n_items * len(world.pairs))
            label = f"judge only the {'neighbours' if reach == 1 else 'two nearest on each side'} in the full-data order ({share:.0%})"
            rows.setdefault(label, []).append(_tau(world, cells))
        items = np.random.default_rng(seed).permutation(n_items)
        for f in (0.2, 0.3):
            cells = [(int(i), k) for k in range(len(world.pairs)) for i in items[: round(f * n_items)]]
            rows.setdefault(f"balanced: every pair on the same {f:.0%} of the items", []).append(_tau(world, cells))
    print(f"\n## designs that know the answer: synthetic 10 models, close (sd 0.3), 200 items, {seeds} seeds")
    print("| design | tau with the full-data ranking |")
    print("|---|---|")
    for label, taus in rows.items():
        print(f"| {label} | {np.mean(taus):.3f} |")


def _tau(world: World, cells: list[tuple[int, int]]) -> float:
    return float(kendalltau(fit_bradley_terry(world.wins(cells)), world.full_theta).statistic)


# -- the full path: import, then `harness run` answered by the replay judge ----------------------


def full_path(budget: float) -> None:
    from harness.importers.alpaca_eval import import_alpaca_eval
    from harness.importers.writer import write_imported_run
    from harness.running.execute import run_task
    from harness.running.options import RunOptions

    paths = sorted((DATA / "alpaca_eval").glob("*/annotations.json"))
    if not paths:
        print("\nfull path: skipped (no ../shared/data/alpaca_eval)")
        return
    work = Path(tempfile.mkdtemp(prefix="adaptive-bench-"))
    imported = import_alpaca_eval(paths)
    source = write_imported_run(imported, work / "imported").directory
    ranking = {r.split(",")[0]: float(r.split(",")[2]) for r in (source / "ranking.csv").read_text().splitlines()[1:]}
    task = _alpaca_task(paths, imported.config, work)
    print(f"\n## full path: harness run --judge replay:{source.name} on AlpacaEval at {budget:.0%} of the calls")
    print("| sampling | calls | saved | rounds | seconds | tau with the import's ranking |")
    print("|---|---|---|---|---|---|")
    for sampling in ("uniform", "adaptive"):
        started = time.perf_counter()
        result = run_task(task, RunOptions(
            judge=f"replay:{source}", out=work / sampling, progress=False, cache=False,
            overrides=(f"options.sampling={sampling}", f"options.budget={budget}"),
        ))
        seconds = time.perf_counter() - started
        facts = result.manifest["sampling"]
        got = result.ranking.set_index("model").score
        models = sorted(ranking)
        tau = kendalltau([ranking[m] for m in models], [got[m] for m in models]).statistic
        print(f"| {sampling} | {facts['calls']} of {facts['full_design_calls']} | {facts['calls_saved']} | "
              f"{facts['rounds']} | {seconds:.1f} | {tau:.3f} |")


def _alpaca_task(paths: list[Path], config: dict, work: Path) -> Path:
    """The AlpacaEval items with every model's answer, and a pairwise task over them (what the
    importer's dataset.jsonl and judge_task.yaml hold once it writes them)."""
    from harness.importers.common import text_id

    rows: dict[str, dict] = {}
    for path in paths:
        seen: dict[str, int] = {}
        for rec in json.loads(path.read_text()):
            item = text_id("ae", str(rec["instruction"]))
            seen[item] = seen.get(item, 0) + 1
            item = item if seen[item] == 1 else f"{item}-{seen[item]}"
            row = rows.setdefault(item, {"id": item, "instruction": rec["instruction"], "answers": {}})
            row["answers"][rec["generator_1"]] = rec["output_1"] or ""
            row["answers"][rec["generator_2"]] = rec["output_2"] or ""
    (work / "dataset.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows.values()), encoding="utf-8")
    options = {**config, "n_bootstrap": 200, "style_control": False}
    task = work / "task.yaml"
    task.write_text(json.dumps({"name": "alpaca-replay", "protocol": "pairwise", "dataset": {"path": "dataset.jsonl"},
                                "judge": "local", "options": options}), encoding="utf-8")
    return task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="only the 10-model worlds and the replays")
    parser.add_argument("--no-full-path", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    small = args.seeds * SMALL_WORLD_SEED_FACTOR
    makers: list[tuple[Callable[[int], World], int, bool]] = []  # (world per seed, seeds, replay)
    for m, n_items, sd in [(10, 200, 1.0), (10, 200, 0.3), (50, 40, 1.0), (50, 40, 0.3)]:
        if not (args.quick and m > 10):
            makers.append((lambda seed, m=m, n_items=n_items, sd=sd: synthetic(m, n_items, sd, seed),
                           small if m <= 10 else args.seeds, False))
    makers.append((lambda seed: synthetic_baseline(20, 400, 1.0, 1.5, seed), small, False))
    for load in (alpaca_world, wildbench_world):
        world = load()
        if world is None:
            print(f"{load.__name__}: skipped (no data under {DATA})", file=sys.stderr)
        else:
            makers.append((lambda seed, world=world: world, args.seeds * REPLAY_SEED_FACTOR, True))
    summary = []
    for make, seeds, replay in makers:
        fractions = REPLAY_FRACTIONS if replay else FRACTIONS
        world, results = measure(make, seeds, fractions)
        means = print_table(world, results, fractions, seeds)
        summary += [f"{world.name}: {line}" for line in verdicts(world, means, fractions)]
    print("\nmean Kendall tau with the full-data ranking; coverage: share of models whose "
          "95% item-bootstrap interval (judged items only) holds the planted strength")
    print("\n".join(f"- {line}" for line in summary))
    fixed_designs(small)
    if not args.no_full_path:
        full_path(0.25)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
