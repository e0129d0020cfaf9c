"""Generate one model's answers for a dataset, through the judges' backends and run machinery.

The calls go through `harness.running.runner.Runner`, so a generation has what a judge run has: the
shared cache (its own key space), retries with backoff, rate limits, `--max-calls`/`--max-cost`,
a progress bar and token/cost accounting. Answers are stored call by call in a run directory
beside the output (`OUT.NAME.generate/`: `store.jsonl`, `run.json`), so a crash loses only calls in
flight and the same command resumes. The output file is written only when every item has its
answer; until then the command exits 1 and says how many are missing.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import BadInput, BudgetReached, RunFailed
from harness.generate.requests import GenerationSettings, GenerationTask, answers_so_far
from harness.generate.source import Source, merged_rows, read_source, write_rows
from harness.judges.base import JudgeBackend, JudgeConfigError, JudgeError, judge_failure
from harness.models import JudgeRequest, JudgeSpec, Verdict
from harness.plugins import LoadedPlugins, load_plugins
from harness.pricing import Price, SpendingCap, describe_cost, load_prices, price_for
from harness.registry import Registry
from harness.running.cache import JudgmentCache, default_cache_path
from harness.running.execute import make_backend
from harness.running.progress import Progress
from harness.running.ratelimit import RateLimiter
from harness.running.runner import CallStats, RetryPolicy, Runner
from harness.store import RunDirectory


@dataclass
class GenerateOptions:
    model: str
    name: str
    out: Path
    base_url: str | None = None
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = 0
    limit: int | None = None
    concurrency: int | None = None
    timeout_s: float | None = None
    model_options: dict[str, Any] = field(default_factory=dict)
    #: Replace answers `name` already has in the dataset (otherwise: bad input, exit 2).
    overwrite: bool = False
    run_dir: Path | None = None
    progress: bool = True
    cache: bool = True
    refresh: bool = False
    cache_path: Path | None = None
    max_calls: int | None = None
    prices: Path | None = None
    max_cost: float | None = None
    retry: RetryPolicy = RetryPolicy()


@dataclass
class GenerateResult:
    out: Path
    run_dir: Path
    manifest: dict[str, Any]
    #: Items without a final answer (a turn failed after its retries); empty when complete.
    missing: list[str]
    top_error: str | None = None

    @property
    def complete(self) -> bool:
        return not self.missing


def generate(target: str | Path, options: GenerateOptions, plugins: LoadedPlugins | None = None) -> GenerateResult:
    """Answer every item of `target` (a task file or dataset) with `options.model`, then write
    the dataset with the answers added under `options.name`."""
    source = read_source(target)
    items = source.items[: options.limit] if options.limit is not None else source.items
    if options.limit is not None and options.limit < 1:
        raise BadInput("--limit must be at least 1")
    if not options.name.strip() or options.name != options.name.strip():
        raise BadInput(f"--as {options.name!r}: a model name must be non-empty, without spaces at its ends")
    spec = _spec(options)
    options = replace(options, retry=options.retry.with_judge_options(spec.options))  # --model-option max_attempts=...
    settings = GenerationSettings(model=spec.label, system=options.system, temperature=options.temperature,
                                  max_tokens=options.max_tokens, seed=options.seed)
    if options.max_tokens < 1:
        raise BadInput("--max-tokens must be at least 1")
    if options.temperature < 0:
        raise BadInput("--temperature must not be negative")
    registry = Registry.collect((plugins or load_plugins()).manager)
    backend = make_backend(registry, spec)  # options and setup checked, nothing started
    price = _price(options, spec)
    run_dir = options.run_dir or default_run_dir(options.out, options.name)
    task = GenerationTask(items, settings)
    requests = task.build_requests()
    with RunDirectory(run_dir) as store:
        previous = store.read_manifest()
        _check_resumable(previous, options, settings, source)
        ours = _stored_final_answers(task, store, requests)
        _check_overwrite(source, options, ours, previous)
        manifest = _manifest(previous, options, settings, source, backend, items)
        invocation: dict[str, Any] = {"started": _now()}
        manifest["invocations"].append(invocation)
        store.write_manifest(manifest)
        stats = CallStats()
        cache = (JudgmentCache(options.cache_path or default_cache_path(), refresh=options.refresh)
                 if options.cache and backend.cacheable else None)
        started = time.monotonic()
        status = "failed"
        try:
            requests = _ask(task, backend, store, requests, options, stats, cache, price)
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except RunFailed as exc:
            status = "stopped" if isinstance(exc, BudgetReached) else "failed"
            invocation["error"] = str(exc)
            exc.directory = run_dir
            raise
        finally:
            invocation.update(finished=_now(), wall_s=round(time.monotonic() - started, 3), status=status,
                              calls=stats.calls, retries=stats.retries, errors=stats.errors,
                              tokens={"in": stats.tokens_in, "out": stats.tokens_out},
                              cost=describe_cost(price, stats.tokens_in, stats.tokens_out),
                              cache=cache.stats() if cache else None)
            if cache:
                cache.close()
            turns = _turns(task, store, requests)
            manifest.update(status=status, requests=len(requests), answered=len(turns),
                            empty_answers=sum(1 for answers in turns.values() if not any(a.strip() for a in answers)),
                            usage=_usage(manifest["invocations"], price), judge_notices=backend.notices)
            store.write_manifest(manifest)
        verdicts = [v for r in requests if (v := store.get(r.key)) is not None]
        missing = [item.id for item in items if item.id not in turns]
        if not missing:
            rows = merged_rows(source, options.name, turns, settings.record())
            write_rows(options.out, rows)
            manifest["written"] = {"path": str(options.out), "items": len(items), "at": _now()}
        else:
            manifest["status"] = invocation["status"] = "incomplete"
        store.write_manifest(manifest)
    errors = [v.error for v in verdicts if v.status == "failed" and v.error]
    return GenerateResult(out=options.out, run_dir=run_dir, manifest=manifest, missing=missing,
                          top_error=max(set(errors), key=errors.count) if errors else None)


def default_run_dir(out: Path, name: str) -> Path:
    """`OUT.NAME.generate` beside the output: one per model, so generating a second model into
    the same file neither meets nor refuses the first one's calls."""
    return out.with_name(f"{out.name}.{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.generate")


