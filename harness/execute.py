"""Run one task end to end: load, judge what is not judged yet, aggregate, write the run directory.

Running the same task into the same directory resumes: requests already stored as `ok` or
`invalid` are not sent again, and the exports are rebuilt from the store, so a resumed run ends
with the same files as an uninterrupted one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness import __version__
from harness.cache import JudgmentCache, default_cache_path
from harness.errors import BadInput, BudgetReached, RunFailed
from harness.judges.base import JudgeBackend, JudgeConfigError, JudgeError, judge_failure
from harness.metrics import apply_metrics, verdicts_frame
from harness.models import JudgeRequest, JudgeSpec
from harness.plugins import LoadedPlugins, load_plugins
from harness.pricing import Price, SpendingCap, describe_cost, load_prices, price_for
from harness.progress import Progress
from harness.protocol import Aggregate
from harness.ratelimit import RateLimiter, positive_options
from harness.reachability import Reachability
from harness.registry import Registry
from harness.runner import CallStats, RetryPolicy, Runner
from harness.store import RunDirectory
from harness.tasks import LoadedTask, describe_validation_error, load_task


@dataclass
class RunOptions:
    judge: str | None = None
    base_url: str | None = None
    out: str | Path | None = None
    limit: int | None = None
    concurrency: int | None = None
    #: Judge settings from the command line: timeout and backend options (`--judge-option k=v`).
    judge_timeout_s: float | None = None
    judge_options: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    progress: bool = True
    retry: RetryPolicy = RetryPolicy()
    #: Reuse and record judge answers in the shared judgment cache (see harness.cache).
    cache: bool = True
    #: Ask the judge again even where the cache has an answer, and store the new answer.
    refresh: bool = False
    cache_path: Path | None = None
    #: Stop taking new requests once this many judge calls (attempts) were made in this run.
    max_calls: int | None = None
    #: A price table (see harness.pricing); overrides the task file's `prices`.
    prices: str | Path | None = None
    #: Stop taking new requests before this invocation's spend (USD) could pass this.
    max_cost: float | None = None


@dataclass
class RunResult:
    directory: Path
    manifest: dict[str, Any]
    aggregate: Aggregate
    loaded: LoadedTask
    #: The error most failed requests ended with (None when none failed), for the CLI's last line.
    top_error: str | None = None

    @property
    def scores(self):  # noqa: ANN201 - pandas DataFrame
        return self.aggregate.scores

    @property
    def ranking(self):  # noqa: ANN201
        return self.aggregate.ranking

    @property
    def unfinished(self) -> int:
        """Requests without a verdict (failed after retries, or never sent): 0 for complete numbers."""
        counts = self.manifest.get("counts", {})
        return int(counts.get("failed", 0)) + int(counts.get("pending", 0))

    @property
    def complete(self) -> bool:
        """Every request has a verdict, ok or invalid: the numbers rest on everything asked."""
        return self.unfinished == 0


def run_task(task_path: str | Path, options: RunOptions, plugins: LoadedPlugins | None = None) -> RunResult:
    plugins = plugins or load_plugins()
    pm = plugins.manager
    registry = Registry.collect(pm)
    loaded = load_task(
        task_path, registry, overrides=options.overrides, limit=options.limit,
        prepare_jinja=lambda env: pm.hook.harness_prepare_jinja_environment(env=env),
    )
    judge_spec = _judge_spec(loaded, options)
    retry = _retry_policy(judge_spec, options.retry)
    limiter = RateLimiter.from_options(judge_spec.options)
    price = _price(loaded, judge_spec, options)
    backend = _make_backend(registry, judge_spec)
    loaded.task.concurrency = backend.concurrency
    reachability = (Reachability.for_judge(backend.label, judge_spec.base_url, judge_spec.options)
                    if len(judge_spec.base_urls) <= 1 else None)  # several URLs: balanced.py's rotation
    requests = _build_requests(loaded, pm)
    directory = Path(options.out) if options.out else _default_directory(loaded.spec.name)
    with RunDirectory(directory) as store:
        fingerprint = _fingerprint(loaded, backend)
        _check_resumable(store, fingerprint)
        pending = [r for r in requests if not store.is_done(r.key)]
        manifest = _manifest(loaded, backend, requests, fingerprint, store.read_manifest())
        invocation: dict[str, Any] = {"started": _now(), "pending_at_start": len(pending)}
        manifest["invocations"].append(invocation)
        manifest["status"] = "running"
        store.write_manifest(manifest)
        started = time.monotonic()
        stats = CallStats()
        spending = SpendingCap(price, options.max_cost) if price is not None else None
        status = "failed"
        cache = JudgmentCache(options.cache_path or default_cache_path(), refresh=options.refresh) if options.cache and backend.cacheable else None
        try:
            _judge_rounds(loaded, backend, store, requests, pending, options, pm, stats, cache,
                          retry=retry, limiter=limiter, spending=spending, reachability=reachability)
            status = "finished"
        except BudgetReached as exc:
            status, invocation["error"] = "stopped", str(exc)
            exc.directory = directory  # the CLI names it: the same command with this --out resumes
            raise
        except RunFailed as exc:
            invocation["error"] = str(exc)
            exc.directory = directory
            raise
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            verdicts = store.verdicts_for(r.key for r in requests)
            invocation.update(
                finished=_now(), wall_s=round(time.monotonic() - started, 3), status=status,
                calls=stats.calls, retries=stats.retries, reasks=stats.reasks, errors=stats.errors,
                tokens={"in": stats.tokens_in, "out": stats.tokens_out},
                cost=describe_cost(price, stats.tokens_in, stats.tokens_out),
                cache=cache.stats() if cache else None,
            )
            if limiter is not None:
                invocation["rate_limits"] = limiter.describe()
            if options.max_cost is not None:
                invocation["max_cost_usd"] = options.max_cost
            if cache:
                cache.close()
            manifest["status"] = status
            manifest["judge_notices"] = backend.notices
            manifest["requests"] = len(requests)
            if (sampling := loaded.task.sampling_facts()) is not None:
                manifest["sampling"] = sampling
            manifest["counts"] = _counts(verdicts, len(requests))
            manifest["tokens"] = {"in": sum(v.tokens_in for v in verdicts), "out": sum(v.tokens_out for v in verdicts)}
            manifest["usage"] = _usage(backend.label, manifest["invocations"], price)
            store.write_manifest(manifest)
        aggregate = loaded.task.aggregate(verdicts)
        scores = apply_metrics(registry, verdicts_frame(verdicts), aggregate.scores, manifest)
        aggregate = replace(aggregate, scores=scores)
        store.write_exports(verdicts, aggregate.scores, aggregate.ranking)
        manifest["summary"] = aggregate.summary
        store.write_manifest(manifest)
    result = RunResult(directory=directory, manifest=manifest, aggregate=aggregate, loaded=loaded,
                       top_error=_most_common_error(verdicts))
    pm.hook.harness_run_finished(run=result)
    return result


def _make_backend(registry: Registry, spec: JudgeSpec) -> JudgeBackend:
    """The judge backend, its setup checked before anything is written (no key, no model: exit 2)."""
    factory = registry.judge_factory(spec.backend)
    try:
        backend = factory(spec)
        backend.check()
    except JudgeConfigError as exc:
        raise BadInput(str(exc)) from None
    return backend


def _judge_spec(loaded: LoadedTask, options: RunOptions) -> JudgeSpec:
    """The task's judge, then the command line on top: --judge replaces the spec (and drops the
    task's settings for a different backend), --base-url, --concurrency and --judge-* override."""
    task_judge = loaded.spec.judge
    spec = task_judge if isinstance(task_judge, str) else task_judge.spec
    settings: dict[str, Any] = {} if isinstance(task_judge, str) else task_judge.settings
    if options.judge and options.judge.partition(":")[0] != spec.partition(":")[0]:
        settings = {}
    spec = options.judge or spec
    if options.judge_timeout_s is not None:
        if options.judge_timeout_s <= 0:
            raise BadInput("--judge-timeout must be positive")
        settings["timeout_s"] = options.judge_timeout_s
    if options.judge_options:
        settings["options"] = {**settings.get("options", {}), **options.judge_options}
    if options.base_url:
        settings["base_url"] = options.base_url
    if options.concurrency:
        if options.concurrency < 1:
            raise BadInput("--concurrency must be at least 1")
        settings["concurrency"] = options.concurrency
    try:
        return JudgeSpec.parse(spec, **settings)
    except ValidationError as exc:
        raise BadInput(f"judge {spec}: {describe_validation_error(exc)}") from None
    except ValueError as exc:
        raise BadInput(f"--judge: {exc}") from None


