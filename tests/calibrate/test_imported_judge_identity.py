"""An imported judge keeps its name: `harness import labels --judge NAME` (or a `judge` field of the
rows) names the judge in run.json and in calibration maps, so a map made from a judge's stored
verdicts applies to that judge's other imports without --force-calibration, and refuses another's."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.importers.helpers import harness_cli


def labels(path: Path, seed: int, agree: float, judge_field: str | None = None) -> Path:
    """60 items, two models; the human prefers x on 70%; a judge agrees with the human `agree` of the time."""
    human = random.Random(0)
    noise = random.Random(seed)
    rows = []
    for i in range(60):
        truth = "model_a" if human.random() < 0.7 else "model_b"
        winner = truth if noise.random() < agree else ("model_b" if truth == "model_a" else "model_a")
        row = {"item_id": f"i{i}", "model_a": "x", "model_b": "y", "winner": winner}
        if judge_field:
            row["judge"] = judge_field
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_calibration_of_an_imported_judge_against_imported_humans(tmp_path: Path) -> None:
    human = tmp_path / "human"
    assert harness_cli("import", "labels", labels(tmp_path / "h.jsonl", 0, 1.0), "--out", human).returncode == 0
    judge = tmp_path / "judge"
    result = harness_cli("import", "labels", labels(tmp_path / "j.jsonl", 1, 0.8), "--judge", "gpt-4o", "--out", judge)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((judge / "run.json").read_text(encoding="utf-8"))
    assert manifest["judge"]["spec"] == {"backend": "imported", "model": "gpt-4o"}
    assert {json.loads(x)["judge"] for x in (judge / "verdicts.jsonl").read_text().split("\n") if x} == {"gpt-4o"}

    calibration = tmp_path / "map.json"
    made = harness_cli("calibrate", judge, "--against", human, "--out", calibration)
    assert made.returncode == 0, made.stderr
    assert "judge imported:gpt-4o" in made.stdout and "against imported:human" in made.stdout
    assert json.loads(calibration.read_text(encoding="utf-8"))["judge"]["judge"] == "imported:gpt-4o"

    # the same judge's other verdicts, named by a field of the rows: the map applies as it is
    again = tmp_path / "again"
    assert harness_cli("import", "labels", labels(tmp_path / "j2.jsonl", 2, 0.8, judge_field="gpt-4o"),
                       "--out", again).returncode == 0
    applied = harness_cli("aggregate", again, "--calibration", calibration)
    assert applied.returncode == 0, applied.stderr
    # another judge's verdicts: refused unless forced
    other = tmp_path / "other"
    assert harness_cli("import", "labels", labels(tmp_path / "j3.jsonl", 3, 0.8), "--judge", "llama",
                       "--out", other).returncode == 0
    refused = harness_cli("aggregate", other, "--calibration", calibration)
    assert refused.returncode == 2 and "--force-calibration" in refused.stderr


def test_judge_option_on_a_format_that_does_not_take_it(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text("[]", encoding="utf-8")
    result = harness_cli("import", "wildbench", path, "--judge", "x", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.strip() == "harness: error: --judge: the wildbench format does not take it"
