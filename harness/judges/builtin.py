"""Registers the built-in judge backends through the same hook third-party backends use."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.judges.base import JudgeBackend
from harness.models import JudgeSpec


def _local(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.local import LocalBackend

    return LocalBackend(spec)


def _openai(spec: JudgeSpec) -> JudgeBackend:
    from harness.judges.openai_compat import OpenAIBackend

    return OpenAIBackend(spec)


@hookimpl
def harness_register_judges(register: Callable[[str, Callable[[JudgeSpec], JudgeBackend]], None]) -> None:
    register("local", _local)
    register("openai", _openai)
