"""The harness's vLLM judges against vLLM alone, on the same engine and the same prompts.

    python bench/vllm_throughput.py --model $(python -m harness.testing.vllm_model) --items 25
    python bench/vllm_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --items 500    # a GPU

Both parts first send every call once untimed (warm-up: the CPU backend builds its kernels for
each new batch shape on first use), then alternate which side goes first from one rep to the next.

1. In-process: one `vllm.LLM` is loaded (start-up is not timed), then the same judge calls go
   through `harness run`'s path (`run_task` with a `vllm:` judge whose engine is that LLM, cache
   off) and through one `LLM.chat` batch of vLLM's own, with the sampling parameters and output
   constraint the harness would send. Rates and their ratio are printed (goal: the harness within
   10% of vLLM's own batch).
2. Server: vLLM's OpenAI server is started once (not timed), and the same calls go through the
   client of the `vllm-server:` judge (`run_task`) and through a bare aiohttp client posting the
   same request bodies, both with CONCURRENCY calls in flight.

The task is synthetic pairwise judging: ITEMS instructions x 2 models against a baseline x both
orders = 4 x ITEMS calls, forced choice A/B with logprobs (or `--reasoning`: free text up to
`--max-tokens`). Prefix caching is off so that neither side is served by the other's prompts.
Engine settings on the CPU are the judge's CPU defaults (eager, 2 GiB KV cache).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.hookspecs import hookimpl
from harness.models import JudgeRequest, JudgeSpec
from harness.plugins import load_plugins
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing.tasks import write_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vllm_smoke import synthetic_rows


class Judges:
    """Registers `vllm-bench` (a VLLMBackend on the bench's engine) and `vllm-bench-server` (the
    vllm-server judge's client on the bench's server); keeps the requests each was sent."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.server: Any = None
        self.server_version: str | None = None
        self.requests: list[JudgeRequest] = []

    @hookimpl
    def harness_register_judges(self, register: Callable[..., None]) -> None:
        from harness.judges.vllm_engine import VLLMBackend
        from harness.judges.vllm_server import VLLMServerClient

        judges = self

        class BenchBackend(VLLMBackend):
            def load(self) -> None:
                self._engine = judges.engine  # loaded once, before the clock starts

            def _judge_batch(self, requests: list[JudgeRequest]) -> list[Any]:
                judges.requests.extend(requests)
                return super()._judge_batch(requests)

        def server_client(spec: JudgeSpec) -> Any:
            spec = spec.model_copy(update={"base_url": judges.server.base_url})
            return VLLMServerClient(spec, None, key=judges.server.key, version=judges.server_version)

        register("vllm-bench", BenchBackend)
        register("vllm-bench-server", server_client)


