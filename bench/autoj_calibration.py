"""A judge calibrated against Auto-J's human labels through the commands a user runs.

    python bench/autoj_calibration.py [--limit 160] [--max-chars 2500] [--judge local] [--out DIR]

1. `harness import autoj` turns the whole human-labelled file into a run judged by `human`.
2. The first `--limit` pairs that fit in `--max-chars` are split in two halves (alternating):
   a calibration half and an evaluation half, each judged by the judge through the real harness
   (bench/autoj_agreement.py's task: forced binary choice, soft logprob probabilities, both
   orders; default the embedded SmolLM2-135M, `local`), as two runs with the same judge setup.
3. `harness calibrate CAL_RUN --against HUMAN_RUN` measures the judge on the calibration half
   (ECE / Brier / log loss raw and out-of-fold) and writes the map.
4. `harness aggregate EVAL_RUN --calibration FILE` applies the map to the other half, so the
   calibrated win rate of response 1 is compared with the humans' on pairs the map never saw.

Printed: the calibration figures, and raw / calibrated / human win rates of response 1 on the
evaluation half. Runs resume from `--out` (the judging is the slow part).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from harness.cli import main as harness

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "prometheus_eval" / "autoj_pairwise.jsonl"
HUMAN_WIN = {0: 1.0, 1: 0.0, 2: 0.5}  # response 1's share of the human preference


def _agreement_bench() -> Any:
    spec = importlib.util.spec_from_file_location("autoj_agreement", REPO / "bench" / "autoj_agreement.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _run(argv: list[str]) -> None:
    code = harness(argv)
    if code != 0:
        raise SystemExit(f"autoj_calibration: `harness {' '.join(argv)}` exited {code}")


def judge_half(bench: Any, pairs: list[dict[str, Any]], work: Path, judge: str, base_url: str | None) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    task = bench.write_task(pairs, work)
    argv = ["run", str(task), "--judge", judge, "--out", str(work / "run"), "--no-progress"]
    if base_url:
        argv += ["--base-url", base_url]
    _run(argv)
    return work / "run"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=160, help="pairs judged (half calibrate, half evaluate)")
    parser.add_argument(
        "--max-chars", type=int, default=2500, help="skip pairs longer than this (prompt + both responses)"
    )
    parser.add_argument("--judge", default="local", help="judge SPEC (default: the embedded model)")
    parser.add_argument("--base-url", help="server URL for an openai:MODEL judge")
    parser.add_argument("--method", default="auto", choices=("isotonic", "platt", "auto"))
    parser.add_argument("--min-pairs", type=int, default=20, help="passed to harness calibrate")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, help="keep the runs here, and resume from them (default: a temp dir)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"autoj_calibration: {args.data} not found (the shared data folder is absent)", file=sys.stderr)
        return 2
    bench = _agreement_bench()
    pairs = bench.load_pairs(args.data, args.limit, args.max_chars)
    halves = {"calibrate": pairs[0::2], "evaluate": pairs[1::2]}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        human = work / "human"
        if not (human / "run.json").is_file():
            _run(["import", "autoj", str(args.data), "--out", str(human)])
        start = time.perf_counter()
        runs = {name: judge_half(bench, half, work / name, args.judge, args.base_url) for name, half in halves.items()}
        seconds = time.perf_counter() - start
        calibration = work / "calibration.json"
        print(f"\n== harness calibrate (calibration half, {len(halves['calibrate'])} pairs) ==")
        _run(
            [
                "calibrate",
                str(runs["calibrate"]),
                "--against",
                str(human),
                "--method",
                args.method,
                "--min-pairs",
                str(args.min_pairs),
                "--folds",
                str(min(5, len(halves["calibrate"]))),
                "--out",
                str(calibration),
            ]
        )
        print(f"\n== harness aggregate --calibration (evaluation half, {len(halves['evaluate'])} pairs) ==")
        _run(["aggregate", str(runs["evaluate"]), "--calibration", str(calibration)])
        scores = pd.read_csv(runs["evaluate"] / "scores.csv").set_index("model")
        human_rate = 100.0 * sum(HUMAN_WIN[int(p["label"])] for p in halves["evaluate"]) / len(halves["evaluate"])
        document = json.loads(calibration.read_text(encoding="utf-8"))
    print(f"\njudging: {2 * len(pairs)} calls in {seconds:.0f} s")
    row = scores.loc[bench.FIRST]
    print(
        f"response 1 win rate on the evaluation half: human {human_rate:.1f}, judge raw {row['win_rate']:.1f}, "
        f"calibrated {row['calibrated_win_rate']:.1f} [{row['calibrated_ci_low']:.1f}, {row['calibrated_ci_high']:.1f}]"
    )
    print(
        f"calibration half: n_pairs {document['n_pairs']}, ECE raw {document['ece_raw']:.4f} -> "
        f"{document['ece_calibrated']:.4f}, Brier {document['brier_raw']:.4f} -> {document['brier_calibrated']:.4f}, "
        f"log loss {document['log_loss_raw']:.4f} -> {document['log_loss_calibrated']:.4f} ({document['method']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