def _retry_policy(spec: JudgeSpec, base: RetryPolicy) -> RetryPolicy:
    """The run's retry policy with the judge's `max_attempts` / `max_retry_wait_s` options on top."""
    given = positive_options(spec.options, ("max_attempts", "max_retry_wait_s"))
    changes: dict[str, Any] = {}
    if "max_attempts" in given:
        if given["max_attempts"] != int(given["max_attempts"]):
            raise BadInput("judge option max_attempts: must be a whole number")
        changes["max_attempts"] = int(given["max_attempts"])
    if "max_retry_wait_s" in given:
        changes["max_total_wait_s"] = given["max_retry_wait_s"]
    return replace(base, **changes) if changes else base


def _price(loaded: LoadedTask, spec: JudgeSpec, options: RunOptions) -> Price | None:
    """The judge's price from --prices or the task file's `prices`; --max-cost needs one."""
    if options.max_cost is not None and not options.max_cost > 0:
        raise BadInput("--max-cost must be a positive number of US dollars")
    path: Path | None = None
    if options.prices is not None:
        path = Path(options.prices)
    elif loaded.spec.prices:
        path = Path(loaded.spec.prices).expanduser()
        if not path.is_absolute():
            path = loaded.path.resolve().parent / path
    price = price_for(load_prices(path), spec.label, spec.model) if path is not None else None
    if path is not None and price is None:
        raise BadInput(f"--prices {path}: no price for {spec.label} (add `{spec.model or spec.label}: "
                       "{input: USD, output: USD}` per 1M tokens)")
    if options.max_cost is not None and price is None:
        raise BadInput("--max-cost needs the judge's price: give a price table with --prices FILE")
    return price