def timed_run(task: Path, judge: str, options: dict[str, Any], plugins: Any,
              concurrency: int | None) -> tuple[float, int]:
    """Seconds the invocation spent judging (run.json's wall_s) and the calls made."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_task(task, RunOptions(out=Path(tmp) / "run", judge=judge, progress=False, cache=False,
                                           judge_options=options, concurrency=concurrency), plugins=plugins)
    invocation = result.manifest["invocations"][-1]
    counts = result.manifest["counts"]
    if counts["failed"] or counts["pending"]:
        raise SystemExit(f"vllm_throughput: error: the harness run did not finish cleanly: {counts}")
    return invocation["wall_s"], invocation["calls"]


def start_engine(spec: JudgeSpec, judges: Judges) -> None:
    """One `vllm.LLM` with the settings the `vllm:` judge would use, on `judges.engine` (its
    start-up printed, not timed)."""
    import vllm

    from harness.judges import vllm_support
    from harness.judges.vllm_engine import engine_kwargs

    settings = engine_kwargs(spec)
    if vllm_support.runs_on_cpu():
        settings.update(vllm_support.cpu_defaults(spec.options))
    print(f"engine: vllm.LLM({settings})", flush=True)
    started = time.perf_counter()
    judges.engine = vllm.LLM(**settings)
    print(f"engine start-up: {time.perf_counter() - started:.1f} s (not timed below)", flush=True)


def llm_chat_batch(spec: JudgeSpec, judges: Judges, requests: list[JudgeRequest]) -> Callable[[], float]:
    """A timer of vLLM's own batch: `requests` through one `LLM.chat` on the bench's engine, with
    the SamplingParams the backend builds for them; returns its seconds."""
    from harness.judges.vllm_engine import VLLMBackend

    helper = VLLMBackend(spec)
    asyncio.run(helper.start())
    conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
    params = [helper.sampling_params(r) for r in requests]

    def own_batch() -> float:
        started = time.perf_counter()
        outputs = judges.engine.chat(conversations, params, use_tqdm=False)
        assert len(outputs) == len(requests)
        return time.perf_counter() - started

    return own_batch


def alternate(
    reps: int, other: Callable[[], float], harness: Callable[[], tuple[float, int]], *, other_key: str,
    unit: str, harness_label: str, other_label: str, expected: int | None = None,
) -> list[dict[str, Any]]:
    """`reps` timings of the harness side and the other side, alternating which goes first, so
    neither always meets a warmer engine or server; one row and one printed line per rep."""
    rows = []
    for rep in range(reps):
        other_s = other() if rep % 2 else 0.0
        harness_s, calls = harness()
        other_s = other_s or other()
        if expected is not None:
            assert calls == expected
        rows.append({"rep": rep, "calls": calls, "harness_s": harness_s, other_key: other_s})
        print(f"  rep {rep}: {calls} {unit}  {harness_label} {calls / harness_s:.2f}/s  "
              f"{other_label} {calls / other_s:.2f}/s", flush=True)
    return rows


def in_process(args: argparse.Namespace, task: Path, judges: Judges, plugins: Any) -> list[dict[str, Any]]:
    spec = JudgeSpec.parse(f"vllm:{args.model}", options=engine_options(args))
    start_engine(spec, judges)
    requests = requests_of(task, plugins)
    own_batch = llm_chat_batch(spec, judges, requests)
    print(f"warm-up (not timed): {len(requests)} calls through LLM.chat in {own_batch():.1f} s", flush=True)
    rows = alternate(args.reps, own_batch,
                     lambda: timed_run(task, f"vllm-bench:{args.model}", spec.options, plugins, None),
                     other_key="vllm_s", unit="calls", harness_label="harness", other_label="LLM.chat",
                     expected=len(requests))
    judges.engine = None
    gc.collect()
    return rows


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"max_model_len": args.max_model_len, "enable_prefix_caching": False,
                               "batch_size": args.batch_size}
    if args.gpu_memory_utilization is not None:
        options["gpu_memory_utilization"] = args.gpu_memory_utilization
    return options


async def bare_client(base_url: str, key: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """Post every body with `concurrency` in flight, aiohttp alone; seconds taken."""
    import aiohttp

    slots = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {key}"}) as session:
        async def post(body: dict[str, Any]) -> None:
            async with slots, session.post(f"{base_url}/chat/completions", json=body) as response:
                payload = await response.read()
                if response.status != 200:
                    raise SystemExit(f"vllm_throughput: error: bare client got HTTP {response.status}: "
                                     f"{payload[:200]!r}")

        started = time.perf_counter()
        await asyncio.gather(*(post(body) for body in bodies))
        return time.perf_counter() - started


def served(args: argparse.Namespace, task: Path, judges: Judges, plugins: Any) -> list[dict[str, Any]]:
    from harness.judges.managed_server import ManagedServer
    from harness.judges.vllm_server import VLLMServerClient, vllm_server_command

    options = {k: v for k, v in engine_options(args).items() if k != "batch_size"}
    options["enable_prefix_caching"] = False
    spec = JudgeSpec.parse(f"vllm-server:{args.model}", options=options)
    command = vllm_server_command(spec)
    for notice in command.notices:
        print(f"note: {notice}")
    server = ManagedServer(command)
    started = time.perf_counter()
    asyncio.run(server.start())
    print(f"server start-up: {time.perf_counter() - started:.1f} s (not timed below)", flush=True)
    judges.server, judges.server_version = server, server.version()
    client = VLLMServerClient(JudgeSpec.parse(f"openai:{args.model}", base_url=server.base_url), None,
                              key=server.key, version=judges.server_version)
    bodies = [client._body(r) for r in requests_of(task, plugins)]

    def bare() -> float:
        return asyncio.run(bare_client(server.base_url, server.key, bodies, args.concurrency))

    try:
        print(f"warm-up (not timed): {len(bodies)} calls through the bare client in {bare():.1f} s", flush=True)
        return alternate(args.reps, bare,
                         lambda: timed_run(task, f"vllm-bench-server:{args.model}", {}, plugins, args.concurrency),
                         other_key="bare_s", unit="calls", harness_label="harness", other_label="bare aiohttp")
    finally:
        server.stop()


def requests_of(task: Path, plugins: Any) -> list[JudgeRequest]:
    """The task's judge calls, as the harness builds them."""
    from harness.registry import Registry
    from harness.running.execute import build_requests
    from harness.tasks import load_task

    loaded = load_task(task, Registry.collect(plugins.manager))
    return build_requests(loaded, plugins.manager)


