"""Agreement and calibration of the embedded judge against Auto-J's human pairwise labels.

    python bench/autoj_agreement.py [--limit 100] [--max-chars 4000] [--folds 5] [--out DIR]

Reads the first `--limit` pairs of `../shared/data/prometheus_eval/autoj_pairwise.jsonl` (human
`label`: 0 = response 1 better, 1 = response 2 better, 2 = tie) whose prompt and two responses
together fit in `--max-chars` characters (the 135M judge's context and CPU time), and judges
them through the real harness: a pairwise task with a forced binary choice, soft probabilities
from the verdict token's logprobs, and both presentation orders (tasks/demo.yaml's setup), with
the EMBEDDED judge (`local`, SmolLM2-135M, offline, ~1-1.5 s a call on 2 CPU cores).

Printed:
- agreement with the humans: accuracy with ties (a judge whose two orders disagree has tied;
  a tie against a human win counts half), Cohen's kappa on the three labels; the same for the
  label implied by P(response 1 better) averaged over both orders (position-debiased);
- calibration of P(response 1 better) (averaged over both orders) on the pairs the humans did
  not tie, raw and after isotonic / Platt maps scored out-of-fold: ECE, Brier, log loss;
- bias diagnostics of the judge's decisions: first-position win rate, position consistency,
  P(longer answer wins).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api import LoadedRun
from harness.api import run as run_task
from harness.stats.agreement import accuracy_with_ties, cohens_kappa
from harness.stats.bias import battles_from_verdicts, length_bias, position_bias
from harness.stats.calibration import calibration_report

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "prometheus_eval" / "autoj_pairwise.jsonl"
FIRST, SECOND = "response_1", "response_2"
HUMAN_OUTCOME = {0: 1.0, 1: 0.0, 2: 0.5}  # P(response 1 better) implied by the human label


def load_pairs(path: Path, limit: int, max_chars: int) -> list[dict[str, Any]]:
    """The first `limit` pairs (in file order) short enough for the judge, each with its line number."""
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle):
            row = json.loads(line)
            if len(row["prompt"]) + len(row["response 1"]) + len(row["response 2"]) > max_chars:
                continue
            pairs.append({"id": f"autoj-{line_number:04d}", **row})
            if len(pairs) == limit:
                break
    return pairs


def write_task(pairs: list[dict[str, Any]], directory: Path) -> Path:
    """A pairwise task file and its dataset: the two responses are the two "models"."""
    with (directory / "autoj.jsonl").open("w", encoding="utf-8") as handle:
        for pair in pairs:
            handle.write(json.dumps({
                "id": pair["id"], "category": pair["scenario"], "instruction": pair["prompt"],
                "answers": {FIRST: pair["response 1"], SECOND: pair["response 2"]},
            }) + "\n")
    task = directory / "autoj.yaml"
    task.write_text(json.dumps({
        "name": "autoj_agreement",
        "description": "Auto-J human-labelled pairs judged by the embedded model",
        "protocol": "pairwise",
        "dataset": {"path": "autoj.jsonl"},
        "judge": "local",
        "template": "pairwise_small.jinja",
        "options": {"baselines": [SECOND], "verdict_format": "binary", "reasoning": False, "soft": True},
    }), encoding="utf-8")
    return task


def _p_first_position(row: pd.Series) -> float:
    """P(the answer shown first wins) from the verdict's level distribution (ties half)."""
    probs = row.get("probs")
    if not isinstance(probs, dict) or not probs:
        probs = {row["level"]: 1.0}
    total = sum(probs.values()) or 1.0
    a = probs.get("A>>B", 0.0) + probs.get("A>B", 0.0) + 0.5 * probs.get("A=B", 0.0)
    return a / total


