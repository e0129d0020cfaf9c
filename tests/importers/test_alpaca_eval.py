"""AlpacaEval 2.0: published win rates reproduced exactly, LC win rates as close as six models allow."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.importers.helpers import harness_cli, read_scores, shared_data


def published() -> dict[str, tuple[float, float]]:
    """Leaderboard rows by results folder name (the `samples` link names it): (win_rate, LC win rate)."""
    table = shared_data("alpaca_eval", "weighted_alpaca_eval_gpt4_turbo_leaderboard.csv")
    rows = {}
    with table.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            folder = row["samples"].split("/results/")[-1].split("/")[0]
            rows[folder] = (float(row["win_rate"]), float(row["length_controlled_winrate"]))
    return rows


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = shared_data("alpaca_eval")
    files = sorted(root.glob("*/annotations.json"))
    out = tmp_path_factory.mktemp("alpaca") / "run"
    result = harness_cli("import", "alpaca_eval", *files, "--out", out)
    assert result.returncode == 0, result.stderr
    # the model's name in the annotations (generator_2) for each results folder
    names = {f.parent.name: json.loads(f.read_text(encoding="utf-8"))[0]["generator_2"] for f in files}
    return out, names


def test_win_rate_reproduces_the_leaderboard_for_every_model(imported: tuple[Path, dict[str, str]]) -> None:
    out, names = imported
    scores, board = read_scores(out), published()
    assert len(names) == 6
    for folder, model in names.items():
        assert float(scores[model]["win_rate"]) == pytest.approx(board[folder][0], abs=1e-6), folder


def test_length_controlled_win_rate_is_close_and_moves_the_published_way(
    imported: tuple[Path, dict[str, str]],
) -> None:
    out, names = imported
    scores, board = read_scores(out), published()
    differences = {}
    for folder, model in names.items():
        lc = float(scores[model]["length_controlled_win_rate"])
        win, published_lc = board[folder]
        differences[folder] = lc - published_lc
        # length control corrects in the published direction (up for short answers, down for long)
        assert (lc - win > 0) == (published_lc - win > 0), folder
        assert float(scores[model]["lc_ci_low"]) <= lc <= float(scores[model]["lc_ci_high"])
    worst = max(abs(d) for d in differences.values())
    print("LC win rate minus published:", {k: round(v, 2) for k, v in differences.items()}, "max", round(worst, 2))
    # The published fit takes instruction difficulty from every leaderboard model (200+); here six.
    assert worst < 7.5


def test_baseline_is_the_annotations_generator_1(imported: tuple[Path, dict[str, str]]) -> None:
    out, _ = imported
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["protocol"]["config"]["baselines"] == ["gpt4_1106_preview"]
    assert manifest["judge"]["original"] == "weighted_alpaca_eval_gpt4_turbo"
    assert manifest["counts"]["ok"] == 6 * 805


def test_not_json_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "annotations.json"
    bad.write_text('[{"instruction": "x",', encoding="utf-8")
    result = harness_cli("import", "alpaca_eval", bad, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.startswith("harness: error: ") and str(bad) in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_missing_field_names_the_annotation(tmp_path: Path) -> None:
    bad = tmp_path / "annotations.json"
    bad.write_text(json.dumps([{"instruction": "x", "output_1": "a", "generator_1": "b", "output_2": "c",
                                "generator_2": "m"}]), encoding="utf-8")
    result = harness_cli("import", "alpaca_eval", bad, "--out", tmp_path / "run")
    assert result.returncode == 2 and "annotation 0: missing field 'preference'" in result.stderr
