"""A judge server the harness starts and stops itself: `vllm serve` or `python -m llama_cpp.server`.

Why the harness owns the process: a user who asks for `vllm-server:MODEL` wants answers, not a
server to babysit, and a GPU server left running after a crash or Ctrl-C holds the GPU hostage.
So the server gets a free loopback port, a one-run API key and its own process group; the run
waits for `/v1/models` to answer (or fails with the server's last output lines), sends every call
through the ordinary OpenAI-compatible client, and stops the whole group (SIGTERM, SIGKILL after
a grace period) on success, failure and Ctrl-C. On Linux the server is also told to exit with
the harness (PR_SET_PDEATHSIG), which covers a harness killed by SIGKILL.

One class drives both servers; they differ in the command line and the client's dialect (see
llama_server_command here and harness.judges.vllm_server).
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import importlib.util
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.judges.base import FatalJudgeError, JudgeBackend, JudgeError
from harness.judges.openai_compat import OpenAIBackend
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec

#: Options for the harness's side (the client and this manager), never passed to the server.
CLIENT_OPTIONS = frozenset({"transport", "extra_body", "rpm", "tpm", "max_retry_wait_s", "max_attempts",
                            "unreachable_after", "unreachable_after_s"})
MANAGER_OPTIONS = frozenset({"startup_timeout_s", "shutdown_grace_s", "server_args", "executable"})
TAIL_LINES = 25


@dataclass(frozen=True)
class ServerCommand:
    """How to start one kind of server; `argv(port, key)` is the full command line."""

    name: str
    argv: Callable[[int | str, str], list[str]]
    #: The model name the client sends (the server's alias for its model).
    served_model: str
    startup_timeout_s: float
    #: Calls in flight the server can use; None: the judge's `concurrency`.
    max_concurrency: int | None = None
    #: Calls in flight when the judge sets no `concurrency` (None: JudgeSpec's default of 8).
    default_concurrency: int | None = None
    #: Said once the judge starts (the defaults chosen for this machine).
    notices: tuple[str, ...] = ()
    #: The client class (ServerClient or a subclass that speaks the server's dialect).
    client: type[ServerClient] | None = None
    #: What the judge can do beyond the OpenAI client's own (e.g. "choices").
    capabilities: frozenset[str] = frozenset()
    #: Facts for run.json known before the server starts (its version).
    facts: dict[str, object] = field(default_factory=dict)


def server_flags(options: dict[str, Any], *, dashes: bool, booleans_as_values: bool) -> list[str]:
    """Judge options that are server settings, as flags: `gpu_memory_utilization=0.8` ->
    `--gpu-memory-utilization 0.8` (vLLM) or `--n_ctx 8192` (llama_cpp.server)."""
    flags: list[str] = []
    for key, value in options.items():
        if key in CLIENT_OPTIONS or key in MANAGER_OPTIONS:
            continue
        flag = "--" + (key.replace("_", "-") if dashes else key)
        if isinstance(value, bool) and not booleans_as_values:
            flags += [flag] if value else []
        elif isinstance(value, bool):
            flags += [flag, "true" if value else "false"]
        else:
            flags += [flag, str(value)]
    extra = options.get("server_args", [])
    flags += shlex.split(extra) if isinstance(extra, str) else [str(a) for a in extra]
    return flags


def llama_server_command(spec: JudgeSpec) -> ServerCommand:
    """`python -m llama_cpp.server` on a GGUF file; `llama-server` or `llama-server:smollm2` is the
    embedded SmolLM2-135M of the `local` judge. Logprobs are on (`--logits_all true`). It starts
    through harness.judges.llama_server_main, which loads the model without extra weight buffer
    types unless the judge option use_extra_bufts is true (they crash on AMX CPUs)."""
    missing = [name for name in ("llama_cpp", "uvicorn", "fastapi", "openai") if importlib.util.find_spec(name) is None]
    if missing:
        raise BadInput(f"judge {spec.label!r} needs llama.cpp's server and the openai SDK ({', '.join(missing)} "
                       "missing): pip install 'llama-cpp-python[server]' openai")
    if spec.model in (None, "smollm2"):
        from harness.judges.local import default_model_path

        try:
            path = default_model_path()
        except FatalJudgeError as exc:
            raise BadInput(f"judge {spec.label!r}: {exc}") from None
    else:
        path = Path(spec.model).expanduser()
        if not path.is_file():
            raise BadInput(f"judge {spec.label!r}: no GGUF file at {path}")
    alias = spec.model or "smollm2"
    options = {"n_ctx": 4096, "logits_all": True, "verbose": False, **spec.options}
    extra_bufts = bool(options.pop("use_extra_bufts", False))  # the launcher's, not a server flag
    flags = server_flags(options, dashes=False, booleans_as_values=True)

    def argv(port: int | str, key: str) -> list[str]:
        return [sys.executable, "-m", "harness.judges.llama_server_main", f"--use_extra_bufts={str(extra_bufts).lower()}",
                "--model", str(path), "--model_alias", alias,
                "--host", "127.0.0.1", "--port", str(port), "--api_key", key, *flags]

    timeout = float(spec.options.get("startup_timeout_s", 120))
    # One llama.cpp context answers one call at a time; concurrent calls only make every call slower.
    return ServerCommand(name="llama_cpp.server", argv=argv, served_model=alias, startup_timeout_s=timeout,
                         max_concurrency=1)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _exit_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the server when the harness dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class ManagedServer:
    """One server process: start on a free port, wait until it answers, stop its process group."""

    def __init__(self, command: ServerCommand, *, grace_s: float = 10.0, poll_s: float = 0.25):
        self.command = command
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.key = secrets.token_hex(24)  # hex: a key starting with "-" would read as a flag
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> str:
        """Start and wait until healthy; on any failure (or Ctrl-C) the server is stopped again."""
        try:
            self._spawn()
            await self._wait_until_ready()
        except BaseException as exc:
            self.stop(keep_log=isinstance(exc, JudgeError))  # the error names the log
            raise
        return self.base_url

    def _spawn(self) -> None:
        self.port = free_port()
        handle, name = tempfile.mkstemp(prefix="harness-server-", suffix=".log")
        self.log_path = Path(name)
        with os.fdopen(handle, "wb") as log:
            self.process = subprocess.Popen(
                self.command.argv(self.port, self.key), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_exit_with_parent(),
            )
        atexit.register(self.stop)  # a second Ctrl-C during shutdown must not orphan it either

    async def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.command.startup_timeout_s
        while True:
            if self.process.poll() is not None:
                raise FatalJudgeError(
                    f"{self.command.name} exited with code {self.process.returncode} before it was ready; "
                    f"{self.tail()}"
                )
            if await asyncio.to_thread(self._answers):
                return
            if time.monotonic() >= deadline:
                raise FatalJudgeError(
                    f"{self.command.name} did not answer on {self.base_url}/models within "
                    f"{self.command.startup_timeout_s:g}s (judge option startup_timeout_s); {self.tail()}"
                )
            await asyncio.sleep(self.poll_s)

    def _answers(self) -> bool:
        request = urllib.request.Request(f"{self.base_url}/models", headers={"Authorization": f"Bearer {self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def version(self) -> str | None:
        """What the server's `GET /version` says (vLLM's server has it); None if it says nothing."""
        root = self.base_url.removesuffix("/v1")
        request = urllib.request.Request(f"{root}/version", headers={"Authorization": f"Bearer {self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                version = json.loads(response.read()).get("version")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError, AttributeError):
            return None
        return version if isinstance(version, str) else None

    def exited(self) -> int | None:
        """The server's exit code if it has died, else None."""
        return self.process.poll() if self.process is not None else None

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The server's last output lines (the API key masked), for error messages."""
        if self.log_path is None or not self.log_path.is_file():
            return "no output"
        text = self.log_path.read_text(encoding="utf-8", errors="replace").replace(self.key, "***")
        last = [line for line in text.splitlines() if line.strip()][-lines:]
        if not last:
            return f"it printed nothing (log: {self.log_path})"
        return f"its last output lines (log: {self.log_path}):\n    " + "\n    ".join(last)

    def stop(self, keep_log: bool = False) -> None:
        """SIGTERM the whole process group, SIGKILL what is left after the grace period. Idempotent.
        The log is deleted after a clean stop unless `keep_log`."""
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is None:
            return
        pgid = process.pid  # start_new_session: the server leads its own group
        _signal_group(pgid, signal.SIGTERM)
        try:
            process.wait(timeout=self.grace_s)
        except subprocess.TimeoutExpired:
            pass
        if _group_alive(pgid, wait_s=1.0 if process.returncode is not None else 0.0):
            _signal_group(pgid, signal.SIGKILL)
            _group_alive(pgid, wait_s=2.0)
        process.wait()
        if not keep_log and process.returncode in (0, -signal.SIGTERM) and self.log_path:
            self.log_path.unlink(missing_ok=True)  # clean stop: nothing worth keeping
            self.log_path = None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int, wait_s: float) -> bool:
    """Whether any process of the group is still there after waiting up to `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


class ManagedServerBackend(JudgeBackend):
    """Start the server in `start()`, judge through the OpenAI-compatible client, stop in `close()`."""

    def __init__(self, spec: JudgeSpec, command: ServerCommand):
        super().__init__(spec)
        self.capabilities = OpenAIBackend.capabilities | command.capabilities
        self.command = command
        self.server = ManagedServer(command, grace_s=float(spec.options.get("shutdown_grace_s", 10.0)))
        self._client: ServerClient | None = None

    def __repr__(self) -> str:
        return f"ManagedServerBackend({self.label!r})"

    @property
    def concurrency(self) -> int:
        wanted = self.spec.concurrency
        if "concurrency" not in self.spec.model_fields_set and self.command.default_concurrency is not None:
            wanted = self.command.default_concurrency
        return min(wanted, self.command.max_concurrency or wanted)

    async def start(self) -> None:
        for text in self.command.notices:
            self.notice(text)
        base_url = await self.server.start()
        client_spec = self.spec.model_copy(update={
            "model": self.command.served_model, "base_url": base_url, "concurrency": self.concurrency,
            "options": {k: v for k, v in self.spec.options.items() if k in CLIENT_OPTIONS},
        })
        try:
            # In a thread: a client may ask the server something first (vLLM's version).
            client = await asyncio.to_thread(self.command.client or ServerClient, client_spec, self.server)
            client.notices = self.notices
            await client.start()
        except BaseException:
            self.server.stop()
            raise
        self._client = client

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        if self._client is None:
            raise RuntimeError("ManagedServerBackend.complete() called before start()")
        try:
            return await self._client.complete(request)
        except JudgeError as exc:
            code = self.server.exited()
            if code is not None:  # retrying cannot help a server that is gone
                raise FatalJudgeError(f"{self.command.name} exited with code {code} during the run; "
                                      f"{self.server.tail()}") from None
            raise exc

    async def close(self) -> None:
        try:
            if self._client is not None:
                client, self._client = self._client, None
                await client.close()
        finally:
            await asyncio.to_thread(self.server.stop)

    def describe(self) -> dict[str, object]:
        return {"spec": self.spec.public_dict(), "server": self.command.name,
                "command": shlex.join(self.command.argv("{port}", "***")), **self.command.facts,
                **(self._client.facts() if self._client is not None else {})}


class ServerClient(OpenAIBackend):
    """The OpenAI-compatible client with the managed server's own key, never OPENAI_API_KEY (the
    user's real key has no business reaching a local server). `key` alone: a server started
    elsewhere (benchmarks)."""

    def __init__(self, spec: JudgeSpec, server: ManagedServer | None, *, key: str | None = None):
        super().__init__(spec)
        self._server_key = key if key is not None else server.key if server is not None else ""

    def _api_key(self) -> str:
        return self._server_key

    def facts(self) -> dict[str, object]:
        """What run.json should know about the server, learnt by talking to it."""
        return {}

