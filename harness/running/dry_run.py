"""`harness run TASK --dry-run`: what a run would ask and cost, with nothing sent and nothing written.

For each judge: the calls the run's first round makes, how many a run directory given with
`--out` already holds, how many the shared cache would answer, and for the rest the estimated
prompt tokens (characters / 4, as the rate limiter estimates them), the completion tokens at most
(each call's `max_tokens`), and the cost at most with the price table (`--prices` or the task's
`prices`). No backend is started, no server contacted, no file or directory created: the cache is
opened read-only, the run directory's store only read. Calls it cannot foresee are said, not
guessed: re-asks of unreadable answers, and a multi-stage protocol's later rounds (they depend on
the first round's answers).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.datasets import jsonl_lines
from harness.models import JudgeRequest, JudgeSpec
from harness.plugins import LoadedPlugins, load_plugins
from harness.pricing import Price
from harness.protocol import Task
from harness.registry import Registry
from harness.running.cache import CacheKeys, default_cache_path
from harness.running.execute import RunOptions, build_requests, make_backend, run_price
from harness.running.judges import judge_specs
from harness.running.ratelimit import estimate_prompt_tokens
from harness.store import DONE_STATUSES, STORE_FILE
from harness.tasks import load_task


@dataclass(frozen=True)
class JudgePlan:
    judge: str
    calls: int
    stored: int
    cached: int
    prompt_tokens: int
    completion_tokens_max: int
    price: Price | None

    @property
    def to_send(self) -> int:
        return self.calls - self.stored - self.cached

    @property
    def cost_max(self) -> float | None:
        return self.price.cost(self.prompt_tokens, self.completion_tokens_max) if self.price else None

    def record(self) -> dict[str, Any]:
        return {"judge": self.judge, "calls": self.calls, "stored": self.stored, "cached": self.cached,
                "to_send": self.to_send, "prompt_tokens_est": self.prompt_tokens,
                "completion_tokens_max": self.completion_tokens_max,
                "cost_usd_max": None if self.cost_max is None else round(self.cost_max, 6)}


def plan_run(task_path: str | Path, options: RunOptions, plugins: LoadedPlugins | None = None) -> tuple[list[JudgePlan], list[str]]:
    """Per judge, what the run would do now; and what the plan cannot count."""
    plugins = plugins or load_plugins()
    registry = Registry.collect(plugins.manager)
    loaded = load_task(task_path, registry, overrides=options.overrides, limit=options.limit,
                       prepare_jinja=plugins.manager.prepare_jinja_environment)
    specs = judge_specs(loaded, options)
    backends = [make_backend(registry, spec) for spec in specs]  # checks the setup; starts nothing
    loaded.task.concurrency = min(b.concurrency for b in backends)
    requests = build_requests(loaded, plugins.manager)
    stored = _stored_keys(Path(options.out)) if options.out else {}
    cache_path = options.cache_path or default_cache_path()
    panel = len(specs) > 1
    plans = []
    for spec, backend in zip(specs, backends, strict=True):
        done = stored.get(spec.label if panel else None, set())
        pending = [r for r in requests if r.key not in done]
        use_cache = options.cache and not options.refresh and backend.cacheable
        cached = _cached(cache_path, backend.spec, loaded.task.version, pending) if use_cache else set()
        to_send = [r for r in pending if r.key not in cached]
        plans.append(JudgePlan(
            judge=spec.label, calls=len(requests), stored=len(requests) - len(pending), cached=len(cached),
            prompt_tokens=sum(estimate_prompt_tokens(r) for r in to_send),
            completion_tokens_max=sum(r.sampling.max_tokens for r in to_send),
            price=run_price(loaded, spec, options),
        ))
    unknown = ["re-asks of answers that do not parse (up to options.reask per call)"]
    if type(loaded.task).next_requests is not Task.next_requests:
        unknown.append(f"calls of {loaded.kind.name} that depend on earlier answers (later rounds of adaptive "
                       "sampling, a tournament or generated checklists), where the task has them")
    return plans, unknown


def _stored_keys(directory: Path) -> dict[str | None, set[str]]:
    """Request keys a run directory already has a verdict for, by judge (None: any judge), read
    without taking the run's lock or creating anything."""
    path = directory / STORE_FILE
    done: dict[str | None, set[str]] = {}
    if not path.is_file():
        return done
    for line in jsonl_lines(path.read_text(encoding="utf-8", errors="replace")):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill: the run cuts it off when it reopens the store
        if isinstance(record, dict) and record.get("status") in DONE_STATUSES:
            for judge in (None, record.get("judge")):
                done.setdefault(judge, set()).add(str(record.get("request_key")))
    return done


def _cached(path: Path, spec: JudgeSpec, version: str, requests: list[JudgeRequest]) -> set[str]:
    """Request keys of `requests` whose answer the cache holds (opened read-only; none if absent)."""
    if not path.is_file() or not requests:
        return set()
    keys = CacheKeys(spec, version)
    by_cache_key = {keys(r): r.key for r in requests}
    found: set[str] = set()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        wanted = list(by_cache_key)
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = db.execute(f"SELECT key FROM judgments WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(by_cache_key[row[0]] for row in rows)
    except sqlite3.Error:
        return set()
    finally:
        db.close()
    return found


def print_plan(plans: list[JudgePlan], unknown: list[str]) -> None:
    print("dry run: nothing was sent and nothing written")
    for plan in plans:
        cost = (f"cost at most {plan.cost_max:.4f} USD" if plan.cost_max is not None
                else "cost unknown (no price table: --prices FILE)")
        print(f"judge {plan.judge}: {plan.calls} calls ({plan.stored} stored in --out, {plan.cached} in the cache, "
              f"{plan.to_send} to send); to send: about {plan.prompt_tokens} prompt tokens, at most "
              f"{plan.completion_tokens_max} completion tokens; {cost}")
    if len(plans) > 1:
        costs = [p.cost_max for p in plans]
        total = f"{sum(c for c in costs if c is not None):.4f} USD" if all(c is not None for c in costs) else "unknown"
        print(f"panel: {sum(p.calls for p in plans)} calls, {sum(p.to_send for p in plans)} to send; cost at most {total}")
    print("not counted: " + "; ".join(unknown))


def dry_run(task_path: str | Path, options: RunOptions, plugins: LoadedPlugins | None = None) -> int:
    plans, unknown = plan_run(task_path, options, plugins)
    print_plan(plans, unknown)
    return 0
