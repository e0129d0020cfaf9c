"""Notice a judge that cannot be reached at all, and stop the run instead of paying every retry.

A stopped server, a wrong port or a host that does not resolve fails every call at connect time.
The runner's retries are meant for a server that answers badly now and then; against a dead one
they only spend every request's backoff before storing it as failed. So the runner counts connect
failures in a row, across requests (any answer from the server, an HTTP error included, resets
the count), and once there are `unreachable_after` of them over at least `unreachable_after_s`
seconds the run stops (exit 1), keeping every verdict stored. Both conditions must hold, so a
burst of refusals from a server that restarts for a second is not taken for a dead judge.
Timeouts do not count: a slow server is not a dead one. Several base URLs have their own
rotation (harness.judges.balanced); this check covers one endpoint and managed servers too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.errors import BadInput, RunFailed
from harness.judges.base import JudgeError
from harness.judges.defaults import UNREACHABLE_AFTER, UNREACHABLE_AFTER_S
from harness.models import strip_url_credentials


class Reachability:
    """Counts connect failures in a row; `failed` raises RunFailed once the judge looks dead."""

    def __init__(self, label: str, url: str | None, after: int = UNREACHABLE_AFTER,
                 after_s: float = UNREACHABLE_AFTER_S, clock: Callable[[], float] = time.monotonic):
        self.label = label
        self.url = strip_url_credentials(url) if url else None
        self.after = after
        self.after_s = after_s
        self.clock = clock
        self.streak = 0
        self.since: float | None = None

    @classmethod
    def for_judge(cls, label: str, url: str | None, options: dict[str, Any]) -> Reachability | None:
        """From the judge options; None when `unreachable_after` is 0 (the check is off)."""
        after = _number(options, "unreachable_after", UNREACHABLE_AFTER, whole=True)
        after_s = _number(options, "unreachable_after_s", UNREACHABLE_AFTER_S, whole=False)
        return cls(label, url, int(after), after_s) if after > 0 else None

    def answered(self) -> None:
        """The server answered (a verdict or an HTTP error): it is reachable."""
        self.streak, self.since = 0, None

    def failed(self, exc: JudgeError) -> None:
        """Record a failed attempt; raise RunFailed when connect failures say the judge is gone."""
        if exc.status is not None:
            self.answered()
            return
        if not exc.unreachable:
            return  # a timeout or a broken body: the server may be slow, not gone
        now = self.clock()
        if self.since is None:
            self.since = now
        self.streak += 1
        if self.streak >= self.after and now - self.since >= self.after_s:
            where = f" at {self.url}" if self.url else ""
            raise RunFailed(
                f"judge {self.label}{where} is unreachable: {self.streak} calls in a row could not connect "
                f"over {now - self.since:.0f}s ({exc}); stopped early (judge option unreachable_after)"
            )


def _number(options: dict[str, Any], name: str, default: float, *, whole: bool) -> float:
    value = options.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number < 0 or (whole and number != int(number)):
        kind = "a whole number" if whole else "a number"
        raise BadInput(f"judge option {name}: must be {kind} >= 0, not {value!r}")
    return number