def _usage(label: str, invocations: list[dict[str, Any]], price: Price | None) -> dict[str, Any]:
    """Calls and tokens paid for across every invocation of the run, and their cost."""
    calls = sum(int(i.get("calls") or 0) for i in invocations)
    tokens_in = sum(int((i.get("tokens") or {}).get("in", 0)) for i in invocations)
    tokens_out = sum(int((i.get("tokens") or {}).get("out", 0)) for i in invocations)
    return {"judge": label, "calls": calls, "tokens_in": tokens_in, "tokens_out": tokens_out,
            "cost": describe_cost(price, tokens_in, tokens_out)}


def _build_requests(loaded: LoadedTask, pm: Any) -> list[JudgeRequest]:
    try:
        requests = loaded.task.build_requests()
    except BadInput as exc:  # a template that fails to render: name the task file too
        raise BadInput(f"{loaded.path}: {exc}") from None
    return _modified(loaded, pm, requests, known=set())


def _modified(loaded: LoadedTask, pm: Any, requests: list[JudgeRequest], known: set[str]) -> list[JudgeRequest]:
    """Requests after the plugins' harness_modify_requests, checked for clashing ids."""
    for replaced in pm.hook.harness_modify_requests(task=loaded.task, requests=requests):
        if replaced is not None:
            requests = list(replaced)
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids) or known.intersection(ids):
        raise BadInput(f"{loaded.path}: the protocol built two requests with the same id")
    return requests


def _follow_up_requests(
    loaded: LoadedTask, pm: Any, store: RunDirectory, requests: list[JudgeRequest]
) -> list[JudgeRequest]:
    """What a multi-stage protocol can ask now that earlier results are stored (none: done)."""
    results = {r.id: v for r in requests if (v := store.get(r.key)) is not None}
    known = {r.id for r in requests}
    try:
        new = [r for r in loaded.task.next_requests(results) if r.id not in known]
    except BadInput as exc:
        raise BadInput(f"{loaded.path}: {exc}") from None
    return _modified(loaded, pm, new, known) if new else []


