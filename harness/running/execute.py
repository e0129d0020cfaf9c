"""Run one task end to end: load, judge what is not judged yet, aggregate, write the run directory.

Running the same task into the same directory resumes: requests already stored as `ok` or
`invalid` are not sent again, and the exports are rebuilt from the store, so a resumed run ends
with the same files as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.by_category import record_filter
from harness.calibrate.identity import judge_identity
from harness.errors import BadInput, BudgetReached, RunFailed
from harness.judges.base import JudgeBackend, JudgeConfigError
from harness.judges.reachability import Reachability
from harness.models import JudgeRequest, JudgeSpec
from harness.plugins import HarnessPluginManager, LoadedPlugins, load_plugins
from harness.pricing import Price, SpendingCap, describe_cost, load_prices, price_for
from harness.registry import Registry
from harness.running.cache import JudgmentCache, default_cache_path
from harness.running.completeness import missing_answers
from harness.running.finish import finish_run, record_counts, run_calibration
from harness.running.judges import check_panel_task, check_resumable, judge_fingerprint, judge_specs, run_fingerprint
from harness.running.lanes import Lane, first_error, judge_lanes
from harness.running.options import RunOptions
from harness.running.ratelimit import RateLimiter
from harness.running.result import RunResult
from harness.store import RunDirectory, StoreWriteFailed
from harness.tasks import LoadedTask, load_task


def run_task(task_path: str | Path, options: RunOptions, plugins: LoadedPlugins | None = None) -> RunResult:
    plugins = plugins or load_plugins()
    registry = Registry.collect(plugins.manager)
    loaded = load_task(
        task_path, registry, overrides=options.overrides, limit=options.limit, categories=options.categories,
        prepare_jinja=plugins.manager.prepare_jinja_environment,
    )
    return run_loaded(loaded, options, plugins, registry)


def run_loaded(loaded: LoadedTask, options: RunOptions, plugins: LoadedPlugins, registry: Registry) -> RunResult:
    """Judge an already loaded task (`harness audit` builds its probes' tasks in memory); `options`'
    overrides and limit were for loading and are not applied again."""
    pm = plugins.manager
    specs = judge_specs(loaded, options)
    panel = len(specs) > 1
    lanes = [_lane(loaded, spec, registry, options, panel) for spec in specs]
    if panel:
        check_panel_task(loaded)
    loaded.task.concurrency = min(lane.backend.concurrency for lane in lanes)
    requests = build_requests(loaded, pm)
    for lane in lanes:
        lane.requests = list(requests)
    directory = Path(options.out) if options.out else _default_directory(loaded.spec.name)
    calibration = run_calibration(options.calibration, directory, lambda: _identity(loaded, lanes[0].backend),
                                  registry, panel=panel, force=options.force_calibration)
    with RunDirectory(directory) as store:
        labels = [lane.label for lane in lanes]
        check_resumable(store, loaded, labels, None if panel else lanes[0].spec)
        fingerprint = run_fingerprint(loaded, labels)
        pending_at_start = sum(len(lane.pending(store)) for lane in lanes)
        manifest = _manifest(loaded, lanes, requests, fingerprint, store.read_manifest())
        record_filter(manifest, options.categories)
        invocation: dict[str, Any] = {"started": _now(), "pending_at_start": pending_at_start}
        manifest["invocations"].append(invocation)
        manifest["status"] = "running"
        store.write_manifest(manifest)
        started = time.monotonic()
        status = "failed"
        cacheable = options.cache and any(lane.backend.cacheable for lane in lanes)
        cache = JudgmentCache(options.cache_path or default_cache_path(), refresh=options.refresh) if cacheable else None
        error: Exception | None = None
        try:
            judge_lanes(loaded, lanes, store, pm, cache, progress=options.progress, max_calls=options.max_calls,
                        follow_ups=lambda lane: _follow_up_requests(loaded, pm, store, lane.requests, lane.store_judge))
            error = first_error(lanes)
            if error is not None:
                error.directory = directory  # type: ignore[attr-defined]
            status = "finished" if error is None else "stopped" if isinstance(error, BudgetReached) else "failed"
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
            if error is not None:
                invocation["error"] = str(error)
            verdicts = {lane.label: store.verdicts_for((r.key for r in lane.requests), lane.store_judge) for lane in lanes}
            _record_invocation(manifest, invocation, lanes, status, started, cache, options)
            if cache:
                cache.close()
            every = [v for vs in verdicts.values() for v in vs]
            manifest["requests"] = sum(len(lane.requests) for lane in lanes)
            if (sampling := loaded.task.sampling_facts()) is not None:
                manifest["sampling"] = sampling
            record_counts(manifest, every)
            manifest.pop("completeness", None)  # assessed again below; a run that stops first has only its counts
            manifest["tokens"] = {"in": sum(v.tokens_in for v in every), "out": sum(v.tokens_out for v in every)}
            try:
                store.write_manifest(manifest)
            except StoreWriteFailed:
                if status == "finished":
                    raise
                # The run is stopping with an error of its own (often the same full disk), which
                # says more; run.json keeps its last state and the store has every verdict.
        if panel and error is not None and not any(v.status == "ok" for v in every):
            raise error  # no judge of the panel gave a verdict: nothing to aggregate
        by_judge = (verdicts, {lane.label: len(lane.requests) for lane in lanes}) if panel else None
        try:
            aggregate = finish_run(loaded.task, registry, store, manifest, every, calibration=calibration,
                                   panel=by_judge, keep_going=True)
        except BaseException as exc:
            # the verdicts are stored, their numbers are not: run.json must not say "finished" beside
            # no tables; `harness aggregate` computes them once the cause is mended
            manifest["status"] = invocation["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            invocation["error"] = f"aggregation failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            with contextlib.suppress(OSError, StoreWriteFailed):  # the cause says more than a full disk
                store.write_manifest(manifest)
            raise
        if error is None and manifest.get("metric_failures"):
            error = _metric_failed(manifest, invocation, directory)
        store.write_manifest(manifest)
    if error is not None:
        raise error
    result = RunResult(directory=directory, manifest=manifest, aggregate=aggregate, loaded=loaded,
                       top_error=_most_common_error(every), failed_items=_failed_items(every))
    pm.run_finished(result)
    return result


def _lane(loaded: LoadedTask, spec: JudgeSpec, registry: Registry, options: RunOptions, panel: bool) -> Lane:
    """Everything per judge: backend, retries, rate limits, price and budget."""
    price = run_price(loaded, spec, options)
    backend = make_backend(registry, spec)
    backend.bind_task(loaded.task)
    return Lane(
        spec=spec, backend=backend, retry=options.retry.with_judge_options(spec.options),
        limiter=RateLimiter.from_options(spec.options), price=price,
        spending=SpendingCap(price, options.max_cost) if price is not None else None,
        store_judge=spec.label if panel else None,
        reachability=(Reachability.for_judge(backend.label, spec.base_url, spec.options)
                      if len(spec.base_urls) <= 1 else None),  # several URLs: balanced.py's rotation
    )


def make_backend(registry: Registry, spec: JudgeSpec) -> JudgeBackend:
    """The judge backend, its options and setup checked before anything is written (an unknown
    option, no key, no model: exit 2)."""
    try:
        backend = registry.judge(spec)
        backend.check()
    except JudgeConfigError as exc:
        raise BadInput(str(exc)) from None
    return backend


def _record_invocation(
    manifest: dict[str, Any], invocation: dict[str, Any], lanes: list[Lane], status: str, started: float,
    cache: JudgmentCache | None, options: RunOptions,
) -> None:
    """This invocation's calls, tokens and cost into run.json (a panel's also per judge)."""
    stats = [lane.stats for lane in lanes]
    invocation.update(
        finished=_now(), wall_s=round(time.monotonic() - started, 3), status=status,
        calls=sum(s.calls for s in stats), retries=sum(s.retries for s in stats),
        reasks=sum(s.reasks for s in stats), errors=_merged(s.errors for s in stats),
        tokens={"in": sum(s.tokens_in for s in stats), "out": sum(s.tokens_out for s in stats)},
        cost=_cost(lanes),
        cache=cache.stats() if cache else None,
    )
    limits = {lane.label: lane.limiter.describe() for lane in lanes if lane.limiter is not None}
    if len(lanes) > 1:
        invocation["judges"] = {
            lane.label: {"calls": lane.stats.calls, "retries": lane.stats.retries, "reasks": lane.stats.reasks,
                         "errors": lane.stats.errors,
                         "tokens": {"in": lane.stats.tokens_in, "out": lane.stats.tokens_out},
                         "cost": describe_cost(lane.price, lane.stats.tokens_in, lane.stats.tokens_out),
                         **({"error": str(lane.error)} if lane.error is not None else {})}
            for lane in lanes
        }
        if limits:
            invocation["rate_limits"] = limits
    elif limits:
        invocation["rate_limits"] = next(iter(limits.values()))
    if options.max_cost is not None:
        invocation["max_cost_usd"] = options.max_cost
    manifest["status"] = status
    if len(lanes) > 1:
        manifest["judge_notices"] = {lane.label: lane.backend.notices for lane in lanes}
        manifest["usage"] = {lane.label: _usage(lane.label, [i.get("judges", {}).get(lane.label, {})
                                                             for i in manifest["invocations"]], lane.price)
                             for lane in lanes}
    else:
        lane = lanes[0]
        manifest["judge_notices"] = lane.backend.notices
        manifest["usage"] = _usage(lane.label, manifest["invocations"], lane.price)


def _merged(counters: Any) -> dict[str, int]:
    merged: dict[str, int] = {}
    for counter in counters:
        for name, n in counter.items():
            merged[name] = merged.get(name, 0) + n
    return merged


def _cost(lanes: list[Lane]) -> Any:
    """One judge's cost as before; a panel's is the sum where every priced judge's is known."""
    if len(lanes) == 1:
        lane = lanes[0]
        return describe_cost(lane.price, lane.stats.tokens_in, lane.stats.tokens_out)
    costs = [describe_cost(lane.price, lane.stats.tokens_in, lane.stats.tokens_out) for lane in lanes]
    return costs if any(c is not None for c in costs) else None