def judged_pairs(run: LoadedRun, pairs: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per pair judged in both orders: P(response 1 better) per order and averaged,
    the judge's label (0/1, or 2 when the two orders disagree) and the human label."""
    verdicts = run.verdicts
    ok = verdicts[verdicts["status"] == "ok"].copy()
    ok["p_first"] = ok.apply(_p_first_position, axis=1)
    ok["p_response1"] = np.where(ok["model_a"] == FIRST, ok["p_first"], 1.0 - ok["p_first"])
    ok["pick_response1"] = np.where(
        ok["model_a"] == FIRST, ok["level"].str.startswith("A"), ok["level"].str.startswith("B")
    )
    wide = ok.pivot_table(index="item_id", columns="order", values=["p_response1", "pick_response1"], aggfunc="first")
    wide = wide.dropna()
    labels = {p["id"]: int(p["label"]) for p in pairs}
    frame = pd.DataFrame({
        "item_id": wide.index,
        "p_ab": wide[("p_response1", "ab")].to_numpy(float),
        "p_ba": wide[("p_response1", "ba")].to_numpy(float),
        "pick_ab": wide[("pick_response1", "ab")].astype(bool).to_numpy(),
        "pick_ba": wide[("pick_response1", "ba")].astype(bool).to_numpy(),
    })
    frame["p_response1"] = (frame["p_ab"] + frame["p_ba"]) / 2
    frame["judge_label"] = np.where(
        frame["pick_ab"] & frame["pick_ba"], 0, np.where(~frame["pick_ab"] & ~frame["pick_ba"], 1, 2)
    )
    # The label the averaged probability implies: the judge's position-debiased preference.
    frame["soft_label"] = np.where(frame["p_response1"] > 0.5, 0, np.where(frame["p_response1"] < 0.5, 1, 2))
    frame["human_label"] = frame["item_id"].map(labels).astype(int)
    frame["human_outcome"] = frame["human_label"].map(HUMAN_OUTCOME)
    return frame


def evaluate(frame: pd.DataFrame, run: LoadedRun, *, folds: int = 5, n_bins: int = 10) -> dict[str, Any]:
    """Agreement, calibration and bias figures for the judged pairs."""
    report: dict[str, Any] = {
        "pairs": len(frame),
        "agreement": accuracy_with_ties(frame["judge_label"], frame["human_label"], tie_label=2),
        "kappa": cohens_kappa(frame["judge_label"], frame["human_label"], labels=[0, 1, 2]),
        "soft_agreement": accuracy_with_ties(frame["soft_label"], frame["human_label"], tie_label=2),
        "soft_kappa": cohens_kappa(frame["soft_label"], frame["human_label"], labels=[0, 1, 2]),
    }
    decided = frame[frame["human_label"] != 2]
    k = min(folds, len(decided))
    if k >= 2:
        report["calibration"] = calibration_report(
            decided["p_response1"], decided["human_outcome"], folds=k, n_bins=n_bins
        )
    battles = battles_from_verdicts(run.verdicts)
    report["position"] = position_bias(battles)
    report["length"] = length_bias(battles)
    return report


def judge_autoj(
    pairs: list[dict[str, Any]], work: Path, *, judge: str = "local", base_url: str | None = None
) -> LoadedRun:
    task = write_task(pairs, work)
    return run_task(task, judge=judge, base_url=base_url, out=work / "run")


def print_report(report: dict[str, Any], seconds: float, calls: int) -> None:
    agreement = report["agreement"]
    print(f"pairs judged in both orders: {report['pairs']}  ({calls} judge calls in {seconds:.0f} s, "
          f"{seconds / max(calls, 1):.2f} s/call)")
    print(f"human tie rate {agreement['human_tie_rate']:.3f}; judge tie (orders disagree) rate {agreement['judge_tie_rate']:.3f}")
    print(f"accuracy (ties half)        {agreement['accuracy']:.3f}  n={agreement['n']}")
    print(f"exact agreement (3 labels)  {agreement['exact']:.3f}  n={agreement['n']}")
    print(f"accuracy, human non-tie     {agreement['accuracy_non_tie']:.3f}  n={agreement['n_non_tie']}")
    print(f"accuracy, neither tied      {agreement['accuracy_decisive']:.3f}  n={agreement['n_decisive']}")
    print(f"Cohen's kappa (3 labels)    {report['kappa']:.3f}")
    soft = report["soft_agreement"]
    print(f"label from P(response 1) averaged over orders: accuracy, human non-tie {soft['accuracy_non_tie']:.3f} "
          f"n={soft['n_non_tie']}; ties half, all pairs {soft['accuracy']:.3f}; kappa {report['soft_kappa']:.3f}")
    if "calibration" in report:
        print("\ncalibration of P(response 1 better) on human non-tie pairs (mapped rows out-of-fold):")
        print(report["calibration"].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    pos, length = report["position"], report["length"]["longer_wins"]
    fp = pos["first_position_win_rate"]
    print(f"\nfirst-position win rate  {fp['rate']:.3f} [{fp['ci_low']:.3f}, {fp['ci_high']:.3f}] n={fp['n']}")
    cons = pos["consistency"]
    print(f"position consistency     {cons['rate']:.3f} [{cons['ci_low']:.3f}, {cons['ci_high']:.3f}] n={cons['n']}")
    print(f"P(longer answer wins)    {length['rate']:.3f} [{length['ci_low']:.3f}, {length['ci_high']:.3f}] n={length['n']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=100, help="number of pairs (2 judge calls each)")
    parser.add_argument("--max-chars", type=int, default=4000, help="skip pairs longer than this (prompt + both responses)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds for the calibration maps")
    parser.add_argument("--bins", type=int, default=10, help="equal-width bins for ECE")
    parser.add_argument("--judge", default="local", help="judge SPEC (default: the embedded model)")
    parser.add_argument("--base-url", help="server URL for an openai:MODEL judge")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="keep the task and run directory here (default: a temp dir)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"autoj_agreement: {args.data} not found (the shared data folder is absent)", file=sys.stderr)
        return 2
    pairs = load_pairs(args.data, args.limit, args.max_chars)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        run = judge_autoj(pairs, work, judge=args.judge, base_url=args.base_url)
        seconds = time.perf_counter() - start
        report = evaluate(judged_pairs(run, pairs), run, folds=args.folds, n_bins=args.bins)
    print_report(report, seconds, 2 * len(pairs))
    return 0 if report["pairs"] else 1


if __name__ == "__main__":
    sys.exit(main())
