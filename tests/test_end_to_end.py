"""The demo through the real CLI on the real embedded judge, and on a real OpenAI-compatible server.

These are the checks a user would make: the run directory holds the promised files, a run killed
with SIGKILL and resumed ends with the same verdicts and numbers as a clean run, and a second run
into the same directory makes no judge call.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.testing.llama_server import LLAMA_SERVER_KEY

pytestmark = pytest.mark.slow

LIMIT = 2
# 2 items x 3 pairs against the careful baseline x 2 orders
EXPECTED_CALLS = LIMIT * 3 * 2
EXPORTS = ("verdicts.jsonl", "scores.csv", "ranking.csv")


REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "harness.cli"]


def demo_args(out: Path) -> list[str]:
    """`harness run` of the demo on the embedded judge, LIMIT items, into `out`."""
    return ["run", "tasks/demo.yaml", "--judge", "local", "--limit", str(LIMIT), "--out", str(out), "--no-progress"]


def harness(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for_stored(store: Path, count: int, process: subprocess.Popen) -> None:  # type: ignore[type-arg]
    """Until the store holds `count` verdicts; the run must still be going."""
    deadline = time.monotonic() + 300
    while not (store.exists() and store.read_bytes().count(b"\n") >= count):
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no verdicts stored in time"
        time.sleep(0.02)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def clean_run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("clean") / "run"
    env = {**os.environ, "HARNESS_CACHE_DIR": str(tmp_path_factory.mktemp("clean-cache"))}
    result = harness(*demo_args(out), env=env)
    assert result.returncode == 0, result.stderr
    return out, result


def test_demo_writes_the_promised_run_directory(clean_run_dir: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, result = clean_run_dir
    for name in ("run.json", "store.jsonl", *EXPORTS):
        assert (out / name).is_file(), name
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == EXPECTED_CALLS
    assert len({v["request_id"] for v in verdicts}) == EXPECTED_CALLS
    assert {v["status"] for v in verdicts} <= {"ok", "invalid"}
    for verdict in verdicts:
        if verdict["status"] == "ok":
            probs = verdict["data"]["probs"]
            assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
            assert verdict["data"]["level"] in ("A>>B", "B>>A")
            assert verdict["output"] in ("A", "B")

    ranking = read_csv(out / "ranking.csv")
    # The contract's columns, in order; then ci_note, the reason where an interval is left empty.
    assert list(ranking[0]) == ["model", "rank", "score", "ci_low", "ci_high", "n", "ci_note"]
    assert {row["model"] for row in ranking} == {"careful", "sloppy", "wrong", "off_topic"}
    for row in ranking:
        if row["ci_low"] == "" or row["ci_high"] == "":
            assert row["ci_low"] == row["ci_high"] == "" and row["ci_note"], row  # never half an interval
        else:
            assert float(row["ci_low"]) < float(row["score"]) < float(row["ci_high"]), row  # no zero width
    assert sum(1 for row in ranking if row["ci_low"] == "") == 1  # only the anchor (careful, fixed at 1000)

    scores = read_csv(out / "scores.csv")
    assert list(scores[0])[:5] == ["model", "score", "ci_low", "ci_high", "n"]
    assert sum(int(row["n"]) for row in scores) == 2 * EXPECTED_CALLS  # each verdict counts for both models

    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["requests"] == EXPECTED_CALLS
    assert manifest["counts"]["ok"] + manifest["counts"]["invalid"] == EXPECTED_CALLS
    assert manifest["judge"]["model_file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "position_consistency" in manifest["summary"]
    for model in ("careful", "sloppy", "wrong", "off_topic"):
        assert model in result.stdout


def test_second_run_into_the_same_directory_calls_nothing(clean_run_dir, tmp_path: Path) -> None:
    out, _ = clean_run_dir
    before = {name: (out / name).read_bytes() for name in EXPORTS}
    result = harness(*demo_args(out))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["invocations"][-1]["pending_at_start"] == 0
    assert manifest["invocations"][-1]["calls"] == 0
    assert {name: (out / name).read_bytes() for name in EXPORTS} == before


def test_sigkill_then_resume_matches_a_clean_run(clean_run_dir, tmp_path: Path) -> None:
    clean, _ = clean_run_dir
    out = tmp_path / "killed"
    process = subprocess.Popen([*CLI, *demo_args(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = out / "store.jsonl"
    try:
        wait_for_stored(store, 3, process)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    stored = store.read_bytes().count(b"\n")
    assert 3 <= stored < EXPECTED_CALLS
    assert json.loads((out / "run.json").read_text())["status"] == "running"  # it never got to say otherwise

    resumed = harness(*demo_args(out))
    assert resumed.returncode == 0, resumed.stderr
    manifest = json.loads((out / "run.json").read_text())
    last = manifest["invocations"][-1]
    assert last["pending_at_start"] == EXPECTED_CALLS - stored
    # a call answered just before the kill may be in the judgment cache but not yet in the store
    assert last["calls"] + last["cache"]["hits"] == EXPECTED_CALLS - stored
    assert last["cache"]["hits"] <= 1
    for name in EXPORTS:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_openai_judge_over_real_http(llama_server: str, tmp_path: Path) -> None:
    """The same task judged by the same model behind llama.cpp's OpenAI-compatible server."""
    out = tmp_path / "openai"
    env = {**os.environ, "OPENAI_API_KEY": LLAMA_SERVER_KEY}
    result = harness("run", "tasks/demo.yaml", "--judge", "openai:smollm2", "--base-url", llama_server,
                     "--limit", "1", "--concurrency", "2", "--out", str(out), "--no-progress",
                     "--set", "options.verdict_format=scale", "--set", "options.soft=false",
                     "--set", "options.reasoning=true", "--set", "options.structured_output=true",
                     "--set", "options.max_tokens=160", env=env)
    # The server constrains the answer to the verdict schema (which needs reasoning on: without it
    # the verdict is a choice among tokens, which this backend cannot constrain), so the verdicts
    # parse and the run is complete; a 135M judge's free text never parses, and exits 1.
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(verdicts) == 6
    assert {v["status"] for v in verdicts} <= {"ok", "invalid"}
    assert all(v["output"] is not None for v in verdicts)
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["judge"]["spec"]["backend"] == "openai"
    assert manifest["tokens"]["in"] > 0
    for path in out.rglob("*"):
        if path.is_file():
            assert LLAMA_SERVER_KEY not in path.read_text(errors="replace"), path


