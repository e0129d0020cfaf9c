"""How fast `--judge replay:RUN_DIR` answers: requests per second through the real runner.

    python bench/replay_speed.py [--items 500] [--models 6] [--reps 3]

A source run is written directly (its `verdicts.jsonl`): every pair of `--models` models on
`--items` items, one answer order only, each verdict with a logprob distribution, so half of the
replayed requests are mirrored and every answer carries logprobs for the parser to read. The
replay then runs the full pairwise design (both orders) through `harness.running.execute.run_task`
(progress off). Printed per rep, median of `--reps`:

- `judge phase`: requests / wall time of the judging (the run's invocation `wall_s`: lookups,
  the protocol's parsing, verdicts written to the crash-safe store), the replay rate proper;
- `whole run`: requests / wall time of `run_task` (loading the dataset and the source run,
  rendering prompts, judging, aggregation with bootstrap, exports);
- `lookups`: the backend's `answer()` alone, in a loop.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from itertools import combinations
from pathlib import Path

from harness.judges.replay import ReplayBackend
from harness.models import JudgeSpec
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.tasks import load_task

LEVELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")


def write_source(directory: Path, items: int, models: list[str]) -> tuple[Path, Path]:
    """A dataset, a task file, and a run directory holding one order of every pair's verdict."""
    rng = random.Random(0)
    data = directory / "data.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for i in range(items):
            handle.write(json.dumps({"id": f"q{i:05d}", "instruction": f"Question {i}?",
                                     "answers": {m: f"{m}'s answer to question {i}." for m in models}}) + "\n")
    task = directory / "task.yaml"
    task.write_text(json.dumps({"name": "replay-bench", "protocol": "pairwise", "dataset": {"path": data.name},
                                "judge": "local", "options": {"n_bootstrap": 100}}), encoding="utf-8")
    source = directory / "source"
    source.mkdir()
    with (source / "verdicts.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(items):
            for first, second in combinations(models, 2):
                weights = [rng.random() for _ in LEVELS]
                probs = {lv: round(w / sum(weights), 6) for lv, w in zip(LEVELS, weights, strict=True)}
                level = max(probs, key=probs.__getitem__)
                handle.write(json.dumps({
                    "request_id": f"q{i:05d}::{first}::{second}::ab", "request_key": f"{i}-{first}-{second}",
                    "item_id": f"q{i:05d}", "judge": "bench", "status": "ok",
                    "data": {"model_a": first, "model_b": second, "order": "ab", "level": level, "probs": probs},
                }) + "\n")
    return task, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    models = [f"model{m}" for m in range(args.models)]
    with tempfile.TemporaryDirectory() as tmp:
        task, source = write_source(Path(tmp), args.items, models)
        loaded = load_task(task, Registry.collect(load_plugins().manager))
        requests = loaded.task.build_requests()
        backend = ReplayBackend(JudgeSpec.parse(f"replay:{source}"))
        backend.bind_task(loaded.task)  # as the run does: the protocol's replay view finds and answers
        started = time.perf_counter()
        for request in requests:
            backend.answer(request)
        lookups = len(requests) / (time.perf_counter() - started)
        judge_rates, run_rates = [], []
        for rep in range(args.reps):
            out = Path(tmp) / f"replay{rep}"
            started = time.perf_counter()
            run_task(task, RunOptions(judge=f"replay:{source}", out=out, progress=False))
            whole = time.perf_counter() - started
            manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
            assert manifest["counts"]["ok"] == len(requests), manifest["counts"]
            judge_s = manifest["invocations"][-1]["wall_s"]
            judge_rates.append(len(requests) / judge_s)
            run_rates.append(len(requests) / whole)
            print(f"rep {rep}: {len(requests)} requests, judge phase {judge_s:.2f} s "
                  f"({judge_rates[-1]:,.0f} req/s), whole run {whole:.2f} s ({run_rates[-1]:,.0f} req/s)")
    print(f"replay of {args.items} items x {args.models} models, all pairs, both orders ({len(requests)} requests, "
          f"half mirrored, every answer with logprobs):")
    print(f"  judge phase  {statistics.median(judge_rates):>10,.0f} requests/s (median of {args.reps})")
    print(f"  whole run    {statistics.median(run_rates):>10,.0f} requests/s")
    print(f"  lookups      {lookups:>10,.0f} requests/s (backend.answer alone)")


if __name__ == "__main__":
    main()
