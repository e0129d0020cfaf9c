"""`harness generate` with `vllm:` against vLLM's own `LLM.chat`, on one engine and the same prompts.

    python bench/generate_throughput.py --model $(python -m harness.testing.vllm_model) --items 32
    python bench/generate_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --items 1000    # a GPU

One `vllm.LLM` is loaded (start-up not timed). The same prompts (ITEMS single-turn instructions,
greedy, `--max-tokens` each, so both sides produce the same tokens) go through `harness generate`'s
path (`harness.generate.generate` with a `vllm:` backend whose engine is that LLM, cache off) and
through one `LLM.chat` batch with the SamplingParams the backend builds. Every prompt is sent once
untimed first (warm-up), then the sides alternate which goes first from one rep to the next. The
medians of the rates and their ratio are printed (goal: the harness within 10% of `LLM.chat`).
The harness's time is its invocation's `wall_s` in run.json: calls, storing every answer durably,
and the cache lookups it would make (here off), not loading the dataset or writing the output.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.models import JudgeSpec
from harness.plugins import load_plugins

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vllm_throughput import Judges, alternate, llm_chat_batch, start_engine


def instructions(n: int) -> list[dict[str, Any]]:
    topics = ["rivers", "bread", "glaciers", "chess", "bees", "lighthouses", "volcanoes", "violins"]
    return [{"id": f"g{i:04d}", "instruction": f"Write two sentences about {topics[i % len(topics)]} (note {i})."}
            for i in range(n)]


def timed_generate(dataset: Path, model: str, options: dict[str, Any], max_tokens: int, plugins: Any) -> tuple[float, int]:
    from harness.generate import GenerateOptions, generate

    with tempfile.TemporaryDirectory() as tmp:
        result = generate(dataset, GenerateOptions(
            model=f"vllm-bench:{model}", name="bench", out=Path(tmp) / "out.jsonl", max_tokens=max_tokens,
            model_options=options, progress=False, cache=False), plugins)
    invocation = result.manifest["invocations"][-1]
    if not result.complete:
        raise SystemExit(f"generate_throughput: error: the generation did not finish: {len(result.missing)} missing")
    return invocation["wall_s"], invocation["calls"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face id or folder")
    parser.add_argument("--items", type=int, default=32, help="one call per item")
    parser.add_argument("--reps", type=int, default=3, help="each rep alternates which side goes first")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--gpu-memory-utilization", type=float, help="GPU only; the CPU uses a fixed KV cache")
    args = parser.parse_args()

    from harness.generate.requests import GenerationSettings, GenerationTask
    from harness.generate.source import read_source

    options: dict[str, Any] = {"max_model_len": args.max_model_len, "enable_prefix_caching": False,
                               "batch_size": args.batch_size}
    if args.gpu_memory_utilization is not None:
        options["gpu_memory_utilization"] = args.gpu_memory_utilization
    spec = JudgeSpec.parse(f"vllm:{args.model}", options=options)
    judges = Judges()
    plugins = load_plugins(extra=[judges])
    start_engine(spec, judges)

    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "items.jsonl"
        dataset.write_text("".join(json.dumps(row) + "\n" for row in instructions(args.items)))
        task = GenerationTask(read_source(dataset).items, GenerationSettings(model=spec.label, max_tokens=args.max_tokens))
        requests = task.build_requests()
        own_batch = llm_chat_batch(spec, judges, requests)
        print(f"warm-up (not timed): {len(requests)} prompts through LLM.chat in {own_batch():.1f} s", flush=True)
        rows = alternate(args.reps, own_batch,
                         lambda: timed_generate(dataset, args.model, options, args.max_tokens, plugins),
                         other_key="vllm_s", unit="prompts", harness_label="harness generate",
                         other_label="LLM.chat", expected=len(requests))
    harness_rate = statistics.median(r["calls"] / r["harness_s"] for r in rows)
    own_rate = statistics.median(r["calls"] / r["vllm_s"] for r in rows)
    print(f"generate vllm: in-process: harness {harness_rate:.2f} prompts/s, vLLM LLM.chat {own_rate:.2f} prompts/s, "
          f"ratio {harness_rate / own_rate:.3f} (median of {len(rows)})")
    print(json.dumps({"items": args.items, "max_tokens": args.max_tokens, "rows": rows}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BadInput as exc:
        sys.exit(f"generate_throughput: error: {exc}")
    except Exception as exc:  # a failed engine start or run: one line, not a traceback
        sys.exit(f"generate_throughput: error: {type(exc).__name__}: {exc}")
