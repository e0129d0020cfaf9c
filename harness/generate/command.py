"""The `harness generate` subcommand: arguments, then the library call, then one summary line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import BadInput


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "generate", help="answer a dataset's instructions with a model (any judge backend) and add them to the dataset")
    parser.add_argument("target", metavar="TASK_OR_DATASET", help="a task file (its dataset) or a .jsonl/.csv/.parquet dataset")
    parser.add_argument("--model", required=True, metavar="SPEC",
                        help="the model, as a judge spec: local, openai:MODEL, vllm:MODEL, vllm-server:MODEL, llama-server[:GGUF]")
    parser.add_argument("--as", dest="name", required=True, metavar="NAME", help="the model's name in the dataset's answers")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="the dataset with the answers added (.jsonl or .csv; may be the input file itself)")
    parser.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server URL (key from OPENAI_API_KEY)")
    parser.add_argument("--system", metavar="TEXT", help="a system prompt for every conversation")
    parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0)")
    parser.add_argument("--max-tokens", type=int, default=512, help="longest answer per turn, in tokens (default 512)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--limit", type=int, help="answer only the first N items")
    parser.add_argument("--concurrency", type=int, help="calls in flight at once")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="give up on one call after this long")
    parser.add_argument("--model-option", dest="model_options", action="append", default=[], metavar="KEY=VALUE",
                        help="a backend setting, e.g. --model-option n_ctx=4096 or --model-option rpm=60")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace answers NAME already has in the dataset, or an --out file this generation did not write")
    parser.add_argument("--run-dir", metavar="DIR", help="where calls are stored for resuming (default: OUT.NAME.generate)")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the shared cache")
    parser.add_argument("--refresh", action="store_true", help="ask the model again even where the cache has an answer")
    parser.add_argument("--max-calls", type=int, metavar="N", help="stop cleanly after N calls; rerun to continue")
    parser.add_argument("--prices", metavar="FILE", help="price table (model -> {input, output} USD per 1M tokens)")
    parser.add_argument("--max-cost", type=float, metavar="USD", help="stop cleanly before spending more than USD (needs --prices)")


def run(args: argparse.Namespace, plugins: Any) -> int:
    from harness.generate.run import GenerateOptions, generate
    from harness.tasks import parse_key_value

    if args.max_calls is not None and args.max_calls < 1:
        raise BadInput("--max-calls must be at least 1")
    options = GenerateOptions(
        model=args.model, name=args.name, out=Path(args.out), base_url=args.base_url, system=args.system,
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.seed, limit=args.limit,
        concurrency=args.concurrency, timeout_s=args.timeout,
        model_options=dict(parse_key_value(pair, "--model-option") for pair in args.model_options),
        overwrite=args.overwrite, run_dir=Path(args.run_dir) if args.run_dir else None,
        progress=not args.no_progress, cache=not args.no_cache, refresh=args.refresh, max_calls=args.max_calls,
        prices=Path(args.prices) if args.prices else None, max_cost=args.max_cost,
    )
    result = generate(args.target, options, plugins)
    usage = result.manifest.get("usage", {})
    cost = usage.get("cost")
    spent = f", {cost['usd']:.4f} USD" if isinstance(cost, dict) and "usd" in cost else ""
    print(f"generated: {result.manifest.get('answered', 0)} of {result.manifest['items']} items answered by "
          f"{args.name} ({usage.get('calls', 0)} calls in all, {usage.get('tokens_in', 0)} tokens in, "
          f"{usage.get('tokens_out', 0)} out{spent}); run directory {result.run_dir}")
    if empty := result.manifest.get("empty_answers"):
        # kept (an empty answer is an answer, and a judge can rank it), but rarely what was meant:
        # a server that returned nothing, a model stopped at once, a content filter's empty reply
        print(f"warning: {empty} of {result.manifest.get('answered', 0)} answers are empty (the model returned no "
              "text); they are kept as answers: check the model and its --max-tokens")
    if result.complete:
        print(f"wrote {result.out}")
        return 0
    first = (result.top_error or "no answer").replace("\n", " ")[:300]
    print(f"harness: incomplete: {len(result.missing)} items have no answer (most common error: {first}); nothing "
          f"was written to {result.out}; run the same command to retry only those", file=sys.stderr)
    return 1
