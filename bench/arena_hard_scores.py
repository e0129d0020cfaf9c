"""Time Arena-Hard's score columns (harness.stats.arena_hard_score) at leaderboard size.

A planted Arena-Hard result set: MODELS models judged against one baseline on ITEMS questions,
both games each, "much better" verdicts among them, and Arena-Hard style features for every
answer. Prints the wall time of each column's fit (v0.1 no control, style, length, markdown;
v2.0), which an `arena_hard` import or aggregate pays once per run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from harness.stats.arena_hard_score import STYLE, Games, v01_scores, v2_scores

OUTCOMES = np.array(["win_much", "win", "tie", "lose", "lose_much"])


def planted(models: int, items: int, seed: int) -> Games:
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.0, models)
    rows = []
    base_style = {f: rng.integers(50, 800, items) if f == "tokens" else rng.integers(0, 20, items) for f in STYLE}
    for m in range(models):
        style = {f: rng.integers(50, 800, items) if f == "tokens" else rng.integers(0, 20, items) for f in STYLE}
        for game in (1, 2):
            gap = strength[m] + 0.001 * (style["tokens"] - base_style["tokens"]) + rng.normal(0, 1, items)
            level = np.clip(2 - np.round(gap).astype(int), 0, 4)
            frame = pd.DataFrame({"item_id": np.arange(items).astype(str), "model": f"m{m:03d}",
                                  "outcome": OUTCOMES[level], "game": game})
            for f in STYLE:
                frame[f"model_{f}"], frame[f"base_{f}"] = style[f], base_style[f]
            rows.append(frame)
    return Games(pd.concat(rows, ignore_index=True), "base", {1: {"tie": items / 2}, 2: {"tie": items / 2}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=76, help="models besides the baseline (default 76)")
    parser.add_argument("--items", type=int, default=500, help="questions (default 500)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    games = planted(args.models, args.items, args.seed)
    print(f"{args.models} models x {args.items} questions x 2 games = {len(games.frame):,} games")
    for control in (None, "style", "length", "markdown"):
        start = time.perf_counter()
        v01_scores(games, control)
        print(f"v0.1 {control or 'no control':<10} {time.perf_counter() - start:6.2f} s")
    start = time.perf_counter()
    v2_scores(games)
    print(f"v2.0 score       {time.perf_counter() - start:6.2f} s")


if __name__ == "__main__":
    main()
