"""The few-items warning under a run's table counts the items judged (an ok verdict), not the
dataset's: a budgeted or stopped run of a large dataset rests on what it judged, and `harness
report` already counts so (no difference is called significant below MIN_ITEMS of them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.cli_output import few_items_warning
from harness.testing import OpenAIServer, Reply
from tests.test_budget import binary_task, run  # `harness run` against the server, one request at a time

ROWS = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"answer a{i}", "b": f"answer b{i}"}}
        for i in range(40)]  # 40 items x 1 pair x 2 orders = 80 requests


def judged_items(out: Path) -> set[str]:
    records = [json.loads(line) for line in (out / "store.jsonl").read_text().splitlines() if line.strip()]
    return {r["item_id"] for r in records if r["status"] == "ok"}


def test_a_stopped_run_of_a_large_dataset_warns_with_the_items_it_judged(tmp_path: Path) -> None:
    task = binary_task(tmp_path, "few", ROWS)
    out = tmp_path / "run"
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        stopped = run(task, out, server.base_url, "--max-calls", "6")
        assert stopped.returncode == 1, stopped.stderr
        judged = judged_items(out)
        assert 3 <= len(judged) <= 6
        # the numbers of what was judged: partial (exit 1), on a handful of the 40 items
        partial = subprocess.run([sys.executable, "-m", "harness.cli", "aggregate", str(out)],
                                 capture_output=True, text=True, timeout=120)
        assert partial.returncode == 1 and "partial" in partial.stdout
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["completeness"]["items_judged"] == len(judged)
        assert f"warning: only {len(judged)} of 40 item(s) judged" in partial.stdout
        # the report of the partial run counts them the same way, on stderr and in its pages
        report = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(out), "--format", "md",
                                 "--format", "html"], capture_output=True, text=True, timeout=120)
        assert report.returncode == 1, report.stderr
        said = f"only {len(judged)} of 40 item(s) judged"
        assert f"harness: warning: {said}" in report.stderr
        assert f"**Warning:** {said}" in (out / "report.md").read_text()
        assert f"<strong>Warning:</strong> {said}" in (out / "report.html").read_text()  # once lost on the page

        finished = run(task, out, server.base_url)
        assert finished.returncode == 0, finished.stderr
    assert len(judged_items(out)) == 40
    assert "warning: only" not in finished.stdout  # 40 judged: the numbers may carry significance


def test_the_warning_counts_judged_items_and_falls_back_to_the_dataset_for_older_runs() -> None:
    assert few_items_warning({"dataset": {"items": 100}, "completeness": {"items_judged": 5}}).startswith(
        "only 5 of 100 item(s) judged")
    assert few_items_warning({"dataset": {"items": 6}, "completeness": {"items_judged": 6}}).startswith(
        "only 6 item(s) judged")
    assert few_items_warning({"dataset": {"items": 6}}).startswith("only 6 item(s) judged")  # before items_judged
    assert few_items_warning({"dataset": {"items": 100}, "completeness": {"items_judged": 20}}) is None
    assert few_items_warning({"dataset": {"items": 6}, "completeness": {"items_judged": 0}}) is None  # no numbers
