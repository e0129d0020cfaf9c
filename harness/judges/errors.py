"""How a judge call can fail, as the runner needs to know it (retry, stop, or fail one request).
A leaf module, so code that only raises or catches these (the replay view) loads no backend."""

from __future__ import annotations

from typing import ClassVar


class JudgeError(Exception):
    """A judge call that did not produce an output. `retryable` tells the runner what to do."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None,
                 unreachable: bool = False):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        #: The connection could not be made at all (refused, no such host): the server may be gone.
        self.unreachable = unreachable


class TransientJudgeError(JudgeError):
    """Worth retrying: rate limits, 5xx, timeouts, dropped connections, malformed bodies."""

    retryable = True


class FatalJudgeError(JudgeError):
    """Retrying cannot help (bad key, unknown model, bad request): the run stops."""

    retryable = False


class JudgeConfigError(FatalJudgeError):
    """The judge is set up wrongly (no key, no model, a bad option): bad input, exit code 2."""


class RequestRejected(JudgeError):
    """This one request cannot be judged (too long for the context): stored as failed, run goes on."""

    retryable = False
