"""`harness generate` with the real embedded model (SmolLM2 through llama-cpp-python), then the
generated answers judged by `harness run`: the path a user takes from a new model to a verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900)


def test_embedded_model_answers_two_demo_items_and_they_are_judged(tmp_path: Path) -> None:
    demo = [json.loads(line) for line in (REPO / "tasks/data/demo.jsonl").read_text().splitlines()[:2]]
    dataset = tmp_path / "demo2.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in demo))
    task = tmp_path / "task.yaml"
    task.write_text((REPO / "tasks/demo.yaml").read_text().replace("data/demo.jsonl", "demo2.jsonl"))
    generated = harness("generate", str(task), "--model", "local", "--as", "smol", "--max-tokens", "12",
                        "--out", str(dataset), "--no-progress")
    assert generated.returncode == 0, generated.stderr
    rows = [json.loads(line) for line in dataset.read_text().splitlines()]
    assert all(row["answers"]["smol"].strip() for row in rows)
    assert all(set(row["answers"]) == {"careful", "sloppy", "wrong", "off_topic", "smol"} for row in rows)
    assert rows[0]["generation"]["smol"]["max_tokens"] == 12
    manifest = json.loads((tmp_path / "demo2.jsonl.smol.generate" / "run.json").read_text())
    assert manifest["usage"]["calls"] == 2 and manifest["usage"]["tokens_out"] > 0

    again = harness("generate", str(task), "--model", "local", "--as", "smol", "--max-tokens", "12",
                    "--out", str(dataset), "--no-progress")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "demo2.jsonl.smol.generate" / "run.json").read_text())["usage"]["calls"] == 2

    judged = harness("run", str(task), "--limit", "1", "--set", "dataset.models=[careful, smol]",
                     "--out", str(tmp_path / "run"), "--no-progress")
    assert judged.returncode == 0, judged.stderr
    scores = (tmp_path / "run" / "scores.csv").read_text()
    assert "smol" in scores
