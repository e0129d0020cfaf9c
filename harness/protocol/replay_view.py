"""What a protocol tells the replay judge (`replay:RUN_DIR`), with a generic default.

The replay judge knows no protocol by name: for each stored verdict of the source run it asks the
replaying task's view under which keys to file it, for each request how to find its verdict in
those keys, and how to write that verdict as a judge's answer the protocol's own parser reads. A
protocol returns its view from `Task.replay_view()`. The base class works for any protocol: a
verdict is found by its request id, else by its item and model, and answered with the judge
output that was stored with it (without logprobs, so no distribution is read back).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.judges.errors import RequestRejected
from harness.models import JudgeRequest, JudgeResponse


@dataclass(frozen=True)
class Stored:
    """One stored verdict as the replay needs it: the status, the protocol's data, the error and
    the judge's output."""

    status: str
    data: dict[str, Any]
    error: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class Found:
    """A request's stored verdict (None when there is none), how to name what the request asks
    about in a rejection, and a note for the user when the answer is not simply the stored one."""

    stored: Stored | None
    what: str
    notice: str | None = None


class ReplayView:
    """Generic behaviour; every method may be overridden by a protocol's view."""

    def keys(self, item_id: str, request_id: str, stored: Stored) -> tuple[Hashable, ...]:
        """The keys a stored verdict is found under; the first names it alone (the replay counts
        stored verdicts by it); no keys leave the verdict out. Default: its request id, then its
        item and model when it names one."""
        model = stored.data.get("model")
        return (("request", request_id), *((("model", item_id, model),) if isinstance(model, str) else ()))

    def find(self, stored: Mapping[Hashable, Stored], request: JudgeRequest) -> Found:
        """The stored verdict `request` asks about, looked up in the keys `keys()` gave."""
        found = stored.get(("request", request.id))
        model = request.meta.get("model")
        if found is None and isinstance(model, str):
            return Found(stored.get(("model", request.item_id, model)), f"item {request.item_id!r}, model {model!r}")
        return Found(found, f"request {request.id!r}")

    def answer(self, request: JudgeRequest, stored: Stored) -> JudgeResponse:
        """An `ok` verdict written as the judge output the protocol's parser reads (raise
        KeyError, TypeError or ValueError for data it cannot write). Default: the stored output."""
        if stored.output is None:
            raise RequestRejected(f"replay: the stored verdict of {request.id!r} keeps no judge output to answer with")
        return JudgeResponse(text=stored.output)
