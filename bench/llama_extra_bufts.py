"""llama.cpp with and without extra weight buffer types (AMX/AVX-512 repacking): speed, and whether it runs.

    python bench/llama_extra_bufts.py [--reps 30] [--rounds 3] [--n-threads N]

The embedded judge loads its model with `use_extra_bufts=False` by default (harness.judges.llama_load)
because with them llama-cpp-python 0.3.36 crashes on AMX CPUs on any prompt of two or more tokens
(issue 25). This measures what the default costs. Each setting runs in its own child process, so
a crash is reported, not fatal: the child times evaluating a one-token prompt (which works even
where longer ones crash), then a 64-token prompt and a judge-sized 400-token one, `--reps` times
each from an empty context, in `--rounds` rounds that alternate the settings, and prints the
median per evaluation. Prints `crashed (SIGNAL)` for a
setting whose child died.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

PROMPTS = {"1 token": 1, "64 tokens": 64, "400 tokens": 400}


def child(use_extra_bufts: bool, reps: int, n_threads: int) -> None:
    """Print one JSON line per prompt size as it is measured (a crash keeps the ones before)."""
    from harness.judges import llama_load
    from harness.judges.local import default_model_path

    llm = llama_load.load_llama(str(default_model_path()), n_ctx=1024, n_threads=n_threads,
                                use_extra_bufts=use_extra_bufts)
    text = " ".join(f"word{i}" for i in range(400)).encode()
    tokens = llm.tokenize(text, add_bos=False)
    for name, size in PROMPTS.items():
        prompt = tokens[:size]
        times = []
        for _ in range(reps):
            llm.reset()
            started = time.perf_counter()
            llm.eval(prompt)
            times.append(time.perf_counter() - started)
        print(json.dumps({"prompt": name, "median_s": statistics.median(times)}), flush=True)


def measure(use_extra_bufts: bool, reps: int, n_threads: int) -> tuple[dict[str, float], str | None]:
    process = subprocess.run([sys.executable, __file__, "--child", str(use_extra_bufts).lower(), "--reps", str(reps),
                              "--n-threads", str(n_threads)], capture_output=True, text=True)
    results = {row["prompt"]: row["median_s"] for row in map(json.loads, process.stdout.splitlines())}
    crash = None
    if process.returncode < 0:
        crash = signal.Signals(-process.returncode).name
    elif process.returncode:
        crash = f"exit code {process.returncode}: {process.stderr.strip().splitlines()[-1:]}"
    return results, crash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", choices=("true", "false"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child == "true", args.reps, args.n_threads)
        return
    # Rounds alternate the settings, so a machine that gets busier slows both alike.
    medians: dict[bool, dict[str, list[float]]] = {False: {}, True: {}}
    crashes: dict[bool, str | None] = {False: None, True: None}
    for _ in range(args.rounds):
        for setting in (False, True):
            results, crash = measure(setting, args.reps, args.n_threads)
            crashes[setting] = crashes[setting] or crash
            for name, value in results.items():
                medians[setting].setdefault(name, []).append(value)
    print(f"median per prompt evaluation, {args.rounds} rounds x {args.reps} reps, {args.n_threads} threads")
    print(f"{'prompt':<12}{'use_extra_bufts=false':>24}{'use_extra_bufts=true':>24}")
    for name in PROMPTS:
        cells = []
        for setting in (False, True):
            values = medians[setting].get(name)
            cells.append(f"{statistics.median(values) * 1e3:.2f} ms" if values else f"crashed ({crashes[setting]})")
        print(f"{name:<12}{cells[0]:>24}{cells[1]:>24}")


if __name__ == "__main__":
    main()