def _identity(loaded: LoadedTask, backend: JudgeBackend) -> dict[str, Any]:
    """The judge setup of this run, which a calibration must have been made for."""
    return judge_identity(
        judge=backend.spec.label, protocol=loaded.kind.name, protocol_version=loaded.task.version,
        template=loaded.task.prompts.source_hash, config=loaded.config.model_dump(mode="json"),
        options=loaded.kind.config_model,
    )


def run_price(loaded: LoadedTask, spec: JudgeSpec, options: RunOptions) -> Price | None:
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


def build_requests(loaded: LoadedTask, pm: HarnessPluginManager) -> list[JudgeRequest]:
    try:
        requests = loaded.task.build_requests()
    except BadInput as exc:  # a template that fails to render: name the task file too
        raise BadInput(f"{loaded.path}: {exc}") from None
    return _modified(loaded, pm, requests, known=set())


def _modified(loaded: LoadedTask, pm: HarnessPluginManager, requests: list[JudgeRequest], known: set[str]) -> list[JudgeRequest]:
    """Requests after the plugins' harness_modify_requests, checked for clashing ids."""
    replaced = next((r for r in pm.modify_requests(loaded.task, requests) if r is not None), None)
    if replaced is not None:  # the plugin loaded first wins
        requests = list(replaced)
    ids = [r.id for r in requests]
    if len(set(ids)) != len(ids) or known.intersection(ids):
        raise BadInput(f"{loaded.path}: the protocol built two requests with the same id")
    return requests


