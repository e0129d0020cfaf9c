"""A 58-model AlpacaEval folder built from the real annotation files in ../shared/data/alpaca_eval.

The shared data holds 6 models (805 judgments each, GPT-4-turbo judge); the published leaderboard
has 200+. The speed benchmarks need the size of a real leaderboard import, so each real file is
reused for several model names: copy k of model m is named `m` (k = 0) or `m~k`, its answers are
cut to (1 - 0.04 k) of their length (so the length features differ between copies) and its
preferences are moved by a seeded noise clipped to [1, 2] (so the fits differ). The instructions
and the baseline's answers stay the real ones. 57 models + the baseline = 58 models, 45,885
verdicts: the shape of the import issue 21 was measured on.

    python bench/alpaca_case.py OUT_DIR [--models 57]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "alpaca_eval"


def source_files(source: Path = SOURCE) -> list[Path]:
    """The real annotation files, sorted by model; empty when the shared data is absent."""
    return sorted(source.glob("*/annotations.json"))


def write_case(out: Path, models: int = 57, seed: int = 0, source: Path = SOURCE) -> list[Path]:
    """Write `models` annotation files under `out` (one folder each); returns their paths."""
    real = source_files(source)
    if not real:
        raise SystemExit(f"{source}: no AlpacaEval annotations (the shared data folder is absent)")
    loaded = [json.loads(path.read_text()) for path in real]
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(models):
        copy, records = divmod(index, len(loaded))
        records = loaded[records]
        name = records[0]["generator_2"] + (f"~{copy}" if copy else "")
        keep = 1.0 - 0.04 * copy
        noise = rng.normal(0.0, 0.08 * copy, len(records)) if copy else np.zeros(len(records))
        rows = []
        for record, shift in zip(records, noise):
            row = dict(record, generator_2=name, output_2=record["output_2"][: int(len(record["output_2"]) * keep)])
            if copy and record.get("preference") is not None:
                row["preference"] = float(min(2.0, max(1.0, float(record["preference"]) + shift)))
            rows.append(row)
        path = out / name / "annotations.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rows))
        paths.append(path)
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--models", type=int, default=57)
    args = parser.parse_args()
    written = write_case(args.out, args.models)
    print(f"{len(written)} annotation files under {args.out}")
