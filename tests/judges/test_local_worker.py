"""The embedded judge's engine in a worker process (issue 25).

A native crash of llama.cpp (SIGSEGV, SIGABRT; SIGILL on AMX CPUs with extra buffer types) must end
the run like any fatal judge error: one line naming the judge and the signal, exit 1, the stored
verdicts kept, and the same command resuming without paying a stored call twice. The crashes are
real: the worker reads a null pointer or calls abort() (HARNESS_TEST_ENGINE_CRASH), so no AMX CPU
is needed to reproduce the failure class.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.judges import llama_load
from harness.judges.llama_worker import CRASH_HOOK
from harness.judges.local import LocalBackend, default_model_path
from harness.judges.managed_server import llama_server_command
from harness.models import JudgeSpec

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "harness.cli"]
CALLS = 6  # the demo, one item: 3 pairs x 2 orders


def demo(out: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "run", "tasks/demo.yaml", "--judge", "local", "--limit", "1", "--out", str(out),
                           "--no-progress"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def stored(out: Path) -> int:
    return (out / "store.jsonl").read_bytes().count(b"\n")


def test_the_model_loads_without_extra_buffer_types_unless_asked() -> None:
    path = str(default_model_path())
    assert llama_load.has_setting()
    plain = llama_load.load_llama(path, n_ctx=64, n_threads=1)
    asked = llama_load.load_llama(path, n_ctx=64, n_threads=1, use_extra_bufts=True)
    try:
        assert plain.model_params.use_extra_bufts is False
        assert asked.model_params.use_extra_bufts is True
    finally:
        plain.close()
        asked.close()
    # the patch is scoped to the constructor: llama.cpp's own default is back afterwards
    from llama_cpp import llama_cpp as api

    assert api.llama_model_default_params().use_extra_bufts is True


@pytest.mark.parametrize(("options", "expected"), [({}, False), ({"use_extra_bufts": True}, True)])
def test_the_worker_loads_with_the_judge_option(options: dict[str, object], expected: bool) -> None:
    import asyncio

    backend = LocalBackend(JudgeSpec(backend="local", options={"n_ctx": 256, **options}))

    async def facts() -> dict[str, object]:
        await backend.start()
        try:
            return dict(backend.engine_facts)
        finally:
            await backend.close()

    assert asyncio.run(facts())["use_extra_bufts"] is expected


def test_the_llama_server_judge_starts_through_the_launcher_with_the_setting() -> None:
    plain = llama_server_command(JudgeSpec(backend="llama-server")).argv(1234, "k")
    asked = llama_server_command(JudgeSpec(backend="llama-server", options={"use_extra_bufts": True})).argv(1234, "k")
    assert plain[1:4] == ["-m", "harness.judges.llama_server_main", "--use_extra_bufts=false"]
    assert asked[3] == "--use_extra_bufts=true"
    assert "--use_extra_bufts" not in plain[4:] and "--use_extra_bufts" not in asked[4:]  # never a server flag


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["SIGSEGV", "SIGABRT"])
def test_an_engine_crash_mid_run_is_one_line_and_the_run_resumes(crash: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    crashed = demo(out, {**env, CRASH_HOOK: f"{crash}@3"})
    assert crashed.returncode == 1, crashed.stderr
    errors = [line for line in crashed.stderr.splitlines() if line.startswith("harness: run failed")]
    assert len(errors) == 1, crashed.stderr
    assert "judge local" in errors[0] and crash in errors[0] and "harness doctor" in errors[0]
    assert "Traceback" not in crashed.stderr
    kept = stored(out)
    assert kept == 2  # the two calls answered before the crash
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] != "running"  # the harness lived to record how the run ended

    resumed = demo(out, env)
    assert resumed.returncode == 0, resumed.stderr
    last = json.loads((out / "run.json").read_text())["invocations"][-1]
    assert last["pending_at_start"] == CALLS - kept
    assert last["calls"] == CALLS - kept  # nothing stored was paid for again
    assert stored(out) == CALLS


def workers_with(mark: str) -> list[int]:
    """Pids of llama.cpp worker processes that inherited `mark`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if (b"harness.judges.llama_worker" in (proc / "cmdline").read_bytes()
                    and f"HARNESS_TEST_MARK={mark}".encode() in (proc / "environ").read_bytes()):
                pids.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return pids


@pytest.mark.slow
def test_the_worker_dies_with_a_harness_killed_by_sigkill(tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    env = {**os.environ, "HARNESS_TEST_MARK": mark}
    process = subprocess.Popen([*CLI, "run", "tasks/demo.yaml", "--judge", "local", "--limit", "1", "--out",
                                str(tmp_path / "run"), "--no-progress"], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not workers_with(mark):
        assert process.poll() is None and time.monotonic() < deadline, "no worker started"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while workers_with(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_with(mark) == []
