"""Judge backend options are checked against each backend's model: a misspelled or ill-typed
option is a one-line error (exit 2) naming it and the valid ones, before any run directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import hookimpl
from harness.errors import BadInput
from harness.judges.base import JudgeBackend
from harness.judges.managed_server import CLIENT_OPTIONS, MANAGER_OPTIONS, server_flags
from harness.judges.options import (
    ClientOptions,
    LlamaServerOptions,
    ManagedServerOptions,
    VLLMOptions,
    VLLMServerOptions,
    check_options,
)
from harness.models import JudgeRequest, JudgeResponse, JudgeSpec
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.testing.tasks import write_task

ROWS = [{"id": "q1", "instruction": "question", "answers": {"a": "one", "b": "two"}}]


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("judge", "option", "named", "valid"), [
    ("local", "n_ctxx=4096", "unknown judge option n_ctxx", "n_ctx"),
    ("local", "n_ctx=big", "judge option n_ctx='big'", "n_threads"),
    ("openai:judge", "transprt=httpx", "unknown judge option transprt", "transport"),
    ("openai:judge", "transport=pigeon", "judge option transport='pigeon'", "extra_body"),
    ("openai:judge", "dead_after=0", "judge option dead_after=0", "probe_after_s"),
])
def test_a_bad_judge_option_exits_2_naming_it_and_the_valid_ones(
        tmp_path: Path, judge: str, option: str, named: str, valid: str) -> None:
    task = write_task(tmp_path, name="opts", protocol="pairwise", rows=ROWS)
    out = tmp_path / "run"
    result = harness("run", str(task), "--judge", judge, "--base-url", "http://127.0.0.1:9/v1", "--out", str(out),
                     "--no-progress", "--judge-option", option)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("harness: error: ") and named in line and "(valid: " in line
    assert valid in line.split("(valid: ", 1)[1]
    assert not out.exists()  # nothing was started


def test_a_task_files_judge_options_are_checked_too(tmp_path: Path) -> None:
    task = write_task(tmp_path, name="opts", protocol="pairwise", rows=ROWS)
    spec = json.loads(task.read_text())
    spec["judge"] = {"spec": "local", "options": {"n_thread": 2}}
    task.write_text(json.dumps(spec))
    result = harness("run", str(task), "--out", str(tmp_path / "run"), "--no-progress")
    assert result.returncode == 2 and "unknown judge option n_thread" in result.stderr


def test_managed_servers_pass_undeclared_options_to_the_server_but_check_their_own() -> None:
    spec = JudgeSpec.parse("vllm-server:m", options={"gpu_memory_utilization": 0.8, "max_num_seqs": 64})
    check_options(spec, VLLMServerOptions)  # server flags by design
    with pytest.raises(BadInput, match=r"startup_timeout_s='soon'.*valid: .*server_args"):
        check_options(JudgeSpec.parse("vllm-server:m", options={"startup_timeout_s": "soon"}), VLLMServerOptions)
    with pytest.raises(BadInput, match="logits_all='maybe'"):
        check_options(JudgeSpec.parse("llama-server", options={"logits_all": "maybe"}), LlamaServerOptions)
    # what the manager keeps for itself is exactly what its model declares beyond the server's flags
    declared = set(ManagedServerOptions.model_fields)
    assert set(CLIENT_OPTIONS) <= set(ClientOptions.model_fields) and set(MANAGER_OPTIONS) <= declared
    assert server_flags({"transport": "httpx", "startup_timeout_s": 5, "max_num_seqs": 64}, dashes=True,
                        booleans_as_values=False) == ["--max-num-seqs", "64"]


def test_vllm_options_are_typed_and_engine_args_pass_through() -> None:
    check_options(JudgeSpec.parse("vllm:m", options={
        "gpu_memory_utilization": "0.8", "enforce_eager": "true", "engine_args": {"anything": [1, 2]}}), VLLMOptions)
    with pytest.raises(BadInput, match="unknown judge option gpu_mem"):
        check_options(JudgeSpec.parse("vllm:m", options={"gpu_mem": 0.8}), VLLMOptions)
    with pytest.raises(BadInput, match="judge option engine_args="):
        check_options(JudgeSpec.parse("vllm:m", options={"engine_args": "x"}), VLLMOptions)


class Echo(JudgeBackend):
    async def complete(self, request: JudgeRequest) -> JudgeResponse:
        return JudgeResponse(text=request.messages[-1].content)


class EchoPlugin:
    @hookimpl
    def harness_register_judges(self, register: Callable[..., None]) -> None:
        register("echo", Echo)


def test_a_plugin_backend_without_an_options_model_accepts_any_option() -> None:
    registry = Registry.collect(load_plugins(extra=[EchoPlugin()], autoload=False).manager)
    backend = registry.judge(JudgeSpec.parse("echo:x", options={"whatever": {"the": "backend reads it"}}))
    assert isinstance(backend, Echo)
    with pytest.raises(BadInput, match="unknown judge option n_ctxx"):
        registry.judge(JudgeSpec.parse("local", options={"n_ctxx": 1}))


def test_harness_judges_lists_each_backends_options_with_defaults() -> None:
    result = harness("judges")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for backend in ("local", "openai", "vllm", "vllm-server", "llama-server"):
        assert any(line.startswith(f"{backend} (plugin ") for line in text.splitlines()), backend
    local = text.split("local (plugin", 1)[1].split("└", 1)[0]
    assert "n_ctx" in local and "4096" in local and "n_threads" in local and "rpm" in local
    assert "any other option is passed through" in text


@pytest.mark.parametrize("fault", ["raises", "none"])
def test_a_plugin_judge_factory_that_fails_is_named(fault: str) -> None:
    """A third-party backend whose factory raises (or returns nothing) ended a run in an internal
    error naming nobody; now one line names the plugin and how to block it."""
    from harness.errors import BadInput
    from harness.hookspecs import hookimpl
    from harness.models import JudgeSpec
    from harness.plugins import load_plugins
    from harness.registry import Registry

    def factory(spec):  # type: ignore[no-untyped-def]
        if fault == "raises":
            raise RuntimeError("no GPU here")
        return None

    class Broken:
        @hookimpl
        def harness_register_judges(self, register):  # type: ignore[no-untyped-def]
            register("broken", factory)

    registry = Registry.collect(load_plugins(extra=(Broken(),)).manager)
    with pytest.raises(BadInput, match="plugin 'Broken': the judge backend 'broken'.*--block-plugin Broken"):
        registry.judge(JudgeSpec.parse("broken:model"))


def test_a_judge_backend_whose_options_model_is_no_model_is_refused_when_registered() -> None:
    """It broke `harness judges` and every run using it with an internal error; the registration
    names the plugin instead, once."""
    from harness.errors import BadInput
    from harness.hookspecs import hookimpl
    from harness.plugins import load_plugins
    from harness.registry import Registry

    def factory(spec):  # type: ignore[no-untyped-def]
        raise AssertionError("never made")

    factory.options_model = dict  # type: ignore[attr-defined]

    class OddOptions:
        @hookimpl
        def harness_register_judges(self, register):  # type: ignore[no-untyped-def]
            register("odd", factory)

    with pytest.raises(BadInput, match="plugin 'OddOptions' registers the judge backend 'odd' with an options_model"):
        Registry.collect(load_plugins(extra=(OddOptions(),)).manager)
