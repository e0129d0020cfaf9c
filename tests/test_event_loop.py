"""Judge calls run on uvloop's event loop when it is installed, on asyncio's own otherwise, with
the same verdicts either way (a real run against the loopback OpenAI server)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.store import RunDirectory
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"Question {i}?", "answers": {"a": f"Answer a{i}.", "b": f"Answer b{i}."}}
        for i in range(4)]


def judge(body: dict[str, Any]) -> Reply:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return Reply(text="Verdict: [[1]]" if sum(map(ord, user)) % 2 else "Verdict: [[4]]")


def judged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[set[str], dict[str, Any]]:
    """Run a small pairwise task: the event loops its verdicts were stored on, and the verdicts."""
    tmp_path.mkdir()
    task = write_task(tmp_path, name="loop-test", protocol="pairwise", rows=ROWS, dataset_name="data.jsonl",
                      options={"n_bootstrap": 20})
    loops: set[str] = set()
    original = RunDirectory.enqueue

    def enqueue(self: RunDirectory, verdict: Any, **kwargs: Any) -> asyncio.Future[None]:
        loops.add(type(asyncio.get_running_loop()).__module__.split(".")[0])
        return original(self, verdict, **kwargs)

    monkeypatch.setattr(RunDirectory, "enqueue", enqueue)
    with OpenAIServer(judge) as server:
        run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=tmp_path / "run",
                                  progress=False, cache=False))
    stored = [json.loads(line) for line in (tmp_path / "run" / "store.jsonl").read_text().splitlines()]
    return loops, {v["request_key"]: (v["status"], v["data"], v["output"]) for v in stored}


def test_uvloop_when_installed_asyncio_otherwise_with_the_same_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("uvloop")
    loops, on_uvloop = judged(tmp_path / "uv", monkeypatch)
    assert loops == {"uvloop"}

    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now fails, as when it is not installed
    loops, on_asyncio = judged(tmp_path / "asyncio", monkeypatch)
    assert loops == {"asyncio"}
    assert len(on_uvloop) == 2 * len(ROWS)
    assert on_uvloop == on_asyncio
