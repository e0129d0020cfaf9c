"""Load a GGUF model with llama-cpp-python, without extra weight buffer types unless asked.

Why: llama.cpp repacks weights into CPU-specific layouts (AMX, AVX-512) through "extra buffer
types". With llama-cpp-python 0.3.36 on an Intel Xeon with AMX, any prompt of two or more tokens
then kills the process (SIGSEGV or SIGILL, issue 25). Loading with
`llama_model_params.use_extra_bufts = False` makes every prompt work, at a small cost in speed
(docs/judges.md). `Llama()` has no keyword for it: it builds its model parameters from
`llama_cpp.llama_model_default_params()`, so that one function is replaced while the
constructor runs (`model_params`), or for the whole process in the llama.cpp server launcher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_patching = threading.Lock()


def has_setting() -> bool:
    """Whether this llama-cpp-python's model parameters carry `use_extra_bufts` (0.3.x, 2025 on)."""
    from llama_cpp import llama_cpp as api

    return any(field[0] == "use_extra_bufts" for field in api.llama_model_params._fields_)


def _with_setting(defaults: Callable[[], Any], use_extra_bufts: bool) -> Callable[[], Any]:
    """`defaults` (llama.cpp's own function) with `use_extra_bufts` set as asked."""
    settable = has_setting()

    def params() -> Any:
        value = defaults()
        if settable:
            value.use_extra_bufts = use_extra_bufts
        return value
    return params


def set_process_default(use_extra_bufts: bool) -> None:
    """Every model this process loads from now on gets `use_extra_bufts` as asked (the server
    launcher: llama_cpp.server builds its Llama objects itself)."""
    from llama_cpp import llama_cpp as api

    api.llama_model_default_params = _with_setting(api.llama_model_default_params, use_extra_bufts)


@contextmanager
def model_params(use_extra_bufts: bool) -> Iterator[None]:
    """While it is open, `Llama(...)` loads with `use_extra_bufts` as asked."""
    from llama_cpp import llama_cpp as api

    with _patching:
        original = api.llama_model_default_params
        api.llama_model_default_params = _with_setting(original, use_extra_bufts)
        try:
            yield
        finally:
            api.llama_model_default_params = original


def load_llama(path: str, *, n_ctx: int, n_threads: int, use_extra_bufts: bool = False) -> Any:
    """A `llama_cpp.Llama` for judging: no all-position logits, a fixed seed, quiet."""
    import llama_cpp

    with model_params(use_extra_bufts):
        return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, logits_all=False, seed=0,
                               verbose=False)
