"""Judge-call throughput of the real runner path against a loopback OpenAI-compatible server.

    python bench/judge_throughput.py [--calls 5000] [--concurrency 64] [--latency 0.05] [--reps 3]

The server answers every call after a fixed latency and never faults, so the ideal rate is
concurrency / latency (64 / 0.05 s = 1,280 calls/s). What a client achieves below that is its own
overhead plus the server's and the kernel's (on a small machine they share the cores), so a
`bare` row runs the same calls with aiohttp alone and no harness: what a plain client reaches here.
Calls go through `harness.running.execute.run_task` with an `openai:MODEL` judge pointed at
the server (progress off, judgment cache off), on a generated pairwise dataset of calls / 2 items
x 2 models (one pair, both orders).

CPU per call is `time.process_time()` of this process over the whole `run_task` (loading,
judging, aggregation, exports) divided by the calls. With the server in a thread of this process
that includes the server's own CPU; with the server in a separate process (multiprocessing) it is
the harness's alone. Each configuration is run `--reps` times and the median reported.

Transports are the OpenAI backend's `options.transport` (the CLI's `--judge-option
transport=...`): `aiohttp` is the lean raw-body path (harness.judges.http_transport, the default
when aiohttp is installed), `httpx` the openai SDK's own client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing import OpenAIServer, Reply


def responder(body: dict[str, Any]) -> Reply:
    return Reply(text="The first answer is better. [[2]]")


def write_task(directory: Path, calls: int) -> Path:
    items = calls // 2  # one pair (a, b), two orders per item
    data = directory / "data.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for i in range(items):
            handle.write(json.dumps({
                "id": f"q{i:05d}", "instruction": f"Benchmark question {i}: summarise topic {i % 97}.",
                "answers": {"a": f"Answer A to question {i}.", "b": f"A longer answer B to question {i}."},
            }) + "\n")
    task = directory / "task.yaml"
    task.write_text(json.dumps({
        "name": "bench", "protocol": "pairwise", "dataset": {"path": data.name}, "judge": "openai:bench",
        "options": {"n_bootstrap": 100},
    }), encoding="utf-8")
    return task


def _serve(latency: float, conn: Any) -> None:
    """Child process: run the server until told to stop, then report its counters."""
    with OpenAIServer(responder, latency_s=latency) as server:
        conn.send(server.base_url)
        conn.recv()
        conn.send({"requests": len(server.requests), "max_in_flight": server.max_in_flight,
                   "cpu_s": time.process_time(), "span_s": _arrival_span(server)})


def _arrival_span(server: OpenAIServer) -> float:
    """Seconds from the first request's arrival to the last one's answer (arrival + latency):
    the judging time as the server sees it, without the harness's start-up and wind-down."""
    arrivals = [s.at for s in server.served if s.path.endswith("/chat/completions")]
    return max(arrivals) - min(arrivals) + server.latency_s


class ThreadServer:
    def __init__(self, latency: float):
        self.server = OpenAIServer(responder, latency_s=latency)
        self.base_url = self.server.base_url

    def counters(self) -> dict[str, Any]:
        return {"requests": len(self.server.requests), "max_in_flight": self.server.max_in_flight, "cpu_s": None,
                "span_s": _arrival_span(self.server)}

    def close(self) -> None:
        self.server.close()


class ProcessServer:
    def __init__(self, latency: float):
        self.conn, child = mp.Pipe()
        self.proc = mp.get_context("spawn").Process(target=_serve, args=(latency, child), daemon=True)
        self.proc.start()
        self.base_url = self.conn.recv()

    def counters(self) -> dict[str, Any]:
        self.conn.send("stop")
        return self.conn.recv()

    def close(self) -> None:
        self.proc.join(10)


def measured(server_kind: str, args: argparse.Namespace, work: Callable[[str], Any]) -> dict[str, Any]:
    """`work(base_url)` against a fresh server: its result, wall and CPU time, the server's counters."""
    server = ThreadServer(args.latency) if server_kind == "thread" else ProcessServer(args.latency)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = work(server.base_url)
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        counters = server.counters()
    finally:
        server.close()
    return {"result": result, "wall_s": wall, "cpu_s": cpu, "span_s": counters["span_s"],
            "requests": counters["requests"], "server_cpu_s": counters["cpu_s"],
            "max_in_flight": counters["max_in_flight"]}


