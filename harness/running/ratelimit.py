"""Requests-per-minute and tokens-per-minute limits for one judge: async token buckets.

A provider's limit is a rate, but it may be enforced over windows shorter than a minute, so each
bucket holds one second's worth (at least one request, at least the largest call seen) and refills
continuously: the server never sees a burst beyond that. Tokens are estimated before a call (the
rendered prompt at ~4 characters a token, plus `max_tokens`) and corrected afterwards from the
usage the server reports, so a judge that writes short answers is not held to its worst case.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from harness.errors import BadInput
from harness.models import JudgeRequest

#: Rough characters per token of English prose for the common BPE tokenizers.
CHARS_PER_TOKEN = 4


def estimate_prompt_tokens(request: JudgeRequest) -> int:
    """Prompt tokens before the call: characters / 4, plus a few per message for the chat template."""
    return sum(len(m.content) // CHARS_PER_TOKEN + 4 for m in request.messages)


class TokenBucket:
    """`rate_per_minute` units, bucket of one second's worth; waiters are served first come, first served.

    A cost larger than the bucket waits for a full bucket and leaves it in debt, so a single large
    call is possible but still paid for before the next one.
    """

    def __init__(self, rate_per_minute: float):
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = max(1.0, self.rate_per_s)
        self.level = self.capacity
        self._updated = time.monotonic()
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self._updated) * self.rate_per_s)
        self._updated = now

    async def take(self, cost: float) -> float:
        """Wait until `cost` units may be spent, spend them, return the seconds waited."""
        waited = 0.0
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # a run may use one event loop per stage
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:
            need = min(cost, self.capacity)
            while True:
                self._refill()
                if self.level >= need:
                    self.level -= cost
                    return waited
                # short naps, so a refund from a call that used less than estimated counts at once
                pause = min((need - self.level) / self.rate_per_s, 0.05)
                waited += pause
                await asyncio.sleep(pause)

    def correct(self, delta: float) -> None:
        """Charge `delta` more units (negative: refund) once the real cost is known."""
        self._refill()
        self.level = min(self.capacity, self.level - delta)


class RateLimiter:
    """The rpm and tpm buckets of one judge; either may be absent."""

    def __init__(self, rpm: float | None = None, tpm: float | None = None):
        self.requests = TokenBucket(rpm) if rpm else None
        self.tokens = TokenBucket(tpm) if tpm else None
        self.waited_s = 0.0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> RateLimiter | None:
        """`rpm` and `tpm` from the judge's options; None when neither is set."""
        rpm, tpm = (_positive(options, name) for name in ("rpm", "tpm"))
        return cls(rpm, tpm) if rpm or tpm else None

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait for both buckets; `waited_s` adds up the time calls spent held back here."""
        started = time.monotonic()
        if self.requests is not None:
            await self.requests.take(1)
        if self.tokens is not None:
            await self.tokens.take(estimated_tokens)
        self.waited_s += time.monotonic() - started

    def settle(self, estimated_tokens: int, used_tokens: int) -> None:
        """Correct the token bucket by what the call really used (when the server said)."""
        if self.tokens is not None and used_tokens > 0:
            self.tokens.correct(used_tokens - estimated_tokens)

    def describe(self) -> dict[str, float | None]:
        return {
            "rpm": self.requests.rate_per_s * 60 if self.requests else None,
            "tpm": self.tokens.rate_per_s * 60 if self.tokens else None,
            "waited_s": round(self.waited_s, 3),
        }


def _positive(options: dict[str, Any], name: str) -> float | None:
    value = options.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or not number > 0:
        raise BadInput(f"judge option {name}: must be a positive number, not {value!r}")
    return number


def positive_options(options: dict[str, Any], names: Iterable[str]) -> dict[str, float]:
    """The named options that are set, each checked to be a positive number (else BadInput)."""
    return {name: value for name in names if (value := _positive(options, name)) is not None}
