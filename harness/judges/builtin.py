"""Registers the built-in judge backends through the same hook third-party backends use.

Each factory imports its backend module only when that backend is used, so `harness plugins`
and every other backend work without vLLM (or a GPU) installed. Each declares the options its
backend accepts (harness.judges.options), which the registry checks before a run starts.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.judges.base import JudgeBackend
from harness.judges.options import (
    LlamaServerOptions,
    LocalOptions,
    OpenAIOptions,
    ReplayOptions,
    VLLMOptions,
    VLLMServerOptions,
    judge_options,
)
from harness.models import JudgeSpec


@judge_options(LocalOptions)
def _local(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.local import LocalBackend

    return LocalBackend(spec)


@judge_options(OpenAIOptions)
def _openai(spec: JudgeSpec) -> JudgeBackend:
    """One base URL: a plain client; several: calls balanced across them."""
    if len(spec.base_urls) > 1:
        from harness.judges.balanced import BalancedBackend

        return BalancedBackend(spec)
    from harness.judges.openai_compat import OpenAIBackend

    return OpenAIBackend(spec)


@judge_options(VLLMOptions)
def _vllm(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.vllm_engine import VLLMBackend, require_vllm

    require_vllm(spec)
    return VLLMBackend(spec)


@judge_options(VLLMServerOptions)
def _vllm_server(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.managed_server import ManagedServerBackend
    from harness.judges.vllm_server import vllm_server_command

    return ManagedServerBackend(spec, vllm_server_command(spec))


@judge_options(LlamaServerOptions)
def _llama_server(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.managed_server import ManagedServerBackend, llama_server_command

    return ManagedServerBackend(spec, llama_server_command(spec))


@judge_options(ReplayOptions)
def _replay(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.replay import ReplayBackend

    return ReplayBackend(spec)


@hookimpl
def harness_register_judges(register: Callable[[str, Callable[[JudgeSpec], JudgeBackend]], None]) -> None:
    register("local", _local)
    register("openai", _openai)
    register("vllm", _vllm)
    register("vllm-server", _vllm_server)
    register("llama-server", _llama_server)
    register("replay", _replay)
