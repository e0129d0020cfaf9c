"""A real OpenAI-compatible HTTP server on loopback, for tests and benchmarks.

Tests of an HTTP backend are only worth something if bytes cross a socket: mocks of the SDK hide
exactly the failures (truncated bodies, Retry-After headers, pool limits) a backend must classify.
The server runs asyncio in its own thread, so one process can serve a few thousand requests a
second with keep-alive while the code under test runs its own event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from harness.models import TokenLogprob

_PHRASES = {status.value: status.phrase for status in HTTPStatus}


@dataclass(frozen=True)
class Reply:
    """What the server answers to one chat completion: a text, or a fault.

    `status` >= 400 sends an OpenAI-style error body with `error`; `body` sends that JSON as is
    (with `status`), for servers that answer oddly; `malformed` sends a 200 whose JSON does not
    parse; `truncate` promises more bytes than it sends, then hangs up; `delay_s` waits before
    answering (on top of the server's fixed latency).
    """

    text: str = ""
    logprobs: Sequence[TokenLogprob] | None = None
    status: int = 200
    error: str = "error"
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    malformed: bool = False
    truncate: bool = False
    delay_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    body: dict[str, Any] | None = None

    @property
    def fault(self) -> str | None:
        """A short name for what went wrong on purpose, so tests can count faults served."""
        if self.truncate:
            return "truncate"
        if self.malformed:
            return "malformed"
        if self.body is not None:
            return "body"
        return f"http_{self.status}" if self.status != 200 else None


Responder = Callable[[dict[str, Any]], "Reply | Awaitable[Reply]"]


@dataclass(frozen=True)
class Served:
    """One request the server answered (or tried to): what came in and which fault went out."""

    method: str
    path: str
    body: dict[str, Any] | None
    status: int
    fault: str | None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: time.monotonic() when the request arrived, so tests can check rates and bursts.
    at: float = 0.0


def _default_responder(request: dict[str, Any]) -> Reply:
    return Reply(text="A")


class OpenAIServer:
    """`with OpenAIServer(responder) as server:` then point a client at `server.base_url`."""

    def __init__(self, responder: Responder = _default_responder, *, latency_s: float = 0.0,
                 model: str = "test-model"):
        self.responder = responder
        self.latency_s = latency_s
        self.model = model
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0
        self._served: list[Served] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-test-server",
                                        daemon=True)
        self._thread.start()
        self.port: int = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"


    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, limit=1 << 22,
                                                  backlog=1024)
        return self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports finish closing before the loop stops

    def close(self) -> None:
        """Stop listening, drop open connections (and pending delays), end the thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


    @property
    def served(self) -> list[Served]:
        with self._lock:
            return list(self._served)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat completions received, in order."""
        return [s.body for s in self.served if s.path.endswith("/chat/completions") and s.body]

    @property
    def faults(self) -> Counter[str]:
        return Counter(s.fault for s in self.served if s.fault)


    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve requests on one keep-alive connection until the peer or a fault closes it."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError,
                asyncio.CancelledError):
            pass  # peer went away, sent garbage, or the server is shutting down
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        method, path, version = head[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        keep_alive = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", ""):
            await self._send(writer, 411, {"error": {"message": "send Content-Length"}}, keep_alive=False)
            return False
        raw = await reader.readexactly(int(headers.get("content-length", 0)))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._route(writer, method, path.split("?", 1)[0], raw, headers, keep_alive)
        finally:
            self.in_flight -= 1

    async def _route(self, writer: asyncio.StreamWriter, method: str, path: str, raw: bytes,
                     headers: dict[str, str], keep_alive: bool) -> bool:
        """Answer one request; returns whether the connection stays open."""
        if method == "GET" and path == "/v1/models":
            self._record(Served(method, path, None, 200, None, headers))
            data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "harness"}]
            await self._send(writer, 200, {"object": "list", "data": data}, keep_alive=keep_alive)
            return keep_alive
        if method != "POST" or path != "/v1/chat/completions":
            self._record(Served(method, path, None, 404, "http_404", headers))
            await self._send(writer, 404, _error_body(f"no route {method} {path}", 404), keep_alive=keep_alive)
            return keep_alive
        arrived = time.monotonic()
        try:
            body = json.loads(raw)
            reply = self.responder(body)
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception as exc:  # a broken responder is a test bug: answer 500 so it shows up
            self._record(Served(method, path, None, 500, "responder_error", headers))
            await self._send(writer, 500, _error_body(f"responder failed: {exc!r}", 500), keep_alive=False)
            return False
        self._record(Served(method, path, body, reply.status, reply.fault, headers, arrived))
        if self.latency_s + reply.delay_s > 0:
            await asyncio.sleep(self.latency_s + reply.delay_s)
        return await self._answer(writer, body, reply, keep_alive)

    async def _answer(self, writer: asyncio.StreamWriter, request: dict[str, Any], reply: Reply,
                      keep_alive: bool) -> bool:
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = reply.retry_after
        if reply.truncate:
            payload = json.dumps(self._completion(request, reply)).encode()
            await self._send(writer, 200, payload[: len(payload) // 2], headers, keep_alive=False,
                             length=len(payload))
            return False
        if reply.malformed:
            await self._send(writer, 200, b'{"id": "chatcmpl-x", "choices": [{"message": ', headers,
                             keep_alive=keep_alive)
        elif reply.body is not None:
            await self._send(writer, reply.status, reply.body, headers, keep_alive=keep_alive)
        elif reply.status >= 400:
            await self._send(writer, reply.status, _error_body(reply.error, reply.status), headers,
                             keep_alive=keep_alive)
        else:
            await self._send(writer, reply.status, self._completion(request, reply), headers,
                             keep_alive=keep_alive)
        return keep_alive

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: dict[str, Any] | bytes,
                    headers: dict[str, str] | None = None, *, keep_alive: bool,
                    length: int | None = None) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        lines = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Status')}",
                 "Content-Type: application/json",
                 f"Content-Length: {len(payload) if length is None else length}",
                 f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        await writer.drain()

    def _record(self, served: Served) -> None:
        with self._lock:
            self._served.append(served)

    def _completion(self, request: dict[str, Any], reply: Reply) -> dict[str, Any]:
        """The success body, with logprobs only when the request asked for them (as OpenAI does)."""
        logprobs = None
        if request.get("logprobs"):
            tokens = reply.logprobs or [TokenLogprob(token=reply.text, logprob=0.0, top={reply.text: 0.0})]
            logprobs = {"content": [_token_json(t, int(request.get("top_logprobs") or 0)) for t in tokens]}
        prompt = " ".join(str(m.get("content", "")) for m in request.get("messages", []))
        prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else len(prompt.split())
        completion_tokens = reply.completion_tokens
        if completion_tokens is None:
            completion_tokens = len(reply.logprobs) if reply.logprobs else len(reply.text.split())
        choice = {"index": 0, "message": {"role": "assistant", "content": reply.text},
                  "finish_reason": "stop", "logprobs": logprobs}
        return {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": 0,
                "model": request.get("model", self.model), "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}


def _token_json(token: TokenLogprob, top_n: int) -> dict[str, Any]:
    top = sorted(token.top.items(), key=lambda kv: -kv[1])[:top_n]
    return {"token": token.token, "logprob": token.logprob, "bytes": list(token.token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top]}


def _error_body(message: str, status: int) -> dict[str, Any]:
    kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}
