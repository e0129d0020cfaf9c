"""Send judge requests with bounded concurrency, retry what is worth retrying, store each verdict.

The runner owns the retry loop (backends only classify errors): transient errors are retried
with exponential backoff and jitter, honouring a server's Retry-After; a call that exhausts its
attempts is stored as `failed` (never a verdict) and retried by the next run; a fatal error
stops the run at once, keeping everything already stored.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from harness.cache import CacheKeys, JudgmentCache
from harness.errors import BudgetReached, RunFailed
from harness.judges.base import JudgeBackend, JudgeError, RequestRejected
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.progress import Progress
from harness.protocol import InvalidOutput, Task
from harness.store import RunDirectory


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    initial_wait_s: float = 1.0
    max_wait_s: float = 30.0

    def wait(self, state: RetryCallState) -> float:
        """Retry-After when the server gave one, else capped exponential backoff with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.max_wait_s)
        ceiling = min(self.max_wait_s, self.initial_wait_s * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass
class CallStats:
    calls: int = 0
    retries: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, JudgeError) and exc.retryable


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

    async def run(self, requests: list[JudgeRequest]) -> CallStats:
        """Judge every request, at most `backend.concurrency` at a time."""
        queue: asyncio.Queue[JudgeRequest] = asyncio.Queue()
        for request in requests:
            queue.put_nowait(request)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(min(self.backend.concurrency, len(requests)))]
        try:
            await asyncio.gather(*workers)
            if not queue.empty():
                raise BudgetReached(f"--max-calls {self.max_calls} reached with {queue.qsize()} requests not judged")
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        return self.stats

    async def _worker(self, queue: asyncio.Queue[JudgeRequest]) -> None:
        while not queue.empty() and not self._over_budget():
            request = queue.get_nowait()
            verdict = await self._judge(request)
            self.store.append(verdict)
            self._count(verdict)
            if self.on_verdict is not None:
                self.on_verdict(verdict)
            if self.progress is not None:
                self.progress.advance(verdict.status)

    def _over_budget(self) -> bool:
        """New requests stop once the budget of paid calls is spent (calls in flight finish)."""
        return self.max_calls is not None and self.stats.calls >= self.max_calls

    async def _judge(self, request: JudgeRequest) -> Verdict:
        key = self._cache_key(request) if self._cache_key else ""
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:
            if self.progress is not None:
                self.progress.cached()
            return self._parsed(request, cached)
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.retry.max_attempts),
                wait=self.retry.wait,
                retry=retry_if_exception(_is_retryable),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    if attempts > 1:
                        self.stats.retries += 1
                        if self.progress is not None:
                            self.progress.retried()
                    self.stats.calls += 1
                    response = await self.backend.complete(request)
        except JudgeError as exc:
            name = type(exc).__name__ if exc.status is None else f"HTTP {exc.status}"
            self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
            if not exc.retryable and not isinstance(exc, RequestRejected):
                raise RunFailed(f"judge {self.backend.label}: {exc}") from None
            return self._verdict(request, "failed", error=f"{name} after {attempts} attempts: {exc}")
        self.stats.tokens_in += response.tokens_in
        self.stats.tokens_out += response.tokens_out
        if self.cache:
            self.cache.put(key, response)
        return self._parsed(request, response)

    def _parsed(self, request: JudgeRequest, response: JudgeResponse) -> Verdict:
        try:
            data = self.task.parse(request, response)
        except InvalidOutput as exc:
            return self._verdict(request, "invalid", response, error=str(exc))
        return self._verdict(request, "ok", response, data=data)

    def _verdict(
        self,
        request: JudgeRequest,
        status: str,
        response: JudgeResponse | None = None,
        *,
        data: dict | None = None,
        error: str | None = None,
    ) -> Verdict:
        return Verdict(
            request_id=request.id,
            request_key=request.key,
            item_id=request.item_id,
            judge=self.backend.label,
            status=status,  # type: ignore[arg-type]
            data={**request.meta, **(data or {})},
            output=response.text if response else None,
            error=error,
            tokens_in=response.tokens_in if response else 0,
            tokens_out=response.tokens_out if response else 0,
        )

    def _count(self, verdict: Verdict) -> None:
        setattr(self.stats, verdict.status, getattr(self.stats, verdict.status) + 1)