def _spec(options: GenerateOptions) -> JudgeSpec:
    from pydantic import ValidationError

    from harness.tasks import describe_validation_error

    settings: dict[str, Any] = {"options": dict(options.model_options)}
    if options.base_url:
        settings["base_url"] = options.base_url
    if options.concurrency is not None:
        settings["concurrency"] = options.concurrency
    if options.timeout_s is not None:
        settings["timeout_s"] = options.timeout_s
    try:
        return JudgeSpec.parse(options.model, **settings)
    except ValidationError as exc:
        raise BadInput(f"--model {options.model}: {describe_validation_error(exc)}") from None
    except ValueError as exc:
        raise BadInput(f"--model: {exc}") from None


def _price(options: GenerateOptions, spec: JudgeSpec) -> Price | None:
    if options.max_cost is not None and not options.max_cost > 0:
        raise BadInput("--max-cost must be a positive number of US dollars")
    price = price_for(load_prices(options.prices), spec.label, spec.model) if options.prices else None
    if options.prices and price is None:
        raise BadInput(f"--prices {options.prices}: no price for {spec.label}")
    if options.max_cost is not None and price is None:
        raise BadInput("--max-cost needs the model's price: give a price table with --prices FILE")
    return price


def _ask(task: GenerationTask, backend: JudgeBackend, store: RunDirectory, requests: list[JudgeRequest],
         options: GenerateOptions, stats: CallStats, cache: JudgmentCache | None, price: Price | None) -> list[JudgeRequest]:
    """Every turn not stored yet, turn 1 of every item first, then each next turn as the one
    before it is stored. Returns every request made possible (for the accounting)."""
    limiter = RateLimiter.from_options(backend.spec.options)
    spending = SpendingCap(price, options.max_cost) if price is not None else None
    known = list(requests)

    async def main() -> None:
        nonlocal known
        todo = [r for r in known if not store.is_done(r.key)]
        started = False
        with Progress(len(known), already_done=len(known) - len(todo), enabled=options.progress, label="generating") as bar:
            try:
                while True:
                    if todo:
                        if not started:
                            await _start(backend)
                            started = True
                        await Runner(task, backend, store, progress=bar, retry=options.retry, stats=stats, cache=cache,
                                     max_calls=options.max_calls, limiter=limiter, spending=spending).run(todo)
                    new = [r for r in task.next_requests(_results(store, known)) if r.id not in {k.id for k in known}]
                    if not new:
                        return
                    known += new
                    todo = [r for r in new if not store.is_done(r.key)]
                    bar.grow(len(new), already_done=len(new) - len(todo))
            finally:
                if started:
                    await backend.close()

    asyncio.run(main())
    return known


