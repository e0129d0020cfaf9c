"""The embedded llama.cpp engine in a worker process, so that its crash cannot take the run with it.

Why: llama.cpp is native code. A bug in it (issue 25: SIGSEGV/SIGILL on AMX CPUs), a corrupt GGUF
file or the kernel's out-of-memory killer ends the process that runs it, and in-process that was
the harness itself: no message, no clean run.json. In a worker (`python -m
harness.judges.llama_worker FD`, speaking over a socket pair) the crash is an EOF on the socket;
the caller turns it into a fatal judge error that names the signal, and the run ends like any
other (exit 1, stored verdicts kept, the same command resumes). The worker holds one
LlamaEngine, so prefix reuse works as before; a call costs one pickled request and one pickled
answer on a local socket (bench/llama_worker_overhead.py).

The worker ignores SIGINT (Ctrl-C is the harness's to handle: it closes the worker) and asks
Linux to kill it when the harness dies (PR_SET_PDEATHSIG), so it never outlives its parent.

`HARNESS_TEST_ENGINE_CRASH=SIGNAL@N` (tests only) makes the worker crash for real (a null
pointer read for SIGSEGV, abort() for SIGABRT, else the signal) at its N-th call.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from harness.judges.exits import describe_exit

CRASH_HOOK = "HARNESS_TEST_ENGINE_CRASH"


@dataclass(frozen=True)
class EngineSettings:
    """What the worker loads: one GGUF file and how."""

    model_path: str
    n_ctx: int
    n_threads: int
    use_extra_bufts: bool = False


@dataclass(frozen=True)
class EngineCall:
    """One judge call for the worker: score `choices` exactly, or generate."""

    messages: list[dict[str, str]]
    choices: tuple[str, ...] | None
    max_tokens: int
    temperature: float
    seed: int
    top_logprobs: int


class EngineCrashed(Exception):
    """The worker died (a signal or an exit code), so did its model."""

    def __init__(self, what: str, signal_name: str | None):
        super().__init__(what)
        self.signal_name = signal_name


class EngineFailed(Exception):
    """The worker answered with an error it could not handle (a Python exception in it)."""


class EngineWorker:
    """The parent's handle on one worker. Not thread-safe: one call at a time (LocalBackend locks)."""

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.facts: dict[str, Any] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        """Start the worker and wait until its model is loaded (EngineCrashed if it dies loading).

        A plain `python -m` child rather than multiprocessing's spawn: spawn re-runs the caller's
        main module, which a notebook or a script without a `__main__` guard cannot survive."""
        ours, theirs = socket.socketpair()
        with ours, theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "harness.judges.llama_worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
            self._conn = Connection(ours.detach())
        self._conn.send(self.settings)
        reply = self._receive()
        if reply[0] == "load_error":
            self.close()
            raise EngineFailed(reply[1])
        self.facts = reply[1]

    def complete(self, call: EngineCall) -> Any:
        """The EngineOutput of one call; PromptTooLong as the engine raised it."""
        from harness.judges.llama_engine import PromptTooLong

        if self._conn is None:
            raise EngineFailed("the engine is closed")
        try:
            self._conn.send(("complete", call))
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise self._crashed() from None
        reply = self._receive()
        if reply[0] == "too_long":
            raise PromptTooLong(reply[1])
        if reply[0] == "error":
            raise EngineFailed(reply[1])
        return reply[1]

    def _receive(self) -> tuple[str, Any]:
        assert self._conn is not None
        try:
            return self._conn.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise self._crashed() from None

    def _crashed(self) -> EngineCrashed:
        process = self._process
        if process is not None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        code = process.returncode if process is not None else None
        self._release()
        what, name = describe_exit(code)
        return EngineCrashed(what, name)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self, grace_s: float = 10.0) -> None:
        """Ask the worker to exit; terminate it, then kill it, if it does not. Idempotent."""
        if self._conn is not None:
            try:
                self._conn.send(("close", None))
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
        process = self._process
        if process is not None:
            for stop, wait_s in ((None, grace_s), (process.terminate, 2.0), (process.kill, None)):
                if stop is not None:
                    stop()
                try:
                    process.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._release()

    def _release(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._process = None


# -- the worker's side -----------------------------------------------------------------------------
def serve(conn: Connection) -> None:
    """The worker's main loop: load, then answer calls until told to close or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    crash_signal, crash_at = _crash_hook()
    try:
        settings: EngineSettings = conn.recv()
    except (EOFError, OSError):
        return
    try:
        engine, facts = _load(settings)
    except Exception as exc:  # a missing or unreadable file, a GGUF without a chat template
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", facts))
    calls = 0
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if op == "close":
            engine.llm.close()
            return
        calls += 1
        if calls == crash_at:
            _crash(crash_signal)
        conn.send(_answer(engine, payload))


def _load(settings: EngineSettings) -> tuple[Any, dict[str, Any]]:
    import llama_cpp

    from harness.judges import llama_load
    from harness.judges.llama_engine import LlamaEngine

    llm = llama_load.load_llama(settings.model_path, n_ctx=settings.n_ctx, n_threads=settings.n_threads,
                                use_extra_bufts=settings.use_extra_bufts)
    facts = {"llama_cpp_python": llama_cpp.__version__,
             "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
             "use_extra_bufts": bool(llm.model_params.use_extra_bufts) if llama_load.has_setting() else None}
    return LlamaEngine(llm), facts


def _answer(engine: Any, call: EngineCall) -> tuple[str, Any]:
    from harness.judges.llama_engine import PromptTooLong

    try:
        prompt = engine.prompt_tokens(call.messages)
        if call.choices is not None:
            return "ok", engine.score_choices(prompt, call.choices, call.top_logprobs)
        return "ok", engine.generate(prompt, call.max_tokens, call.temperature, call.seed, call.top_logprobs)
    except PromptTooLong as exc:
        return "too_long", str(exc)
    except Exception as exc:  # a bug or a bad input: this call fails, the worker goes on
        return "error", f"{type(exc).__name__}: {exc}"


def _die_with_parent() -> None:
    """Linux kills this process when the harness dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _crash_hook() -> tuple[str, int]:
    """(signal name, call number) from HARNESS_TEST_ENGINE_CRASH=SIGSEGV@3; call 0: never."""
    value = os.environ.get(CRASH_HOOK, "")
    name, _, at = value.partition("@")
    return (name, int(at)) if name and at.isdigit() else ("", 0)


def _crash(name: str) -> None:
    """Die the way native code does: a real null-pointer read, a real abort()."""
    sys.stderr.flush()
    if name == "SIGSEGV":
        ctypes.string_at(0)
    if name == "SIGABRT":
        os.abort()
    os.kill(os.getpid(), signal.Signals[name])


if __name__ == "__main__":
    serve(Connection(int(sys.argv[1])))
