"""FastChat MT-Bench judgment files (synthetic, in the published line format)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.importers.helpers import harness_cli, read_scores


def test_single_grading_becomes_a_rubric_run(tmp_path: Path) -> None:
    path = tmp_path / "gpt-4_single.jsonl"
    rows = [
        {"question_id": 81, "model": "vicuna", "judge": ["gpt-4", "single-v1"], "score": 8, "turn": 1,
         "judgment": "... Rating: [[8]]", "user_prompt": "...", "tstamp": 1.0},
        {"question_id": 81, "model": "vicuna", "judge": ["gpt-4", "single-v1-multi-turn"], "score": 5, "turn": 2,
         "judgment": "... [[5]]", "user_prompt": "...", "tstamp": 1.0},
        {"question_id": 82, "model": "vicuna", "judge": ["gpt-4", "single-v1"], "score": -1, "turn": 1,
         "judgment": "no rating", "user_prompt": "...", "tstamp": 1.0},
        {"question_id": 81, "model": "llama", "judge": ["gpt-4", "single-v1"], "score": 3, "turn": 1,
         "judgment": "[[3]]", "user_prompt": "...", "tstamp": 1.0},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "mt_bench", path, "--out", out)
    # 1 of the 4 judgments has no rating (25%, above the 20% a run's numbers stand with): exit 1, said
    # with what to try for imported judgments (not a run's options)
    assert result.returncode == 1 and "1 of 4 verdicts are invalid" in result.stderr, result.stderr
    assert "the imported judge gave no verdict" in result.stderr and "structured_output" not in result.stderr
    scores = read_scores(out)
    assert float(scores["vicuna"]["score"]) == pytest.approx(6.5) and int(scores["vicuna"]["invalid"]) == 1
    assert float(scores["llama"]["score"]) == pytest.approx(3.0)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["protocol"]["name"] == "rubric" and manifest["protocol"]["config"]["preset"] == "mt_bench"
    assert manifest["judge"]["original"] == "gpt-4"


def test_pairwise_games_map_winners_to_positions(tmp_path: Path) -> None:
    path = tmp_path / "gpt-4_pair.jsonl"
    rows = [  # g2 shows model_2 first; winners are named as model_1 / model_2 in both games
        {"question_id": 81, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1",
         "judge": ["gpt-4", "pair-v2"], "turn": 1},
        {"question_id": 82, "model_1": "a", "model_2": "b", "g1_winner": "model_2", "g2_winner": "tie",
         "judge": ["gpt-4", "pair-v2"], "turn": 1},
        {"question_id": 83, "model_1": "a", "model_2": "b", "g1_winner": "error", "g2_winner": "model_1",
         "judge": ["gpt-4", "pair-v2"], "turn": 1},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "mt_bench", path, "--out", out)
    assert result.returncode == 0, result.stderr
    a = read_scores(out)["a"]
    # a: win, win, loss, tie, (invalid), win -> 3 wins, 1 tie, 1 loss of 5 judged
    assert float(a["win_rate"]) == pytest.approx(100 * 3.5 / 5)
    assert (int(a["win_much"]), int(a["tie"]), int(a["lose_much"]), int(a["invalid"])) == (3, 1, 1, 1)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()]
    q81 = {v["data"]["order"]: v["data"]["level"] for v in verdicts if v["item_id"] == "mt-81-t1"}
    assert q81 == {"ab": "A>>B", "ba": "B>>A"}  # game 2: b is shown as A, and a (the winner) as B


    # against a baseline, still no length-controlled win rate: MT-Bench files carry no answers
    again = tmp_path / "with_baseline"
    assert harness_cli("import", "mt_bench", path, "--out", again, "--baseline", "b").returncode == 0
    assert "length_controlled_win_rate" not in read_scores(again)["a"]
    assert json.loads((again / "run.json").read_text(encoding="utf-8"))["protocol"]["config"]["baselines"] == ["b"]


def test_unknown_winner_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "pair.jsonl"
    path.write_text(json.dumps({"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_3",
                                "g2_winner": "tie"}) + "\n", encoding="utf-8")
    result = harness_cli("import", "mt_bench", path, "--out", tmp_path / "run")
    assert result.returncode == 2 and f"{path}:1: g1_winner 'model_3'" in result.stderr