def _follow_up_requests(
    loaded: LoadedTask, pm: HarnessPluginManager, store: RunDirectory, requests: list[JudgeRequest], judge: str | None = None,
) -> list[JudgeRequest]:
    """What a multi-stage protocol can ask now that earlier results (of `judge`, in a panel) are
    stored (none: done)."""
    results = {r.id: v for r in requests if (v := store.get(r.key, judge)) is not None}
    known = {r.id for r in requests}
    try:
        new = [r for r in loaded.task.next_requests(results) if r.id not in known]
    except BadInput as exc:
        raise BadInput(f"{loaded.path}: {exc}") from None
    return _modified(loaded, pm, new, known) if new else []


def _default_directory(task_name: str) -> Path:
    return Path("results") / task_name / datetime.now().strftime("%Y%m%d-%H%M%S")


def _manifest(
    loaded: LoadedTask, lanes: list[Lane], requests: list[JudgeRequest], fingerprint: str,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    models = sorted({m for item in loaded.items for m in item.answers})
    manifest = {
        "harness_version": __version__,
        "fingerprint": fingerprint,
        "task_file": str(loaded.path),
        "task": loaded.spec.record(),
        "protocol": {"name": loaded.kind.name, "version": loaded.task.version,
                     "config": loaded.config.model_dump(mode="json")},
        "template": {"name": loaded.task.prompts.template_name, "sha256_16": loaded.task.prompts.source_hash},
        "judge": lanes[0].backend.describe(),
        "dataset": {"items": len(loaded.items), "models": models, "missing_answers": missing_answers(loaded.items),
                    **loaded.dataset_facts},
        "requests": len(requests) * len(lanes),
        "reasoning_traces": loaded.reasoning_traces,
        "environment": {"python": sys.version.split()[0], "platform": platform.platform()},
        "invocations": list(previous.get("invocations", [])) if previous else [],
    }
    if len(lanes) > 1:
        manifest["judge"] = {"panel": [lane.label for lane in lanes]}
        manifest["judges"] = [lane.backend.describe() for lane in lanes]
        manifest["panel"] = {"judges": [{"judge": lane.label, "fingerprint": judge_fingerprint(loaded, lane.label)}
                                        for lane in lanes]}
    return manifest


def _metric_failed(manifest: dict[str, Any], invocation: dict[str, Any], directory: Path) -> RunFailed:
    """A plugin metric failed after every call was made: the other files are written, run.json
    says the run failed (not finished) and why."""
    failures = manifest["metric_failures"]
    more = f" (and {len(failures) - 1} more in run.json)" if len(failures) > 1 else ""
    error = RunFailed(f"{failures[0]}{more}; every other file of the run is written")
    manifest["status"] = invocation["status"] = "failed"
    invocation["error"] = str(error)
    error.directory = directory
    return error


def _most_common_error(verdicts: list[Any]) -> str | None:
    errors = Counter(v.error or "no message" for v in verdicts if v.status == "failed")
    return errors.most_common(1)[0][0] if errors else None


def _failed_items(verdicts: list[Any]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.item_id for v in verdicts if v.status == "failed"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
