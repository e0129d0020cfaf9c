"""A lean HTTP path for chat completions: POST the raw JSON body with aiohttp, read the raw bytes.

The OpenAI SDK builds a request object, copies options and walks headers on every call: about
2 ms of CPU, which at a few hundred calls a second is the whole budget. A judge call needs none
of that: one URL, fixed headers, a JSON body out and a JSON body back. Failures are reported in
three shapes the backend classifies the same way as the SDK's: an HTTP status with the server's
error body, a timeout, or a broken connection (refused, reset, truncated body).

Per call it does only what differs between calls: the URL is parsed and the headers merged once
(the session's defaults), no cookie jar is kept (an API sets none worth sending back), and the
body is encoded with orjson, several times faster than json for the rendered prompts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

#: The OpenAI API, for `openai:MODEL` without a base URL (as the SDK does).
OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass
class HTTPFailure(Exception):
    """A response with an error status. `body` is the error object (the `error` member of an
    OpenAI-style body), the parsed JSON otherwise, or the text when it is not JSON."""

    status_code: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


class TimeoutFailure(Exception):
    """No complete answer within the timeout."""


class ConnectionFailure(Exception):
    """The connection failed or broke before a complete answer (refused, reset, truncated).

    `connect` is true when no connection was made at all (refused, no such host), which is what
    a stopped server looks like, as opposed to one that broke off an answer.
    """

    def __init__(self, message: str, connect: bool = False):
        super().__init__(message)
        self.connect = connect


def error_body(content: bytes) -> Any:
    """What an error response says: its `error` object when there is one, like the SDK's `body`."""
    try:
        data = json.loads(content)
    except ValueError:
        return content.decode("utf-8", "replace")
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    return data


class AiohttpTransport:
    """POST JSON bodies to one URL over a keep-alive pool of `concurrency` connections."""

    def __init__(self, url: str, headers: Mapping[str, str], timeout_s: float, concurrency: int):
        import aiohttp
        from yarl import URL

        self._aiohttp = aiohttp
        self.url = url
        self._url = URL(url)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            # The User-Agent is a session header, which aiohttp's own never replaces: no
            # `skip_auto_headers`, which makes aiohttp copy and sort header dicts on every call.
            headers={"User-Agent": "harness-eval", "Content-Type": "application/json", "Accept": "application/json",
                     **headers},
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def post(self, body: dict[str, Any]) -> bytes:
        try:
            payload = orjson.dumps(body)
        except TypeError:  # what orjson does not encode (an integer past 64 bits in extra_body)
            payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._session.post(self._url, data=payload) as response:
                content = await response.read()
                if response.status >= 400:
                    raise HTTPFailure(response.status, error_body(content), response.headers, response.reason or "")
                return content
        except TimeoutError:
            raise TimeoutFailure() from None
        except self._aiohttp.ClientError as exc:
            connect = isinstance(exc, self._aiohttp.ClientConnectorError)
            raise ConnectionFailure(f"{type(exc).__name__}: {exc}", connect=connect) from None

    async def close(self) -> None:
        await self._session.close()
