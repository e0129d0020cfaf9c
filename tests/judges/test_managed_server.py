"""Managed judge servers, for real: `harness run` (a CLI subprocess) starts `python -m
llama_cpp.server` with the embedded SmolLM2 GGUF, judges through it, and must leave no server
behind on success, on a fatal error, on a server that dies at startup, and on Ctrl-C.

Server processes are found by a marker in their environment (inherited from the harness), so a
leftover server is seen even after its parent has exited, and other tests' servers are ignored.
The process-group and timeout logic is also checked on small stand-in servers (real processes).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from harness.judges.base import FatalJudgeError
from harness.judges.managed_server import (
    ManagedServer,
    ManagedServerBackend,
    ServerCommand,
    server_flags,
)
from harness.judges.vllm_server import VLLM_SERVER_CONCURRENCY, vllm_server_command
from harness.models import JudgeSpec
from harness.testing.signals import sigint_as_from_a_terminal
from harness.testing.tasks import write_task

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "harness.cli"]
# Short prompts and no logits for every prompt token keep each SmolLM2 call near a second here.
FAST = ["--judge-option", "logits_all=false", "--judge-option", "n_ctx=1024", "--set", "options.logprobs=false",
        "--set", "template=pairwise_small.jinja"]


def small_task(directory: Path, n_items: int) -> Path:
    """n_items x (base vs m1) x both orders = 2 * n_items calls, forced choice A/B, no re-asks."""
    rows = [{"id": f"q{i}", "instruction": f"What is {i} plus {i}?",
             "answers": {"base": f"It is {2 * i}.", "m1": f"Maybe {2 * i + 1}."}} for i in range(n_items)]
    return write_task(directory, name="managed", protocol="pairwise", rows=rows, judge="llama-server:smollm2",
                      options={"baselines": ["base"], "verdict_format": "binary", "reasoning": False,
                               "reask": 0, "n_bootstrap": 20})


def marked_env(mark: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_DEBUG"}
    env["HARNESS_TEST_MARK"] = mark
    return env


def servers_with(mark: str) -> list[int]:
    """Pids of llama_cpp.server processes (started through the harness's launcher) that inherited `mark` (alive or zombie)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"llama_server_main" in cmdline and f"HARNESS_TEST_MARK={mark}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def verdicts(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_run_through_a_managed_llama_server_stores_verdicts_and_stops_it(tmp_path: Path) -> None:
    task, out, mark = small_task(tmp_path, 1), tmp_path / "run", uuid.uuid4().hex
    result = subprocess.run([*CLI, "run", str(task), "--out", str(out), "--no-progress", *FAST],
                            cwd=REPO, env=marked_env(mark), capture_output=True, text=True, timeout=300)
    stored = verdicts(out)
    assert len(stored) == 2 and {v["request_id"] for v in stored} == {"q0::m1::base::ab", "q0::m1::base::ba"}
    assert {v["status"] for v in stored} <= {"ok", "invalid"}
    # invalid verdicts (a 135M judge) leave numbers that cannot stand: exit 1 (harness.running.completeness)
    assert result.returncode == (0 if {v["status"] for v in stored} == {"ok"} else 1), result.stderr
    assert all(v["judge"] == "llama-server:smollm2" and v["tokens_in"] > 20 and v["output"] for v in stored)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["judge"]["server"] == "llama_cpp.server"
    assert "--api_key '***'" in manifest["judge"]["command"]
    assert servers_with(mark) == []


@pytest.mark.slow
def test_fatal_error_mid_run_stops_the_server(tmp_path: Path) -> None:
    """A context of 128 tokens cannot hold the default pairwise prompt (about 700 tokens): the
    server answers 400 (too long) to every call. Each call fails alone (the error says it is its
    length), the run ends with exit 1, and the server is stopped."""
    task, out, mark = small_task(tmp_path, 2), tmp_path / "run", uuid.uuid4().hex
    args = ["--judge-option", "logits_all=false", "--judge-option", "n_ctx=128"]
    result = subprocess.run([*CLI, "run", str(task), "--out", str(out), "--no-progress", *args],
                            cwd=REPO, env=marked_env(mark), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "HTTP 400" in result.stderr and "Traceback" not in result.stderr
    assert "harness: incomplete: 4 of 4 requests failed" in result.stderr
    assert servers_with(mark) == []


@pytest.mark.slow
def test_a_prompt_over_the_context_fails_alone_and_the_rest_is_judged(tmp_path: Path) -> None:
    """llama-cpp-python's server answers a prompt over n_ctx with a 400 `context_length_exceeded`:
    that item's two calls fail, the others are judged, the run ends incomplete naming the item."""
    rows = [{"id": f"q{i}", "instruction": f"What is {i} plus {i}?",
             "answers": {"base": f"It is {2 * i}.", "m1": f"Maybe {2 * i + 1}."}} for i in range(3)]
    rows[1]["answers"]["m1"] = "very long " * 700  # about 1,400 tokens, over n_ctx=1024
    task = write_task(tmp_path, name="managed", protocol="pairwise", rows=rows, judge="llama-server:smollm2",
                      options={"baselines": ["base"], "verdict_format": "binary", "reasoning": False,
                               "reask": 0, "n_bootstrap": 20})
    out, mark = tmp_path / "run", uuid.uuid4().hex
    result = subprocess.run([*CLI, "run", str(task), "--out", str(out), "--no-progress", *FAST],
                            cwd=REPO, env=marked_env(mark), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "run failed" not in result.stderr and "Traceback" not in result.stderr
    assert "harness: incomplete: 2 of 6 requests failed" in result.stderr and "; item q1;" in result.stderr
    stored = {v["request_id"]: v for v in verdicts(out)}
    failed = {k for k, v in stored.items() if v["status"] == "failed"}
    assert failed == {"q1::m1::base::ab", "q1::m1::base::ba"}
    assert all("maximum context length is 1024" in stored[k]["error"] for k in failed)
    assert servers_with(mark) == []


@pytest.mark.slow
def test_server_that_dies_at_startup_fails_with_its_last_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file" * 100)
    task, out, mark = small_task(tmp_path, 1), tmp_path / "run", uuid.uuid4().hex
    result = subprocess.run([*CLI, "run", str(task), "--judge", f"llama-server:{broken}", "--out", str(out),
                             "--no-progress"], cwd=REPO, env=marked_env(mark), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1, result.stderr
    assert "llama_cpp.server exited with code" in result.stderr and "last output lines" in result.stderr
    log = Path(result.stderr.split("(log: ")[1].split(")")[0])
    assert log.is_file()  # kept for the user, as the message says
    log.unlink()
    assert "Traceback" not in result.stderr.split("last output lines")[0]
    assert servers_with(mark) == []


@pytest.mark.slow
def test_ctrl_c_mid_run_exits_130_and_leaves_no_server(tmp_path: Path) -> None:
    task, out, mark = small_task(tmp_path, 6), tmp_path / "run", uuid.uuid4().hex
    # the run must meet Ctrl-C as a terminal delivers it, even from a session started in the
    # background (which ignores SIGINT: the run then never stopped, exit 1 after all 12 calls)
    with sigint_as_from_a_terminal():
        process = subprocess.Popen([*CLI, "run", str(task), "--out", str(out), "--no-progress",
                                    *FAST], cwd=REPO, env=marked_env(mark), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    store = out / "store.jsonl"
    deadline = time.monotonic() + 240
    while not (store.exists() and store.read_bytes().count(b"\n") >= 1):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no verdict stored in time"
        time.sleep(0.05)
    assert len(servers_with(mark)) == 1  # the server is up, mid-run
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert 1 <= store.read_bytes().count(b"\n") < 12
    assert servers_with(mark) == []


def test_cli_says_when_vllm_is_not_installed(tmp_path: Path) -> None:
    task = small_task(tmp_path, 1)
    result = subprocess.run([*CLI, "run", str(task), "--judge", "vllm-server:Qwen/Qwen2.5-0.5B-Instruct",
                             "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("harness: error: ") and "pip install 'harness-eval[vllm]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_judge_options_become_server_flags() -> None:
    options = {"gpu_memory_utilization": 0.8, "tensor_parallel_size": 2, "enforce_eager": True,
               "trust_remote_code": False, "transport": "aiohttp", "startup_timeout_s": 5,
               "server_args": "--max-num-seqs 64 --served-model-name judge"}
    assert server_flags(options, dashes=True, booleans_as_values=False) == [
        "--gpu-memory-utilization", "0.8", "--tensor-parallel-size", "2", "--enforce-eager",
        "--max-num-seqs", "64", "--served-model-name", "judge"]
    assert server_flags({"n_ctx": 8192, "logits_all": False}, dashes=False, booleans_as_values=True) == [
        "--n_ctx", "8192", "--logits_all", "false"]
    spec = JudgeSpec.parse("vllm-server:Qwen/Qwen2.5-7B-Instruct",
                           options={"executable": "/opt/vllm/bin/vllm", "max_model_len": 8192})
    command = vllm_server_command(spec)
    assert command.served_model == "Qwen/Qwen2.5-7B-Instruct" and command.startup_timeout_s == 900
    assert command.argv(8123, "k3y") == [
        "/opt/vllm/bin/vllm", "serve", "Qwen/Qwen2.5-7B-Instruct", "--host", "127.0.0.1", "--port", "8123",
        "--api-key", "k3y", "--max-model-len", "8192"]


def test_a_managed_vllm_server_gets_many_calls_in_flight_unless_the_judge_says_otherwise() -> None:
    """vLLM needs many sequences to batch; the paid-API default of 8 would idle the GPU."""
    def concurrency(**settings: object) -> int:
        spec = JudgeSpec.parse("vllm-server:Qwen/Qwen2.5-7B-Instruct", options={"executable": "/opt/vllm/bin/vllm"},
                               **settings)
        return ManagedServerBackend(spec, vllm_server_command(spec)).concurrency

    assert JudgeSpec.parse("openai:m").concurrency == 8
    assert concurrency() == VLLM_SERVER_CONCURRENCY > 8
    assert concurrency(concurrency=8) == 8
    assert concurrency(concurrency=300) == 300


# -- the process logic on stand-in servers (real processes, no model) ------------------------------

STUBBORN_SERVER = textwrap.dedent("""
    import http.server, signal, subprocess, sys, time
    port, pid_file = int(sys.argv[1]), sys.argv[2]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(pid_file, "w").write(str(child.pid))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a server that ignores SIGTERM

    class Models(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.end_headers()
            self.wfile.write(b'{"data": []}')

    http.server.HTTPServer(("127.0.0.1", port), Models).serve_forever()
""")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_stop_kills_a_server_that_ignores_sigterm_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    command = ServerCommand(name="stub", served_model="m", startup_timeout_s=30,
                            argv=lambda port, key: [sys.executable, "-c", STUBBORN_SERVER, str(port), str(pid_file)])
    server = ManagedServer(command, grace_s=0.5)
    assert asyncio.run(server.start()) == f"http://127.0.0.1:{server.port}/v1"
    assert server.process is not None
    leader, child = server.process.pid, int(pid_file.read_text())
    assert alive(leader) and alive(child)
    started = time.monotonic()
    server.stop()
    assert not alive(leader) and not alive(child)
    assert time.monotonic() - started < 5
    assert server.log_path is not None  # killed, not a clean stop: the log stays for a look
    server.log_path.unlink()


def test_server_that_never_answers_times_out_with_its_output(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    script = ("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
              "print('loading weights 3/7', file=sys.stderr, flush=True); time.sleep(600)")
    command = ServerCommand(name="stub", served_model="m", startup_timeout_s=1.0,
                            argv=lambda port, key: [sys.executable, "-c", script, str(pid_file)])
    server = ManagedServer(command, grace_s=2)
    with pytest.raises(FatalJudgeError) as caught:
        asyncio.run(server.start())
    message = str(caught.value)
    assert "did not answer" in message and "within 1s" in message and "loading weights 3/7" in message
    log = Path(message.split("(log: ")[1].split(")")[0])
    assert "loading weights 3/7" in log.read_text()  # kept for the user, as the message says
    log.unlink()
    assert server.process is None and not alive(int(pid_file.read_text()))  # stopped before the error surfaced


def test_ctrl_c_while_the_server_starts_stops_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    script = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    command = ServerCommand(name="stub", served_model="m", startup_timeout_s=60,
                            argv=lambda port, key: [sys.executable, "-c", script, str(pid_file)])
    server = ManagedServer(command, grace_s=2)

    async def interrupted() -> None:
        starting = asyncio.create_task(server.start())
        while not pid_file.exists() or not pid_file.read_text():
            await asyncio.sleep(0.02)
        starting.cancel()  # what asyncio.run does to the running task on Ctrl-C
        await starting

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupted())
    assert server.process is None and not alive(int(pid_file.read_text()))


HARNESS_STAND_IN = textwrap.dedent("""
    import asyncio, sys, tempfile, time
    from harness.judges.managed_server import ManagedServer, ServerCommand
    stub = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
    command = ServerCommand(name="stub", served_model="m", startup_timeout_s=600,
                            argv=lambda port, key: [sys.executable, "-c", stub, sys.argv[1]])
    tempfile.tempdir = sys.argv[2]  # the server log goes to the test's directory
    asyncio.run(ManagedServer(command).start())  # never ready: waits until killed
""")


def test_a_harness_killed_by_sigkill_takes_its_server_along(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup code: the server goes because Linux sends it SIGTERM (PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    pid_file = tmp_path / "server.pid"
    harness_process = subprocess.Popen([sys.executable, "-c", HARNESS_STAND_IN, str(pid_file), str(tmp_path)],
                                       cwd=REPO)
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()):
        assert harness_process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    server_pid = int(pid_file.read_text())
    assert alive(server_pid)
    harness_process.kill()
    harness_process.wait()
    deadline = time.monotonic() + 10
    try:
        while alive(server_pid):
            assert time.monotonic() < deadline, "the server outlived a SIGKILLed harness"
            time.sleep(0.05)
    finally:
        if alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)
