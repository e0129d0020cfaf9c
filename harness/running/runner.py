"""Send judge requests with bounded concurrency, retry what is worth retrying, store each verdict.

The runner owns the retry loop (backends only classify errors): transient errors are retried
with exponential backoff and jitter, honouring a server's Retry-After, up to a number of attempts
and a total time spent waiting; a call that exhausts either is stored as `failed` (never a
verdict) and retried by the next run; a fatal error stops the run at once, keeping everything
already stored. An answer that does not parse is asked again (a new call, its own cache key) a
few times before it is stored as `invalid`. Rate limits and budgets are checked before each call.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from harness.errors import BadInput, BudgetReached, RunFailed
from harness.judges.base import JudgeBackend, JudgeConfigError, JudgeError, RequestRejected, judge_failure
from harness.judges.reachability import Reachability
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.pricing import SpendingCap
from harness.protocol import InvalidOutput, Task
from harness.reasoning_traces import without_judge_trace
from harness.running.cache import CacheKeys, JudgmentCache
from harness.running.progress import Progress
from harness.running.ratelimit import RateLimiter, estimate_prompt_tokens, positive_options
from harness.store import RunDirectory


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_wait_s: float = 1.0
    #: Ceiling of one exponential-backoff wait (a server's Retry-After is honoured as given).
    max_wait_s: float = 30.0
    #: A call that would wait longer than this in total before its next attempt is given up
    #: (stored as failed, retried by the next run), so a long outage never looks like a hang.
    max_total_wait_s: float = 600.0

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one, else capped exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        ceiling = min(self.max_wait_s, self.initial_wait_s * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    def with_judge_options(self, options: dict[str, Any]) -> RetryPolicy:
        """This policy with a judge's (or a generating model's) `max_attempts` and
        `max_retry_wait_s` options on top: every command that calls a model honours them."""
        given = positive_options(options, ("max_attempts", "max_retry_wait_s"))
        changes: dict[str, Any] = {}
        if "max_attempts" in given:
            if given["max_attempts"] != int(given["max_attempts"]):
                raise BadInput("judge option max_attempts: must be a whole number")
            changes["max_attempts"] = int(given["max_attempts"])
        if "max_retry_wait_s" in given:
            changes["max_total_wait_s"] = given["max_retry_wait_s"]
        return replace(self, **changes) if changes else self


@dataclass
class CallStats:
    #: Judge calls made (every attempt, every re-ask); cache hits are not calls.
    calls: int = 0
    retries: int = 0
    reasks: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    #: Tokens of the calls made in this invocation (cache hits cost nothing).
    tokens_in: int = 0
    tokens_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, JudgeError) and exc.retryable


#: Requests whose cache keys are looked up together (JudgmentCache.prefetch): one query each
#: this many instead of one a request, with at most this many keys held at a time.
PREFETCH = 512


class _GaveUp(Exception):
    """A call that ended without an answer: becomes a `failed` verdict with this message."""


class Runner:
    """Runs the pending requests of one task against one backend into one run directory."""

    def __init__(
        self,
        task: Task,
        backend: JudgeBackend,
        store: RunDirectory,
        *,
        retry: RetryPolicy = RetryPolicy(),
        on_verdict: Callable[[Verdict], None] | None = None,
        progress: Progress | None = None,
        stats: CallStats | None = None,
        cache: JudgmentCache | None = None,
        max_calls: int | None = None,
        limiter: RateLimiter | None = None,
        spending: SpendingCap | None = None,
        reachability: Reachability | None = None,
    ):
        self.task = task
        self.backend = backend
        self.store = store
        self.retry = retry
        self.on_verdict = on_verdict
        self.progress = progress
        self.stats = stats if stats is not None else CallStats()
        self.cache = cache
        self._cache_key = CacheKeys(backend.spec, task.version) if cache else None
        self.max_calls = max_calls
        self.limiter = limiter
        self.spending = spending
        #: Stops the run when connect failures in a row say the judge is gone (None: never).
        self.reachability = reachability
        self.reasks = int(getattr(task.config, "reask", 0) or 0)
        #: The judge named in every verdict: one string, not one built per verdict.
        self._label = backend.label
        self._stopped_by: str | None = None
        #: Verdicts being written (see `_worker`), and the first failure in writing or counting one.
        self._recording: set[asyncio.Future[None]] = set()
        self._record_error: Exception | None = None
        #: Cache keys of requests looked up ahead (`_prefetch`), by request key, until judged.
        self._prefetched: dict[str, str] = {}

    async def run(self, requests: list[JudgeRequest]) -> CallStats:
        """Judge every request, at most `backend.concurrency` at a time."""
        queue: deque[JudgeRequest] = deque(requests)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(min(self.backend.concurrency, len(requests)))]
        try:
            await asyncio.gather(*workers)
            await self._recorded()
            if queue:
                raise BudgetReached(self._stopped_by or "a budget", len(queue))
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # Verdicts already paid for are stored even when the run stops (fatal error, Ctrl-C).
            await asyncio.gather(*self._recording, return_exceptions=True)
        return self.stats

    async def _worker(self, queue: deque[JudgeRequest]) -> None:
        while queue and self._record_error is None:
            request = queue.popleft()
            if self.cache is not None and self._cache_key is not None and request.key not in self._prefetched:
                self._prefetch([request, *itertools.islice(queue, PREFETCH - 1)])
            verdict = await self._judge(request)
            if verdict is None:  # a budget is spent: leave the request pending for the next run
                queue.appendleft(request)
                return
            # The worker takes its next request while this verdict is written and fsynced: making
            # it wait for the disk (and for the writer thread to get the GIL) cost a fifth of the
            # judge's throughput. The verdict is counted only once it is durable (`_stored`).
            # The answers first: the cache writes what is queued just before the group of verdicts
            # holding this one is written, so a verdict on disk always has its answer cached (one
            # cache transaction per group commit, not one per verdict).
            stored = self.store.enqueue(verdict, before_write=self.cache.flush if self.cache is not None else None)
            self._recording.add(stored)
            stored.add_done_callback(functools.partial(self._stored, verdict))

    def _prefetch(self, requests: list[JudgeRequest]) -> None:
        """Look up the cache keys of the next requests in one go (JudgmentCache.prefetch)."""
        assert self.cache is not None and self._cache_key is not None
        keys = {request.key: self._cache_key(request) for request in requests if request.key not in self._prefetched}
        self._prefetched.update(keys)
        self.cache.prefetch(list(keys.values()))

    def _stored(self, verdict: Verdict, stored: asyncio.Future[None]) -> None:
        """Once a verdict is durable: count it, tell the plugins and move the progress bar."""
        self._recording.discard(stored)
        if stored.cancelled():
            return
        try:
            stored.result()  # the write's failure, if it failed
            self._count(verdict)
            if self.on_verdict is not None:
                self.on_verdict(verdict)
            if self.progress is not None:
                self.progress.advance(verdict.status)
        except Exception as exc:  # the disk or a plugin failed: take no more requests, fail the run
            if self._record_error is None:
                self._record_error = exc

    async def _recorded(self) -> None:
        """Wait for the verdicts still being written (the workers have stopped, so no more come);
        raise the failure that stopped the run, if any."""
        await asyncio.gather(*self._recording, return_exceptions=True)
        if self._record_error is not None:
            raise self._record_error

    # -- budgets -------------------------------------------------------------------------------
    def _may_start(self, request: JudgeRequest) -> bool:
        """Whether a new paid request fits the budgets (calls in flight finish regardless)."""
        if self.max_calls is not None and self.stats.calls >= self.max_calls:
            self._stopped_by = f"--max-calls {self.max_calls}"
            return False
        if self.spending is not None and not self.spending.allows(
            estimate_prompt_tokens(request), request.sampling.max_tokens
        ):
            self._stopped_by = f"--max-cost {self.spending.max_cost:g} USD"
            return False
        return True

    # -- one request: cache, calls with retries, parse, re-asks --------------------------------
    async def _judge(self, request: JudgeRequest) -> Verdict | None:
        """The verdict of one request; None when a budget stops it, before its first call or before
        a re-ask (the answers already paid for are in the cache)."""
        current = request
        responses: list[JudgeResponse] = []
        for reask in range(self.reasks + 1):
            key = ((self._prefetched.pop(current.key, None) if reask == 0 else None)
                   or (self._cache_key(current) if self._cache_key else ""))
            response = self.cache.get(key) if self.cache else None
            if response is not None:
                if self.progress is not None:
                    self.progress.cached()
            else:
                if not self._may_start(current):
                    # a re-ask is a paid call too: past the budget the request stays unjudged, its
                    # answers so far cached, so the next run pays only for the re-asks left
                    return None
                try:
                    response = await self._call(current)
                except _GaveUp as exc:
                    return self._verdict(request, "failed", responses, error=str(exc))
                if self.cache:
                    self.cache.put(key, response)
            responses.append(response)
            try:
                data = self.task.parse(current, without_judge_trace(response))
            except InvalidOutput as exc:
                if reask < self.reasks:
                    self.stats.reasks += 1
                    if self.progress is not None:
                        self.progress.reasked()
                    current = self.task.reask_request(request, response.text, str(exc), reask + 1)
                    continue
                return self._verdict(request, "invalid", responses, error=str(exc))
            return self._verdict(request, "ok", responses, data=data)
        raise AssertionError("unreachable")

    async def _call(self, request: JudgeRequest) -> JudgeResponse:
        """One judge call with retries; raises _GaveUp (or RunFailed for a fatal error)."""
        # Estimates for the rate limits and the spending cap (none: not worked out for every call).
        prompt_estimate = estimate_prompt_tokens(request) if self.limiter is not None or self.spending is not None else 0
        token_estimate = prompt_estimate + request.sampling.max_tokens
        attempts = 0
        gave_up_waiting: list[float] = []

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.retry.max_attempts:
                return True
            if state.idle_for + (state.upcoming_sleep or 0.0) > self.retry.max_total_wait_s:
                gave_up_waiting.append(state.upcoming_sleep or 0.0)
                return True
            return False

        try:
            # Most calls succeed at once: make the first attempt without building a retry loop
            # (tenacity costs about as much CPU as the HTTP client). A failure is replayed as the
            # loop's first attempt, so its waits, caps and counts are exactly the loop's own.
            attempts = 1
            try:
                response = await self._attempt(request, prompt_estimate, token_estimate)
            except JudgeError as first_error:
                replay: JudgeError | None = first_error
                attempts = 0
                async for attempt in AsyncRetrying(
                    stop=stop, wait=self.retry.wait, retry=retry_if_exception(_is_retryable), reraise=True
                ):
                    with attempt:
                        attempts += 1
                        if replay is not None:
                            failed, replay = replay, None
                            raise failed from None  # the first attempt's error, replayed as the loop's
                        self.stats.retries += 1
                        if self.progress is not None:
                            self.progress.retried()
                        response = await self._attempt(request, prompt_estimate, token_estimate)
        except JudgeError as exc:
            name = type(exc).__name__ if exc.status is None else f"HTTP {exc.status}"
            self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
            if isinstance(exc, JudgeConfigError):
                raise BadInput(str(exc)) from None
            if not exc.retryable and not isinstance(exc, RequestRejected):
                raise RunFailed(judge_failure(self.backend.label, exc)) from None
            if gave_up_waiting:
                raise _GaveUp(
                    f"{name} after {attempts} attempts; gave up because waiting {gave_up_waiting[0]:.1f}s more "
                    f"would pass max_retry_wait_s={self.retry.max_total_wait_s:g}: {exc}"
                ) from None
            raise _GaveUp(f"{name} after {attempts} attempts: {exc}") from None
        self.stats.tokens_in += response.tokens_in
        self.stats.tokens_out += response.tokens_out
        return response

    async def _attempt(self, request: JudgeRequest, prompt_estimate: int, token_estimate: int) -> JudgeResponse:
        """One HTTP (or engine) call, inside the rate limits, with its cost reserved then settled."""
        self.stats.calls += 1
        reserved = self.spending.reserve(prompt_estimate, request.sampling.max_tokens) if self.spending else 0.0
        if self.limiter is not None:
            await self.limiter.acquire(token_estimate)
        try:
            response = await self.backend.complete(request)
        except BaseException as exc:
            if self.spending is not None:
                self.spending.settle(reserved, 0, 0)
            if self.reachability is not None and isinstance(exc, JudgeError):
                self.reachability.failed(exc)  # raises RunFailed once the judge looks gone
            raise
        if self.reachability is not None:
            self.reachability.answered()
        used_in = response.tokens_in or prompt_estimate
        used_out = response.tokens_out or (request.sampling.max_tokens if not response.tokens_in else 0)
        if self.limiter is not None:
            self.limiter.settle(token_estimate, response.tokens_in + response.tokens_out)
        if self.spending is not None:
            self.spending.settle(reserved, used_in, used_out)
        return response

    # -- verdicts ------------------------------------------------------------------------------
    def _verdict(
        self,
        request: JudgeRequest,
        status: str,
        responses: list[JudgeResponse],
        *,
        data: dict | None = None,
        error: str | None = None,
    ) -> Verdict:
        """The stored record: the last answer's text; the tokens of every answer it took."""
        last = responses[-1] if responses else None
        extra = {"reasks": len(responses) - 1} if len(responses) > 1 else {}
        return Verdict(
            request_id=request.id,
            request_key=request.key,
            item_id=request.item_id,
            judge=self._label,
            status=status,  # type: ignore[arg-type]
            data={**request.meta, **(data or {}), **extra},
            output=last.text if last else None,
            error=error,
            tokens_in=sum(r.tokens_in for r in responses),
            tokens_out=sum(r.tokens_out for r in responses),
        )

    def _count(self, verdict: Verdict) -> None:
        setattr(self.stats, verdict.status, getattr(self.stats, verdict.status) + 1)