def one_run(task: Path, server_kind: str, transport: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        run = measured(server_kind, args, lambda url: run_task(task, RunOptions(
            judge="openai:bench", base_url=url, out=out, progress=False, cache=False,
            concurrency=args.concurrency, judge_options={"transport": transport})))
    result = run.pop("result")
    [invocation] = result.manifest["invocations"]
    assert invocation["calls"] == run["requests"] == args.calls, (invocation["calls"], run)
    assert result.manifest["counts"]["ok"] == args.calls, result.manifest["counts"]
    return {**run, "calls": invocation["calls"], "judge_wall_s": invocation["wall_s"]}


async def _bare_client(url: str, calls: int, concurrency: int, body: bytes) -> float:
    """Seconds for `calls` POSTs by `concurrency` workers with nothing but aiohttp: what a plain
    Python client reaches against this server on this machine."""
    left = calls
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(f"{url}/chat/completions", data=body,
                                        headers={"Content-Type": "application/json"}) as response:
                    json.loads(await response.read())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def bare_run(server_kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """The same calls without the harness (a body of the size the harness sends)."""
    body = json.dumps({"model": "bench", "messages": [{"role": "system", "content": "x" * 600},
                                                       {"role": "user", "content": "y" * 900}],
                       "temperature": 0.0, "max_tokens": 1024}).encode()
    run = measured(server_kind, args,
                   lambda url: asyncio.run(_bare_client(url, args.calls, args.concurrency, body)))
    assert run["requests"] == args.calls, run
    judge_wall = run.pop("result")  # the calls alone, without the session's start and end
    return {**run, "calls": args.calls, "judge_wall_s": judge_wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--transports", default="bare,httpx,aiohttp",
                        help="comma-separated: bare (aiohttp alone, no harness), httpx, aiohttp")
    parser.add_argument("--servers", default="thread,process", help="comma-separated: thread, process")
    args = parser.parse_args()
    ideal = args.concurrency / args.latency
    print(f"python {sys.version.split()[0]}; {args.calls} calls, concurrency {args.concurrency}, "
          f"server latency {args.latency * 1000:g} ms, ideal {ideal:,.0f} calls/s; median of {args.reps} runs")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        task = write_task(Path(workdir), args.calls)
        for transport in args.transports.split(","):
            for server_kind in args.servers.split(","):
                runs = [bare_run(server_kind, args) if transport == "bare" else one_run(task, server_kind, transport, args)
                        for _ in range(args.reps)]
                med = {key: statistics.median(r[key] for r in runs)
                       for key in ("wall_s", "judge_wall_s", "cpu_s", "span_s")}
                server_cpu = [r["server_cpu_s"] for r in runs if r["server_cpu_s"] is not None]
                calls = runs[0]["calls"]
                rate = calls / med["judge_wall_s"]
                served_rate = calls / med["span_s"]
                rows.append((transport, server_kind, calls, med["wall_s"], med["judge_wall_s"], rate, rate / ideal,
                             served_rate, served_rate / ideal, 1e3 * med["cpu_s"] / calls,
                             1e3 * statistics.median(server_cpu) / calls if server_cpu else None,
                             max(r["max_in_flight"] for r in runs)))
                print(f"  {transport}/{server_kind}: walls {[round(r['wall_s'], 2) for r in runs]}", flush=True)
    header = ("transport", "server", "calls", "wall s", "judging s", "calls/s", "of ideal", "served calls/s",
              "of ideal", "CPU ms/call", "server CPU ms/call", "max in flight")
    print()
    print(" | ".join(header))
    for t, s, calls, wall, jwall, rate, ratio, srate, sratio, cpu, scpu, mif in rows:
        cpu_note = f"{cpu:.3f}" + (" (incl. server)" if s == "thread" else "")
        t = "bare aiohttp (no harness)" if t == "bare" else t
        print(" | ".join([t, s, str(calls), f"{wall:.2f}", f"{jwall:.2f}", f"{rate:,.0f}", f"{ratio:.0%}",
                          f"{srate:,.0f}", f"{sratio:.0%}", cpu_note,
                          f"{scpu:.3f}" if scpu is not None else "-", str(mif)]))
    print("\ncalls/s = calls / judging wall time (run.json invocation wall_s, which includes starting the "
          "backend); served calls/s = calls / (last request's arrival at the server + latency - first "
          "request's arrival), the steady rate an outside server sees; wall s = whole run_task (load, judge, "
          "aggregate with 100 bootstrap resamples, export); CPU = time.process_time() of the harness process "
          "over run_task. The bare row is aiohttp alone, no harness, against the same server: what a plain Python client reaches on this machine; its judging time covers the calls only, its wall and CPU also the client session's start and end.")


if __name__ == "__main__":
    main()
