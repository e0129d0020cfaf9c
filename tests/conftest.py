"""Shared fixtures: a real llama.cpp OpenAI-compatible server, started once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.testing.llama_server import llama_server as start_llama_server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of `python -m llama_cpp.server` serving SmolLM2-135M as model `smollm2`."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with start_llama_server(log) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def private_judgment_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own judgment cache, so no test is served by another's cached answers.

    The variable is inherited by CLI subprocesses the test starts.
    """
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(path))
    return path


@pytest.fixture
def repo() -> Path:
    """The source checkout (tasks/, prompts/ live here)."""
    return REPO
