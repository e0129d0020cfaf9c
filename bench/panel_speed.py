"""Does a judge panel cost the time of its slowest judge, not the sum of its judges?

    python bench/panel_speed.py [--judges 3] [--items 40] [--latency 0.05] [--concurrency 4]

Each judge is its own loopback OpenAI-compatible server (harness.testing.planted_panel.PanelJudge)
answering rubric calls after `--latency` seconds. One run with a single judge, then one run with
a panel of `--judges` judges (after an untimed warm-up run), each judge with `--concurrency` calls in flight, the judgment cache
off. The panel's lanes run at once, so its wall time should stay near the single judge's (the
ratio printed), while it makes `--judges` times the calls. Also prints the pooling time (the
Rasch fit and the per-judge aggregates) measured by `harness aggregate` on the panel run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.recompute import recompute
from harness.testing.planted_panel import PanelJudge, panel_rows

QUALITY = {"m0": 4.0, "m1": 5.0, "m2": 6.0, "m3": 7.0}
RUBRIC = {"criterion": "overall quality", "scores": {s: f"quality level {s}" for s in range(1, 11)}}


def write_task(directory: Path, judges: list[PanelJudge], items: int, concurrency: int) -> Path:
    (directory / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in panel_rows(QUALITY, items)))
    task = directory / f"task-{len(judges)}.yaml"
    entries = [{"spec": j.spec, "base_url": j.base_url, "concurrency": concurrency} for j in judges]
    task.write_text(json.dumps({"name": "bench", "protocol": "rubric", "dataset": {"path": "data.jsonl"},
                                "judges": entries, "options": {"rubric": RUBRIC, "reasoning": False,
                                                               "n_bootstrap": 200}}))
    return task


def timed_run(task: Path, out: Path) -> tuple[float, float]:
    """Wall seconds of the whole run, and of its judging alone (run.json's invocation wall_s)."""
    started = time.perf_counter()
    result = run_task(task, RunOptions(out=out, progress=False, cache=False))
    return time.perf_counter() - started, float(result.manifest["invocations"][-1]["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", type=int, default=3)
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    judges = [PanelJudge(f"j{k}", QUALITY, severity=0.5 * k) for k in range(args.judges)]
    for judge in judges:
        judge.server.latency_s = args.latency
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            one = write_task(root, judges[:1], args.items, args.concurrency)
            timed_run(one, root / "warm-up")  # imports and plugin loading, paid once per process
            single = timed_run(one, root / "single")
            panel = timed_run(write_task(root, judges, args.items, args.concurrency), root / "panel")
            started = time.perf_counter()
            recompute(root / "panel")
            pooling = time.perf_counter() - started
    finally:
        for judge in judges:
            judge.close()
    calls = args.items * len(QUALITY)
    print(f"requests per judge: {calls}; latency {args.latency * 1000:.0f} ms; concurrency {args.concurrency} per judge")
    print(f"single judge: {single[0]:.2f} s in all, judging {single[1]:.2f} s ({calls / single[1]:.0f} calls/s)")
    print(f"panel of {args.judges}: {panel[0]:.2f} s in all, judging {panel[1]:.2f} s "
          f"({args.judges * calls / panel[1]:.0f} calls/s); panel / single judging time: {panel[1] / single[1]:.2f} "
          f"(1.0 = judges fully concurrent, {args.judges} = one after another)")
    print(f"harness aggregate on the panel run (Rasch fit, per-judge aggregates, agreement): {pooling:.2f} s")


if __name__ == "__main__":
    main()
