"""Harness CPU per additional judge call (issue 21, goal 3: at most 0.5 ms), cache off and on.

    python bench/judge_call_cpu.py [--calls 2000,6000] [--reps 3] [--concurrency 64] [--latency 0.005]
    python bench/judge_call_cpu.py --profile 6000   # one run (cache on) under cProfile: where the CPU goes
    python bench/judge_call_cpu.py --baseline ../main --calls 1000,9000 --reps 6   # this checkout vs another

Each run is the real `harness.running.execute.run_task` path (an `openai:MODEL` judge, the aiohttp
transport, progress off) against the loopback OpenAI server of harness.testing, which runs in a
separate process and answers at once with a canned verdict, so the CPU measured is the harness's
own: `resource.getrusage(RUSAGE_SELF)` user + system time of this process over `run_task`. Fixed
costs (loading the task, aggregation with its bootstrap, exports) are the same for any number of
calls, so the CPU per *additional* call is the slope between two run sizes:
(CPU(large) - CPU(small)) / (large - small), from the medians of `--reps` runs of each size.

`cache off` runs with the judgment cache disabled; `cache on` with a fresh cache file per run
(every call a miss whose answer is then recorded: the cost a first run pays).

On a shared machine one size's CPU swings by 10-20% from run to run: to compare two versions of
the harness, `--baseline DIR` (another checkout, say of main) runs each run in a fresh process
with DIR's `harness` package or this checkout's, alternating between the two, and prints both
slopes and their ratio; wide sizes (`--calls 1000,9000`) help too.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from judge_throughput import ProcessServer, write_task  # type: ignore[import-not-found]

from harness.running.execute import run_task
from harness.running.options import RunOptions


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(task: Path, calls: int, cache: bool, args: argparse.Namespace,
            profiler: cProfile.Profile | None = None) -> float:
    """CPU seconds of this process over one run_task of `calls` calls against a fresh server."""
    server = ProcessServer(args.latency)
    try:
        with tempfile.TemporaryDirectory() as out:
            options = RunOptions(judge="openai:bench", base_url=server.base_url, out=Path(out) / "run",
                                 progress=False, cache=cache, cache_path=Path(out) / "cache.sqlite",
                                 concurrency=args.concurrency, judge_options={"transport": "aiohttp"})
            before = cpu_seconds()
            if profiler is not None:
                profiler.enable()
            result = run_task(task, options)
            if profiler is not None:
                profiler.disable()
            used = cpu_seconds() - before
        counters = server.counters()
    finally:
        server.close()
    assert counters["requests"] == calls, (counters, calls)
    assert result.manifest["counts"]["ok"] == calls, result.manifest["counts"]
    return used


def profile(calls: int, args: argparse.Namespace) -> None:
    """One run of `calls` calls, cache on, under cProfile: the functions by own time, then by
    cumulative time (the profiler itself roughly doubles the CPU, so read shares, not figures)."""
    with tempfile.TemporaryDirectory() as workdir:
        task = write_task(Path(workdir), calls)
        profiler = cProfile.Profile()
        one_run(task, calls, True, args, profiler)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)


def python_path(root: Path) -> str:
    """PYTHONPATH that imports `harness` and `harness_plugins` (the checkout's plugins/ folder,
    installed under that name) from `root`, ahead of whatever checkout the venv has installed."""
    shim = Path(tempfile.gettempdir()) / f"harness-plugins-{hashlib.sha1(str(root).encode()).hexdigest()[:12]}"
    shim.mkdir(exist_ok=True)
    link = shim / "harness_plugins"
    if not link.exists():
        link.symlink_to(root / "plugins", target_is_directory=True)
    return f"{root}{os.pathsep}{shim}"


def compare(args: argparse.Namespace, small: int, large: int) -> None:
    """This checkout against `args.baseline`, run for run, alternating which goes first."""
    here = Path(__file__).resolve().parent.parent
    versions = {"baseline": Path(args.baseline).resolve(), "this": here}
    for name, root in versions.items():
        print(f"{name}: harness from {root}")
    for cache in (False, True):
        runs: dict[tuple[str, int], list[float]] = {(v, n): [] for v in versions for n in (small, large)}
        for rep in range(args.reps):
            order = list(versions.items()) if rep % 2 == 0 else list(reversed(versions.items()))
            for name, root in order:
                for calls in (small, large):
                    command = [sys.executable, __file__, "--one", str(calls), "--cache", "on" if cache else "off",
                               "--concurrency", str(args.concurrency), "--latency", str(args.latency)]
                    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": python_path(root)}, cwd=root,
                                          capture_output=True, text=True)
                    if done.returncode != 0:
                        raise SystemExit(f"{name}: the run failed: {done.stderr.strip().splitlines()[-1:]}")
                    used_root, cpu = done.stdout.split()[-2:]
                    if used_root == "mixed" or Path(used_root) != root:
                        raise SystemExit(f"{name}: the run imported harness or its plugins from {used_root}, not {root}")
                    runs[(name, calls)].append(float(cpu))
        slopes = {}
        for name in versions:
            small_cpu, large_cpu = statistics.median(runs[(name, small)]), statistics.median(runs[(name, large)])
            slopes[name] = (large_cpu - small_cpu) / (large - small)
            print(f"cache {'on' if cache else 'off'} | {name} | {small_cpu:.2f} {[round(c, 2) for c in runs[(name, small)]]} | "
                  f"{large_cpu:.2f} {[round(c, 2) for c in runs[(name, large)]]} | {slopes[name] * 1e3:.3f} ms", flush=True)
        print(f"cache {'on' if cache else 'off'} | this / baseline: {slopes['this'] / slopes['baseline']:.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="2000,6000", help="two run sizes, comma-separated")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument("--profile", type=int, metavar="CALLS", help="profile one run of CALLS calls instead")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout to compare with, run for run")
    parser.add_argument("--one", type=int, metavar="CALLS", help=argparse.SUPPRESS)  # one run, for --baseline
    parser.add_argument("--cache", choices=("on", "off"), default="on", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args)
        return
    if args.one:
        with tempfile.TemporaryDirectory() as workdir:
            import harness
            import harness_plugins

            # both packages' checkout: harness and the built-in plugins must come from the same one
            roots = {Path(harness.__file__).resolve().parent.parent, Path(harness_plugins.__file__).resolve().parent.parent}
            print(roots.pop() if len(roots) == 1 else "mixed",
                  one_run(write_task(Path(workdir), args.one), args.one, args.cache == "on", args))
        return
    small, large = sorted(int(c) for c in args.calls.split(","))
    print(f"python {sys.version.split()[0]}; runs of {small} and {large} calls, concurrency {args.concurrency}, "
          f"server latency {args.latency * 1000:g} ms (separate process); median of {args.reps} runs each")
    if args.baseline:
        print("cache | version | CPU s small (runs) | CPU s large (runs) | ms per additional call")
        compare(args, small, large)
        return
    with tempfile.TemporaryDirectory() as workdir:
        tasks = {}
        for calls in (small, large):
            folder = Path(workdir) / str(calls)
            folder.mkdir()
            tasks[calls] = write_task(folder, calls)
        print("cache | CPU s small (runs) | CPU s large (runs) | ms per additional call")
        for cache in (False, True):
            medians = {}
            runs: dict[int, list[float]] = {}
            for calls in (small, large):
                runs[calls] = [one_run(tasks[calls], calls, cache, args) for _ in range(args.reps)]
                medians[calls] = statistics.median(runs[calls])
            slope = (medians[large] - medians[small]) / (large - small)
            print(f"{'on' if cache else 'off'} | {medians[small]:.2f} {[round(c, 2) for c in runs[small]]} | "
                  f"{medians[large]:.2f} {[round(c, 2) for c in runs[large]]} | {slope * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
