"""A run directory on a full disk: `harness run` stops with one line (the path, that everything
stored is kept, the command that resumes), exit 1, no asyncio tracebacks; the same command then
resumes without paying any call twice.

The disk fills through the real write path: `os.write` on the store file, patched in the CLI's
own process (a bootstrap run as a subprocess), gives a short write then ENOSPC, as a filesystem
that runs out of blocks does. The rest (loopback judge, CLI, files) is real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.store import RunDirectory, StoreWriteFailed
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ITEMS = 6
MODELS = ("alpha", "beta", "gamma")
N_REQUESTS = ITEMS * 3 * 2  # items x pairs x orders

#: `python -c BOOT FAIL_AT harness-args...`: the CLI, with the FAIL_AT-th write to store.jsonl cut
#: short and every later one refused with ENOSPC.
BOOT = """
import errno, os, sys
fail_at, real_write, writes = int(sys.argv[1]), os.write, [0]
def write(fd, data):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        target = ""
    if target.endswith("store.jsonl"):
        writes[0] += 1
        if writes[0] == fail_at:
            return real_write(fd, bytes(data)[: max(1, len(data) // 2)])
        if writes[0] > fail_at:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_write(fd, data)
os.write = write
from harness.cli import main
sys.exit(main(sys.argv[2:]))
"""


def task_file(tmp_path: Path) -> Path:
    rows = [{"id": f"q{i}", "instruction": f"Question {i}?",
             "answers": {m: f"{m} answers question {i}" + "!" * len(m) for m in MODELS}} for i in range(ITEMS)]
    return write_task(tmp_path, name="full-disk", protocol="pairwise", rows=rows, options={"n_bootstrap": 20})


def harness(*args: str, fail_at: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "OPENAI_BASE_URL")}
    env["OPENAI_API_KEY"] = "sk-full-disk"
    command = [sys.executable, "-c", BOOT, str(fail_at)] if fail_at is not None else [sys.executable, "-m", "harness.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=180, env=env)


def stored(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "store.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("concurrency", ["1", "8"])
def test_a_full_disk_stops_the_run_with_one_line_and_the_same_command_resumes(tmp_path: Path,
                                                                              concurrency: str) -> None:
    task, out = task_file(tmp_path), tmp_path / "run"
    args = ("run", str(task), "--judge", "openai:judge", "--out", str(out), "--no-progress",
            "--concurrency", concurrency)
    with OpenAIServer(lambda body: Reply(text="[[2]]"), latency_s=0.01) as server:
        full = harness(*args, "--base-url", server.base_url, fail_at=3)
        first_calls = len(server.requests)
        assert full.returncode == 1, full.stderr
        lines = [line for line in full.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, full.stderr  # no "Task exception was never retrieved", no traceback
        [line] = lines
        assert line.startswith(f"harness: run failed: cannot write {out / 'store.jsonl'}: No space left on device; "
                               "free some space first; ")
        assert "everything judged so far is stored" in line and f"--out {out} to resume" in line
        kept = stored(out)  # whole lines only: the short write was cut back
        assert (out / "store.jsonl").read_bytes().endswith(b"\n")
        assert 2 <= len(kept) < first_calls <= N_REQUESTS
        assert json.loads((out / "run.json").read_text())["status"] == "failed"

        again = harness(*args, "--base-url", server.base_url)
        assert again.returncode == 0, again.stderr
        # Every call was paid once: the verdicts that could not be stored come from the cache.
        assert len(server.requests) == N_REQUESTS
    records = stored(out)
    assert len({r["request_id"] for r in records}) == N_REQUESTS == len(records)
    assert all(r["status"] == "ok" for r in records)


def test_a_store_that_failed_a_write_refuses_the_next_so_no_line_follows_a_torn_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After ENOSPC a later write might fit (a few bytes freed); it must not land after a torn
    line, where it would make the store unreadable. The store cuts back and refuses."""
    import errno

    from harness.models import Verdict

    def verdict(i: int) -> Verdict:
        return Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id="q", judge="j", status="ok")

    real_write = os.write
    calls = [0]

    def short_then_full(fd: int, data: bytes) -> int:
        calls[0] += 1
        if calls[0] == 1:
            return real_write(fd, bytes(data)[:5])
        if calls[0] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    with RunDirectory(tmp_path) as store:
        store.append(verdict(0))
        monkeypatch.setattr(os, "write", short_then_full)
        with pytest.raises(StoreWriteFailed, match="No space left on device; free some space first"):
            store.append(verdict(1))
        with pytest.raises(StoreWriteFailed, match="No space left on device; free some space first"):
            store.append(verdict(2))  # would fit now: refused all the same
        monkeypatch.undo()
    assert [r["request_id"] for r in stored(tmp_path)] == ["r0"]
