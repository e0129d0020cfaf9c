"""Test helpers for the harness and for plugin authors.

`OpenAIServer` is a real OpenAI-compatible HTTP server on loopback whose answers a test scripts
(texts, logprobs, HTTP errors, broken bodies, delays), so HTTP backends are tested over a socket
rather than against mocks. `ScriptedJudge` puts content-based rules in front of it; `PanelJudge`
answers from planted model qualities, severity and position bias, to test a panel's statistics. The pytest
plugin (`harness.testing.pytest_plugin`, loaded automatically once harness-eval is installed)
gives plugin authors the fixtures `harness_judge_server`, `harness_run_dir` and `harness_run_task`.

Names are imported on first use: pytest loads this package in every session, so importing it must
stay cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "OpenAIServer": "harness.testing.openai_server",
    "Reply": "harness.testing.openai_server",
    "Served": "harness.testing.openai_server",
    "PanelJudge": "harness.testing.planted_panel",
    "ScriptedJudge": "harness.testing.scripted",
    "write_task": "harness.testing.tasks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.testing' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
