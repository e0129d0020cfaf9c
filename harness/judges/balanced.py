"""One judge served by several OpenAI-compatible endpoints (replicas of the same model).

Why a backend of its own: the runner sees one judge with one retry loop, while this class picks
an endpoint per call (fewest calls in flight, ties in turn) and keeps a small health record per
endpoint. An endpoint that keeps failing the way a dead server fails (connection errors,
timeouts, 5xx) is taken out of rotation, so the run does not keep paying backoff for it; after
`probe_after_s` one call probes it and, if it answers, it is back. A call that lands on an
endpoint just taken out is sent straight to a live one (the dead server gave no answer). Rate
limits (429) and malformed bodies are the runner's business, not a sign of a dead server.
When every endpoint is out, the run stops (a fatal error: verdicts stored so far are kept).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.judges.base import FatalJudgeError, JudgeBackend, TransientJudgeError
from harness.judges.defaults import DEAD_AFTER, PROBE_AFTER_S
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, strip_url_credentials


@dataclass
class Endpoint:
    """One base URL, its own client, and what the balancer knows of its health."""

    url: str  #: without credentials: safe to print
    backend: JudgeBackend
    in_flight: int = 0
    calls: int = 0
    failures: int = 0  #: consecutive endpoint failures
    dead_since: float | None = None
    probing: bool = False
    last_error: str = field(default="", repr=False)

    @property
    def live(self) -> bool:
        return self.dead_since is None


def is_endpoint_failure(exc: TransientJudgeError) -> bool:
    """What a dead or broken server looks like: no HTTP answer at all, or a 5xx."""
    return exc.status is None or exc.status >= 500


class BalancedBackend(JudgeBackend):
    """Spreads calls over `spec.base_urls`, one client backend per URL.

    `concurrency` is per endpoint, so N endpoints keep N x concurrency calls in flight.
    """

    def __init__(self, spec: JudgeSpec, make_backend: Callable[[JudgeSpec], JudgeBackend] | None = None):
        super().__init__(spec)
        if make_backend is None:
            from harness.judges.openai_compat import OpenAIBackend

            make_backend = OpenAIBackend
        urls = spec.base_urls
        if not urls:
            raise FatalJudgeError(f"judge {spec.label!r}: no base URL to balance over")
        self.endpoints = [
            Endpoint(url=strip_url_credentials(url) or url, backend=make_backend(spec.model_copy(update={"base_url": url})))
            for url in urls
        ]
        for endpoint in self.endpoints:
            endpoint.backend.notices = self.notices  # one list: said once, all land in run.json
        self.capabilities = self.endpoints[0].backend.capabilities
        self.dead_after = max(1, int(spec.options.get("dead_after", DEAD_AFTER)))
        self.probe_after_s = float(spec.options.get("probe_after_s", PROBE_AFTER_S))
        self._turn = itertools.count()

    def __repr__(self) -> str:
        return f"BalancedBackend({self.label!r}, {len(self.endpoints)} endpoints)"

    @property
    def concurrency(self) -> int:
        return self.spec.concurrency * len(self.endpoints)

    def check(self) -> None:
        for endpoint in self.endpoints:
            endpoint.backend.check()

    async def start(self) -> None:
        for endpoint in self.endpoints:
            await endpoint.backend.start()

    async def close(self) -> None:
        await asyncio.gather(*(e.backend.close() for e in self.endpoints), return_exceptions=True)

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        while True:
            endpoint = self._pick()
            endpoint.in_flight += 1
            endpoint.calls += 1
            try:
                response = await endpoint.backend.complete(request)
            except TransientJudgeError as exc:
                if not is_endpoint_failure(exc):
                    raise
                self._failed(endpoint, exc)
                if not endpoint.live and any(e.live for e in self.endpoints):
                    continue  # the endpoint is out of rotation and gave no answer: ask a live one now
                if not any(e.live for e in self.endpoints):
                    raise FatalJudgeError(self._all_dead_message()) from None
                raise
            finally:
                endpoint.in_flight -= 1
            self._succeeded(endpoint)
            return response

    def _pick(self) -> Endpoint:
        """A due probe first, else the live endpoint with the fewest calls in flight (ties in turn)."""
        now = time.monotonic()
        for endpoint in self.endpoints:
            due = endpoint.dead_since is not None and self.probe_after_s > 0 and (
                now - endpoint.dead_since >= self.probe_after_s)
            if due and not endpoint.probing:
                endpoint.probing = True
                return endpoint
        live = [e for e in self.endpoints if e.live]
        if not live:
            raise FatalJudgeError(self._all_dead_message())
        start = next(self._turn) % len(live)
        rotated = live[start:] + live[:start]
        return min(rotated, key=lambda e: e.in_flight)

    def _failed(self, endpoint: Endpoint, exc: TransientJudgeError) -> None:
        """Record a failure; enough of them in a row take the endpoint out of rotation."""
        endpoint.last_error = str(exc)
        if endpoint.probing:  # the probe failed: out again, next probe later
            endpoint.probing = False
            endpoint.dead_since = time.monotonic()
            return
        if not endpoint.live:
            return
        endpoint.failures += 1
        if endpoint.failures < self.dead_after:
            return
        endpoint.dead_since = time.monotonic()
        live = sum(e.live for e in self.endpoints)
        self.notice(
            f"judge {self.label}: endpoint {endpoint.url} taken out of rotation after {endpoint.failures} failures "
            f"in a row ({exc}); {live} of {len(self.endpoints)} endpoints left"
        )

    def _succeeded(self, endpoint: Endpoint) -> None:
        endpoint.failures = 0
        if endpoint.probing or not endpoint.live:
            endpoint.probing = False
            endpoint.dead_since = None
            self.notice(f"judge {self.label}: endpoint {endpoint.url} answers again; back in rotation")

    def _all_dead_message(self) -> str:
        detail = "; ".join(f"{e.url}: {e.last_error or 'no answer'}" for e in self.endpoints)
        return f"every endpoint of judge {self.label} is out of rotation ({detail})"

    def describe(self) -> dict[str, object]:
        info = self.endpoints[0].backend.describe()
        info["spec"] = self.spec.public_dict()
        info["endpoints"] = [e.url for e in self.endpoints]
        return info