def _judge_rounds(
    loaded: LoadedTask, backend: JudgeBackend, store: RunDirectory, requests: list[JudgeRequest],
    pending: list[JudgeRequest], options: RunOptions, pm: Any, stats: CallStats, cache: JudgmentCache | None, *,
    retry: RetryPolicy, limiter: RateLimiter | None, spending: SpendingCap | None,
    reachability: Reachability | None = None,
) -> None:
    """Judge `pending`, then each round of follow-up requests the protocol asks for, until it asks
    nothing new. The backend starts once, when the first call is due, and serves every round (a
    managed server or a loaded model is not restarted per round). `requests` grows in place, so a
    run that stops mid-way still exports every verdict it stored; `stats` survives for run.json.
    """
    async def main() -> None:
        started = False
        try:
            todo = pending
            while True:
                if todo:
                    if not started:
                        try:
                            await backend.start()
                        except JudgeConfigError as exc:
                            raise BadInput(str(exc)) from None
                        except JudgeError as exc:
                            raise RunFailed(judge_failure(backend.label, exc)) from None
                        started = True
                    total = len(requests)
                    with Progress(total, already_done=total - len(todo), enabled=options.progress) as progress:
                        runner = Runner(
                            loaded.task, backend, store, retry=retry, progress=progress,
                            on_verdict=lambda v: pm.hook.harness_verdict_recorded(verdict=v), stats=stats,
                            cache=cache, max_calls=options.max_calls, limiter=limiter, spending=spending,
                            reachability=reachability,
                        )
                        await runner.run(todo)
                follow_ups = _follow_up_requests(loaded, pm, store, requests)
                if not follow_ups:
                    break
                requests.extend(follow_ups)
                todo = [r for r in follow_ups if not store.is_done(r.key)]
        finally:
            if started:
                await backend.close()

    asyncio.run(main())


def _default_directory(task_name: str) -> Path:
    return Path("results") / task_name / datetime.now().strftime("%Y%m%d-%H%M%S")


def _fingerprint(loaded: LoadedTask, backend: JudgeBackend) -> str:
    """What must match for stored verdicts to be reused: judge, protocol and prompt."""
    parts = {
        "judge": backend.label,
        "protocol": loaded.kind.name,
        "protocol_version": loaded.task.version,
        "template": loaded.task.prompts.source_hash,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _check_resumable(store: RunDirectory, fingerprint: str) -> None:
    previous = store.read_manifest()
    if previous is None and store.stored_count():
        raise BadInput(
            f"--out {store.path}: holds stored verdicts but no run.json, so which judge and prompt made them "
            "is unknown; choose another --out"
        )
    if previous is not None and previous.get("fingerprint") != fingerprint:
        raise BadInput(
            f"--out {store.path}: holds a run with another judge, protocol or prompt; "
            "choose another --out to keep both"
        )


def _manifest(
    loaded: LoadedTask, backend: JudgeBackend, requests: list[JudgeRequest], fingerprint: str,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    models = sorted({m for item in loaded.items for m in item.answers})
    return {
        "harness_version": __version__,
        "fingerprint": fingerprint,
        "task_file": str(loaded.path),
        "task": loaded.spec.model_dump(mode="json"),
        "protocol": {"name": loaded.kind.name, "version": loaded.task.version,
                     "config": loaded.config.model_dump(mode="json")},
        "template": {"name": loaded.task.prompts.template_name, "sha256_16": loaded.task.prompts.source_hash},
        "judge": backend.describe(),
        "dataset": {"items": len(loaded.items), "models": models},
        "requests": len(requests),
        "environment": {"python": sys.version.split()[0], "platform": platform.platform()},
        "invocations": list(previous.get("invocations", [])) if previous else [],
    }


def _most_common_error(verdicts: list[Any]) -> str | None:
    errors = Counter(v.error or "no message" for v in verdicts if v.status == "failed")
    return errors.most_common(1)[0][0] if errors else None


def _counts(verdicts: list[Any], total: int) -> dict[str, int]:
    counts = {status: sum(v.status == status for v in verdicts) for status in ("ok", "invalid", "failed")}
    counts["pending"] = total - sum(counts.values())
    return counts


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