def test_ctrl_c_stops_cleanly_and_resumes(clean_run_dir, tmp_path: Path) -> None:
    """SIGINT mid-call: exit 130 (not a crash while llama.cpp still runs), then resume to the same files."""
    clean, _ = clean_run_dir
    out = tmp_path / "interrupted"
    process = subprocess.Popen([*CLI, *demo_args(out)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    store = out / "store.jsonl"
    wait_for_stored(store, 2, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "resume" in stderr
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["counts"]["ok"] + manifest["counts"]["invalid"] == store.read_bytes().count(b"\n")

    resumed = harness(*demo_args(out))
    assert resumed.returncode == 0, resumed.stderr
    for name in EXPORTS:
        assert (out / name).read_bytes() == (clean / name).read_bytes(), name


def test_the_judgment_cache_serves_a_new_run_directory(clean_run_dir, tmp_path: Path) -> None:
    """Another run directory with the same judge calls: answered from the cache, nothing paid twice."""
    clean, _ = clean_run_dir
    first, second, refreshed = tmp_path / "first", tmp_path / "second", tmp_path / "refreshed"
    base = ["run", "tasks/demo.yaml", "--judge", "local", "--limit", "1", "--no-progress"]
    assert harness(*base, "--out", str(first)).returncode == 0
    assert harness(*base, "--out", str(second)).returncode == 0
    assert harness(*base, "--out", str(refreshed), "--refresh").returncode == 0
    calls = lambda out: json.loads((out / "run.json").read_text())["invocations"][-1]
    assert (calls(first)["calls"], calls(first)["cache"]["hits"]) == (6, 0)
    assert (calls(second)["calls"], calls(second)["cache"]["hits"]) == (0, 6)
    assert (calls(refreshed)["calls"], calls(refreshed)["cache"]["hits"]) == (6, 0)
    for name in EXPORTS:
        assert (second / name).read_bytes() == (first / name).read_bytes()
        assert (refreshed / name).read_bytes() == (first / name).read_bytes()
