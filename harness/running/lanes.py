"""One judge's share of a run (a lane), and judging every lane at once.

A run has one lane per judge (a panel has several, see harness.running.judges). A lane owns everything
that is per judge: the backend, its retry policy, rate limiter, price and spending cap, the call
statistics for run.json, and the requests asked of it (including a multi-stage protocol's
follow-ups, which depend on that judge's own earlier answers). Lanes run concurrently in one
event loop; a lane that fails (a dead judge, a spent budget) stops only itself, and its error is
kept for the run to report once the other lanes are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput, BudgetReached, RunFailed
from harness.judges.base import JudgeBackend, JudgeConfigError, JudgeError, judge_failure
from harness.judges.reachability import Reachability
from harness.models import JudgeRequest, JudgeSpec
from harness.pricing import Price, SpendingCap
from harness.running.cache import JudgmentCache
from harness.running.progress import Progress
from harness.running.ratelimit import RateLimiter
from harness.running.runner import CallStats, RetryPolicy, Runner
from harness.store import RunDirectory
from harness.tasks import LoadedTask

if TYPE_CHECKING:
    from harness.plugins import HarnessPluginManager


@dataclass
class Lane:
    spec: JudgeSpec
    backend: JudgeBackend
    retry: RetryPolicy
    limiter: RateLimiter | None
    price: Price | None
    spending: SpendingCap | None
    #: Store records are looked up under this judge (None: by request key alone, a single judge).
    store_judge: str | None
    #: Stops the lane early when its one endpoint cannot be connected to (harness.judges.reachability).
    reachability: Reachability | None = None
    requests: list[JudgeRequest] = field(default_factory=list)
    stats: CallStats = field(default_factory=CallStats)
    #: What stopped this lane early (RunFailed or BudgetReached), re-raised once every lane is done.
    error: Exception | None = None

    @property
    def label(self) -> str:
        return self.backend.label

    def pending(self, store: RunDirectory, requests: list[JudgeRequest] | None = None) -> list[JudgeRequest]:
        return [r for r in (self.requests if requests is None else requests)
                if not store.is_done(r.key, self.store_judge)]


def judge_lanes(
    loaded: LoadedTask, lanes: list[Lane], store: RunDirectory, pm: HarnessPluginManager, cache: JudgmentCache | None, *,
    progress: bool, max_calls: int | None, follow_ups: Any,
) -> None:
    """Judge what each lane has pending, all lanes at once, then their follow-ups, until done.

    `follow_ups(lane)` returns the new requests a lane's stored results make possible. With one
    lane its error propagates at once (as a single-judge run always did); with several, each
    lane's error is kept on the lane and the others go on.
    """
    total = sum(len(lane.requests) for lane in lanes)
    pending = {id(lane): lane.pending(store) for lane in lanes}
    done = total - sum(len(p) for p in pending.values())

    async def one(lane: Lane, bar: Progress) -> None:
        todo = pending[id(lane)]
        started = False
        try:
            while True:
                if todo:
                    if not started:
                        try:
                            await lane.backend.start()
                        except JudgeConfigError as exc:
                            raise BadInput(str(exc)) from None
                        except JudgeError as exc:
                            raise RunFailed(judge_failure(lane.label, exc)) from None
                        started = True
                    runner = Runner(
                        loaded.task, lane.backend, store, retry=lane.retry, progress=bar,
                        on_verdict=pm.verdict_recorded, stats=lane.stats,
                        cache=cache if lane.backend.cacheable else None, max_calls=max_calls, limiter=lane.limiter,
                        spending=lane.spending, reachability=lane.reachability,
                    )
                    await runner.run(todo)
                new = follow_ups(lane)
                if not new:
                    return
                lane.requests = lane.requests + new
                todo = lane.pending(store, new)
                bar.grow(len(new), already_done=len(new) - len(todo))
        finally:
            if started:
                await lane.backend.close()

    async def kept(lane: Lane, bar: Progress) -> None:
        try:
            await one(lane, bar)
        except (RunFailed, BudgetReached) as exc:
            lane.error = exc

    async def main() -> None:
        with Progress(total, already_done=done, enabled=progress) as bar:
            if len(lanes) == 1:
                await one(lanes[0], bar)
            else:
                await asyncio.gather(*(kept(lane, bar) for lane in lanes))

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(main())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed, else asyncio's own (None).

    A judge call is mostly event-loop and HTTP-client work in the harness's process: uvloop (libuv,
    in C) does the loop's share in a fraction of asyncio's CPU, which is what lets one core keep up
    with a fast judge (bench/judge_call_cpu.py)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def first_error(lanes: list[Lane]) -> Exception | None:
    """The error to end the run with: a failed judge before a spent budget; the budget stops of a
    panel's judges as one (it is one budget: the requests it left, of every judge)."""
    errors = [lane.error for lane in lanes if lane.error is not None]
    failed = [e for e in errors if isinstance(e, RunFailed) and not isinstance(e, BudgetReached)]
    if failed:
        if len(failed) > 1:
            return RunFailed("; ".join(str(e) for e in failed))
        return failed[0]
    stops = [e for e in errors if isinstance(e, BudgetReached)]
    if len(stops) > 1:
        return BudgetReached(stops[0].budget, sum(stop.unjudged for stop in stops))
    return errors[0] if errors else None