async def _start(backend: JudgeBackend) -> None:
    try:
        await backend.start()
    except JudgeConfigError as exc:
        raise BadInput(str(exc)) from None
    except JudgeError as exc:
        raise RunFailed(judge_failure(backend.label, exc)) from None


def _results(store: RunDirectory, requests: list[JudgeRequest]) -> dict[str, Verdict]:
    return {r.id: v for r in requests if (v := store.get(r.key)) is not None}


def _turns(task: GenerationTask, store: RunDirectory, requests: list[JudgeRequest]) -> dict[str, list[str]]:
    """Every item answered to its last turn: item id -> the answer to each turn."""
    results = _results(store, requests)
    turns = {}
    for item in task.source_items:
        answers = answers_so_far(item, results)
        if answers is not None and len(answers) == item.user_turns:
            turns[item.id] = answers
    return turns


def _stored_final_answers(task: GenerationTask, store: RunDirectory, requests: list[JudgeRequest]) -> dict[str, str]:
    """The final answers this generation already stored (follow-ups included), by item id."""
    known = list(requests)
    while True:
        new = [r for r in task.next_requests(_results(store, known)) if r.id not in {k.id for k in known}]
        if not new:
            break
        known += new
    return {item: answers[-1] for item, answers in _turns(task, store, known).items()}


def _check_overwrite(source: Source, options: GenerateOptions, ours: dict[str, str],
                     previous: dict[str, Any] | None) -> None:
    """Answers of `--as NAME` that this generation did not write are never replaced silently."""
    if options.overwrite:
        return
    existing = source.existing_answers(options.name)
    foreign = [item for item, text in existing.items() if ours.get(item) != text]
    if foreign:
        raise BadInput(f"{source.path.name}: model {options.name!r} already has answers ({len(foreign)} items, "
                       f"e.g. {foreign[0]!r}) that this generation did not write; choose another --as NAME, "
                       "or pass --overwrite to replace them")
    out = options.out.resolve()
    ours_written = (previous or {}).get("written", {}).get("path") == str(options.out)
    if out.exists() and out != source.path and not ours_written:
        raise BadInput(f"--out {options.out}: the file exists and this generation did not write it; choose "
                       "another --out, or pass --overwrite to replace it")


def _check_resumable(previous: dict[str, Any] | None, options: GenerateOptions, settings: GenerationSettings,
                     source: Source) -> None:
    if not previous:
        return
    before = previous.get("generation", {})
    now = {"as": options.name, **settings.record(), "source": str(source.path)}
    changed = [k for k, v in now.items() if before.get(k) != v]
    if changed:
        raise BadInput(f"{options.run_dir or default_run_dir(options.out, options.name)}: holds a generation with another "
                       f"{changed[0]} ({before.get(changed[0])!r}, now {now[changed[0]]!r}); use another --out "
                       "or --run-dir, or delete that directory to start over")


def _manifest(previous: dict[str, Any] | None, options: GenerateOptions, settings: GenerationSettings, source: Source,
              backend: JudgeBackend, items: list[Any]) -> dict[str, Any]:
    return {
        "kind": "generation",
        "harness_version": __version__,
        "generation": {"as": options.name, **settings.record(), "source": str(source.path)},
        "model": backend.describe(),
        "out": str(options.out),
        "items": len(items),
        "environment": {"python": sys.version.split()[0]},
        "invocations": list((previous or {}).get("invocations", [])),
    }


def _usage(invocations: list[dict[str, Any]], price: Price | None) -> dict[str, Any]:
    calls = sum(int(i.get("calls") or 0) for i in invocations)
    tokens_in = sum(int((i.get("tokens") or {}).get("in", 0)) for i in invocations)
    tokens_out = sum(int((i.get("tokens") or {}).get("out", 0)) for i in invocations)
    return {"calls": calls, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "cost": describe_cost(price, tokens_in, tokens_out)}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