def report(name: str, rows: list[dict[str, Any]], other: str, label: str) -> None:
    harness_rate = statistics.median(r["calls"] / r["harness_s"] for r in rows)
    other_rate = statistics.median(r["calls"] / r[other] for r in rows)
    print(f"{name}: harness {harness_rate:.2f} calls/s, {label} {other_rate:.2f} calls/s, "
          f"ratio {harness_rate / other_rate:.3f} (median of {len(rows)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Hugging Face id or folder")
    parser.add_argument("--items", type=int, default=25, help="4 calls per item")
    parser.add_argument("--reps", type=int, default=2, help="each pair alternates which side goes first")
    parser.add_argument("--reasoning", action="store_true", help="free-text verdicts instead of a forced choice")
    parser.add_argument("--max-tokens", type=int, default=128, help="with --reasoning")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=128, help="calls in flight to the server")
    parser.add_argument("--gpu-memory-utilization", type=float, help="GPU only; the CPU uses a fixed KV cache")
    parser.add_argument("--skip", choices=["in-process", "server"], action="append", default=[])
    args = parser.parse_args()

    judges = Judges()
    plugins = load_plugins(extra=[judges])
    with tempfile.TemporaryDirectory() as tmp:
        options = {"baselines": ["baseline"], "verdict_format": "binary", "reasoning": args.reasoning,
                   "reask": 0, "n_bootstrap": 20, "max_tokens": args.max_tokens}
        task = write_task(Path(tmp), name="vllm-throughput", protocol="pairwise", rows=synthetic_rows(args.items),
                          judge=f"vllm:{args.model}", options=options)
        results: dict[str, Any] = {"items": args.items, "reasoning": args.reasoning}
        if "in-process" not in args.skip:
            results["in_process"] = in_process(args, task, judges, plugins)
        if "server" not in args.skip:
            results["server"] = served(args, task, judges, plugins)
    if "in_process" in results:
        report("vllm: in-process", results["in_process"], "vllm_s", "vLLM LLM.chat")
    if "server" in results:
        report("vllm-server:", results["server"], "bare_s", "bare aiohttp")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BadInput as exc:
        sys.exit(f"vllm_throughput: error: {exc}")
    except Exception as exc:  # a failed engine start or run: one line, not a traceback
        sys.exit(f"vllm_throughput: error: {type(exc).__name__}: {exc}")
