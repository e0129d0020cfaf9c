"""What the llama.cpp worker process costs per judge call: the same calls in-thread and in the worker.

    python bench/llama_worker_overhead.py [--calls 40] [--n-threads N]

The embedded judge runs llama.cpp in a worker process (harness.judges.llama_worker) so that a
native crash cannot take the run with it. The price is one pickled request and one pickled answer
on a local socket per call. This loads the default GGUF twice (without extra buffer types, the
judge's default): once in this process, driven by LlamaEngine as the judge did before, and once in
a worker. Both answer the same demo-like pairwise calls (a question, two answers, the verdict
scored as one of A/B: prefix reuse applies to the shared system prompt), interleaved call by call
so a busy machine slows both alike, each call twice: new, then again with its whole prompt in the
context (almost no model work left, so what remains is mostly the per-call overhead). Prints the
median per call of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from harness.judges import llama_load
from harness.judges.llama_engine import LlamaEngine
from harness.judges.llama_worker import EngineCall, EngineSettings, EngineWorker
from harness.judges.local import default_model_path

SYSTEM = ("You are a careful judge. Compare two answers to the user's question and say which is better. "
          "Answer with the letter only.")


def calls(n: int) -> list[EngineCall]:
    out = []
    for i in range(n):
        question = f"What is {i} plus {i}, and why?"
        user = (f"Question: {question}\n\n[Answer A]\nIt is {2 * i}, because adding {i} to itself doubles it.\n\n"
                f"[Answer B]\nProbably {2 * i + 1}.\n\nWhich answer is better? Reply A or B.")
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
        out.append(EngineCall(messages=messages, choices=("A", "B"), max_tokens=4, temperature=0.0, seed=0,
                              top_logprobs=10))
    return out


def in_thread(engine: LlamaEngine, call: EngineCall) -> object:
    """What LocalBackend did before the worker: the engine in the judge's own process."""
    prompt = engine.prompt_tokens(call.messages)
    assert call.choices is not None
    return engine.score_choices(prompt, call.choices, call.top_logprobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--n-threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    path = str(default_model_path())
    settings = EngineSettings(model_path=path, n_ctx=2048, n_threads=args.n_threads)
    engine = LlamaEngine(llama_load.load_llama(path, n_ctx=settings.n_ctx, n_threads=settings.n_threads))
    worker = EngineWorker(settings)
    worker.start()
    fresh: dict[str, list[float]] = {"in-thread": [], "worker": []}
    cached: dict[str, list[float]] = {"in-thread": [], "worker": []}
    ways = {"in-thread": lambda call: in_thread(engine, call), "worker": worker.complete}
    try:
        for i, call in enumerate(calls(args.calls)):
            # Alternate who goes first: both map the same GGUF pages, so the second finds them warm.
            order = ["in-thread", "worker"] if i % 2 == 0 else ["worker", "in-thread"]
            for timings in (fresh, cached):  # the same call again: its prompt is all in the cache
                texts = set()
                for way in order:
                    started = time.perf_counter()
                    texts.add(ways[way](call).text)  # type: ignore[attr-defined]
                    timings[way].append(time.perf_counter() - started)
                assert len(texts) == 1, "the worker must answer as the engine does in-thread"
    finally:
        worker.close()
        engine.llm.close()
    print(f"{args.calls} calls, {args.n_threads} threads, llama-cpp-python {worker.facts.get('llama_cpp_python', '?')}")
    for title, timings in (("new call", fresh), ("same call again (prompt cached)", cached)):
        thread, work = statistics.median(timings["in-thread"]), statistics.median(timings["worker"])
        print(f"{title}: median per call in-thread {thread * 1e3:.2f} ms, worker {work * 1e3:.2f} ms, "
              f"difference {(work - thread) * 1e3:+.2f} ms ({(work - thread) / thread:+.1%})")


if __name__ == "__main__":
    main()
