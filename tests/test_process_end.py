"""The `harness` process ends as soon as an aggregation returns (harness.running.process_end):
its output flushed, its atexit functions run, its files the ones a normal exit leaves; it exits
normally where it aggregated nothing, while another thread still works, and never when main(argv)
is called in a process that goes on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.importers.helpers import REPO, harness_cli

#: `harness aggregate RUN` as the script runs it (main() without argv), in a process that reports
#: whether it ended through os._exit and with which code, and whether its atexit function ran.
AGGREGATE = """
import atexit, os, sys, threading, time
marker, thread_file, run = sys.argv[1:4]
real_exit = os._exit
def recorded(code):
    sys.stderr.write(f"os._exit({code})\\n")
    sys.stderr.flush()
    real_exit(code)
os._exit = recorded
atexit.register(lambda: open(marker, "w").write("atexit ran"))
if thread_file != "-":  # a thread still writing when the command returns
    started = threading.Event()
    manifest = os.path.join(run, "run.json")
    before = os.stat(manifest).st_mtime_ns
    def late_writer():
        started.set()
        # alive until the aggregation has written run.json (its last step), however slow the
        # machine, then a second more: a fixed sleep could end before a loaded CI's aggregate did
        deadline = time.monotonic() + 120
        while os.stat(manifest).st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)
        open(thread_file, "w").write("written")
    threading.Thread(target=late_writer).start()
    started.wait()
sys.argv = ["harness", "aggregate", run]
from harness.cli import main
code = main()
print("main returned", code)
sys.exit(code)
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small imported pairwise run (12 verdicts) aggregated once by the ordinary CLI."""
    folder = tmp_path_factory.mktemp("process_end")
    source = folder / "m.jsonl"
    games = [{"score": "A>B", "judgment": "[[A>B]]"}, {"score": "B>A", "judgment": "[[B>A]]"}]
    source.write_text("".join(json.dumps({"question_id": f"q{i}", "model": "m", "judge": "j", "games": games}) + "\n"
                              for i in range(6)), encoding="utf-8")
    out = folder / "run"
    result = harness_cli("import", "arena_hard", source, "--out", out, "--baseline", "base")
    assert result.returncode == 0, result.stderr
    again = harness_cli("aggregate", out)
    assert again.returncode == 0, again.stderr
    return out


def aggregate(run: Path, tmp_path: Path, *, thread: bool = False) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "copy"
    if run.exists():
        shutil.copytree(run, copy)
    return subprocess.run(
        [sys.executable, "-c", AGGREGATE, str(tmp_path / "atexit.txt"), str(tmp_path / "thread.txt") if thread else "-",
         str(copy)],
        capture_output=True, text=True, timeout=300, cwd=REPO)


EXPORTS = ("scores.csv", "ranking.csv", "verdicts.jsonl", "scores_by_category.csv")


def test_an_aggregation_ends_at_once_with_its_output_and_files_whole(imported: Path, tmp_path: Path) -> None:
    result = aggregate(imported, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "os._exit(0)" in result.stderr
    assert "main returned" not in result.stdout  # ended before main's caller went on
    assert "Bradley-Terry" in result.stdout  # the table
    assert (tmp_path / "atexit.txt").read_text() == "atexit ran"
    for name in EXPORTS:  # the files a normal exit leaves, byte for byte
        if (imported / name).exists():
            assert (tmp_path / "copy" / name).read_bytes() == (imported / name).read_bytes(), name
    manifest = json.loads((tmp_path / "copy" / "run.json").read_text(encoding="utf-8"))
    assert len(manifest["aggregations"]) == 3  # the import's, the fixture's and this one: written before the end


def test_a_command_that_aggregated_nothing_exits_normally(tmp_path: Path) -> None:
    result = aggregate(tmp_path / "no-such-run", tmp_path)  # refused before any store is read
    assert result.returncode == 2, result.stderr
    assert "not a run directory" in result.stderr and "os._exit" not in result.stderr
    assert "main returned 2" in result.stdout
    assert (tmp_path / "atexit.txt").read_text() == "atexit ran"


def test_a_thread_still_working_keeps_the_normal_exit(imported: Path, tmp_path: Path) -> None:
    result = aggregate(imported, tmp_path, thread=True)
    assert result.returncode == 0, result.stderr
    assert "os._exit" not in result.stderr
    assert "main returned 0" in result.stdout
    assert (tmp_path / "thread.txt").read_text() == "written"  # its work was not cut short


def test_main_with_arguments_never_ends_the_process(imported: Path, tmp_path: Path) -> None:
    import harness.running.process_end as process_end
    from harness.cli import main

    shutil.copytree(imported, tmp_path / "copy")
    assert main(["aggregate", str(tmp_path / "copy")]) == 0  # this test is still running
    assert process_end._kept == []  # nothing held for a process that goes on


EXIT_NOW = """
import atexit, sys
import harness.running.process_end as process_end
atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
process_end.ends_with_command()
process_end.keep_until_exit([1, 2, 3])
sys.stdout.write("buffered, never flushed by the writer\\n")  # a pipe: held in the buffer
process_end.exit_now(3)
print("exit_now returned")
"""


def test_exit_now_flushes_runs_atexit_and_exits_with_the_code() -> None:
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    result = subprocess.run([sys.executable, "-c", EXIT_NOW], capture_output=True, text=True, timeout=60, cwd=REPO,
                            env=buffered)
    assert result.returncode == 3
    assert result.stdout == "buffered, never flushed by the writer\n"
    assert result.stderr == "atexit ran\n"
