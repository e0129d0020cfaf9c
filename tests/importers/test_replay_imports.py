"""An import writes its items (`dataset.jsonl`) and task (`judge_task.yaml`), and
`harness run DIR/judge_task.yaml --judge replay:DIR` reproduces the import's numbers: on the real
AlpacaEval and WildBench files, and on Arena-Hard, MT-Bench and WildBench pairwise files in their
published line formats.

A pairwise import that stored one answer order per comparison (AlpacaEval, WildBench) replays
with both orders, the second mirrored: every score and interval is the same, `n` and the outcome
counts double. AlpacaEval's soft preferences travel as logprobs of the binary verdict; its exact
ties (preference 1.5) become 50/50 choices, so their expected outcome is still a tie but the
hard counts show them as a win in one order and a loss in the other.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.importers.helpers import harness_cli, shared_data
from tests.importers.test_wildbench import wildbench_pairwise_file

SAME = ["score", "ci_low", "ci_high", "wb_reward", "expected_reward", "win_rate", "length_controlled_win_rate",
        "lc_ci_low", "lc_ci_high", "wb_score", "wb_score_adjusted", "expected_score"]
COUNTS = ["win_much", "win", "tie", "lose", "lose_much", "invalid"]


def import_and_replay(tmp_path: Path, fmt: str, *sources: Path | str) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """Import, then replay the import through its own task file; both runs' scores.csv by model."""
    imported, replayed = tmp_path / "imported", tmp_path / "replayed"
    result = harness_cli("import", fmt, *sources, "--out", imported)
    # an import's exit code is the aggregate's: 1 where its numbers cannot stand (many invalid judgments)
    complete = json.loads((imported / "run.json").read_text())["completeness"]["complete"]
    assert result.returncode == (0 if complete else 1), result.stderr
    assert (imported / "dataset.jsonl").is_file() and (imported / "judge_task.yaml").is_file()
    result = harness_cli("run", imported / "judge_task.yaml", "--judge", f"replay:{imported}", "--out", replayed,
                         "--no-progress")
    # every request replayed; a file with many invalid judgments replays to numbers that cannot stand (exit 1)
    complete = json.loads((replayed / "run.json").read_text())["completeness"]["complete"]
    assert result.returncode == (0 if complete else 1) and "incomplete" not in result.stderr, result.stderr
    scores = [pd.read_csv(run / "scores.csv").set_index("model").sort_index() for run in (imported, replayed)]
    return scores[0], scores[1], imported


def assert_same_numbers(imported: pd.DataFrame, replayed: pd.DataFrame, tolerance: float = 1e-4) -> None:
    """Every score and interval the import computed, the replay computes too (AlpacaEval's soft
    preferences are stored to 6 decimals, so its numbers may move by 1e-5)."""
    assert list(replayed.index) == list(imported.index)
    shared = [c for c in SAME if c in imported.columns]
    assert shared, imported.columns
    for column in shared:
        assert column in replayed.columns, column
        pd.testing.assert_series_equal(replayed[column], imported[column], atol=tolerance, rtol=0, check_dtype=False)


def test_alpaca_eval_replays_to_the_same_win_rates(tmp_path: Path) -> None:
    files = sorted(shared_data("alpaca_eval").glob("*/annotations.json"))
    imported, replayed, run = import_and_replay(tmp_path, "alpaca_eval", *files)
    assert_same_numbers(imported, replayed)
    # one stored order per comparison, both orders replayed: n and counts double; exact ties
    # (preference 1.5) are a 50/50 forced choice: a win in one order, a loss in the other
    ties = imported["tie"]
    assert (replayed["n"] == 2 * imported["n"]).all()
    assert (replayed["tie"] == 0).all() and ties.sum() > 0
    assert (replayed["win_much"] == 2 * imported["win_much"] + ties).all()
    assert (replayed["lose_much"] == 2 * imported["lose_much"] + ties).all()
    # the dataset holds every instruction and both outputs under the verdicts' item ids
    rows = [json.loads(line) for line in (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    first = json.loads(files[0].read_text(encoding="utf-8"))[0]
    items = {row["id"] for row in rows}
    verdict_items = {json.loads(x)["item_id"] for x in (run / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()}
    assert items == verdict_items and len(rows) == 805
    row = next(r for r in rows if r["instruction"] == first["instruction"])
    assert row["answers"][first["generator_1"]] == first["output_1"]
    assert row["answers"][first["generator_2"]] == first["output_2"]
    assert len(row["answers"]) == len(files) + 1  # every model and the baseline


def test_wildbench_scores_replay_to_the_same_wb_scores(tmp_path: Path) -> None:
    files = sorted(shared_data("wildbench").glob("score.v2.eval=*.json"))
    imported, replayed, run = import_and_replay(tmp_path, "wildbench", *files)
    assert_same_numbers(imported, replayed, tolerance=1e-9)
    assert (replayed["n"] == imported["n"]).all() and (replayed["invalid"] == imported["invalid"]).all()
    # the answers are the files' model outputs; the files carry no instruction, and the notes say so
    entry = json.loads(files[0].read_text(encoding="utf-8"))[0]
    rows = {json.loads(x)["id"]: json.loads(x) for x in (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()}
    assert rows[entry["session_id"]]["answers"][files[0].name.split(".")[-2]] == entry["model_output"]
    notes = json.loads((run / "run.json").read_text(encoding="utf-8"))["import"]["notes"]
    assert any("no instruction" in note for note in notes)


def test_wildbench_pairwise_replays_with_the_length_rule(tmp_path: Path) -> None:
    source = tmp_path / "m.json"
    wildbench_pairwise_file(source)
    entries = json.loads(source.read_text(encoding="utf-8"))
    for entry in entries:
        entry["chat_history"] = [f"instruction of {entry['session_id']}"]
    source.write_text(json.dumps(entries), encoding="utf-8")
    imported, replayed, run = import_and_replay(tmp_path, "wildbench", source)
    assert_same_numbers(imported, replayed, tolerance=1e-9)
    assert (replayed[COUNTS] == 2 * imported[COUNTS]).all().all()  # mirrored: each outcome twice
    rows = [json.loads(x) for x in (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[0]["conversation"] == [{"role": "user", "content": "instruction of s1"}]
    again = tmp_path / "k500"
    result = harness_cli("run", run / "judge_task.yaml", "--judge", f"replay:{run}", "--out", again, "--no-progress",
                         "--set", "options.length_k=500")
    assert result.returncode == 0, result.stderr
    m = pd.read_csv(again / "scores.csv").set_index("model").loc["m"]
    assert m["wb_reward"] == pytest.approx((0 + 100 + 0 - 50) / 4)  # as the import aggregated at K=500


def arena_prompt(question: str, answer_a: str, answer_b: str) -> str:
    return (f"<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\n{answer_a}\n"
            f"<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_b}\n"
            "<|The End of Assistant B's Answer|>")


def test_arena_hard_replays_both_games(tmp_path: Path) -> None:
    lines = []
    for qid, (g1, g2) in {"q1": ("B>>A", "A>B"), "q2": ("A=B", "B>A"), "q3": ("A>>B", None)}.items():
        for model in ("m1", "m2"):
            mine, base = f"{model} on {qid}" * (3 if model == "m1" else 1), f"baseline on {qid}"
            games = [{"user_prompt": arena_prompt(f"question {qid}", base, mine), "score": g1},
                     {"user_prompt": arena_prompt(f"question {qid}", mine, base), "score": g2 if model == "m1" else g1}]
            lines.append(json.dumps({"question_id": qid, "model": model, "judge": "gpt-4", "games": games}))
    path = tmp_path / "judgments.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    imported, replayed, run = import_and_replay(tmp_path, "arena_hard", path, "--baseline", "gpt-4-0314")
    assert_same_numbers(imported, replayed, tolerance=1e-9)
    assert (replayed[COUNTS + ["n"]] == imported[COUNTS + ["n"]]).all().all()  # both games stored: nothing mirrored
    rows = {json.loads(x)["id"]: json.loads(x) for x in (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()}
    assert rows["q2"]["instruction"] == "question q2"
    assert rows["q2"]["answers"] == {"m1": "m1 on q2" * 3, "gpt-4-0314": "baseline on q2", "m2": "m2 on q2"}


def test_mt_bench_single_and_pairwise_replay(tmp_path: Path) -> None:
    def single(qid: int, model: str, score: int) -> dict:
        prompt = (f"[Question]\nquestion {qid}\n\n[The Start of Assistant's Answer]\n{model} says {qid}\n"
                  "[The End of Assistant's Answer]")
        return {"question_id": qid, "model": model, "judge": ["gpt-4", "single-v1"], "score": score, "turn": 1,
                "user_prompt": prompt}
    path = tmp_path / "gpt-4_single.jsonl"
    path.write_text("".join(json.dumps(single(q, m, s)) + "\n" for q, m, s in
                            [(81, "a", 8), (81, "b", 3), (82, "a", 9), (82, "b", -1)]), encoding="utf-8")
    imported, replayed, _ = import_and_replay(tmp_path / "single", "mt_bench", path)
    assert_same_numbers(imported, replayed, tolerance=1e-9)
    assert (replayed[["n", "invalid"]] == imported[["n", "invalid"]]).all().all()

    def pair(qid: int, g1: str, g2: str) -> dict:
        prompt = (f"[User Question]\nquestion {qid}\n\n[The Start of Assistant A's Answer]\na says {qid}\n"
                  f"[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\nb says {qid}\n"
                  "[The End of Assistant B's Answer]")
        return {"question_id": qid, "model_1": "a", "model_2": "b", "g1_winner": g1, "g2_winner": g2,
                "judge": ["gpt-4", "pair-v2"], "turn": 1, "g1_user_prompt": prompt}
    path = tmp_path / "gpt-4_pair.jsonl"
    path.write_text("".join(json.dumps(pair(q, g1, g2)) + "\n" for q, g1, g2 in
                            [(81, "model_1", "model_1"), (82, "tie", "model_2"), (83, "model_2", "error")]),
                    encoding="utf-8")
    imported, replayed, run = import_and_replay(tmp_path / "pair", "mt_bench", path)
    assert_same_numbers(imported, replayed, tolerance=1e-9)
    assert (replayed[COUNTS] == imported[COUNTS]).all().all()


def test_no_dataset_when_the_source_lacks_texts(tmp_path: Path) -> None:
    """Arena-Hard lines without judge prompts: the verdicts import, the notes say why no dataset."""
    path = tmp_path / "judgments.jsonl"
    path.write_text(json.dumps({"question_id": "q1", "model": "m", "games": [{"score": "A>B"}, {"score": "B>A"}]})
                    + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", path, "--out", out, "--baseline", "base")
    assert result.returncode == 0, result.stderr
    assert not (out / "dataset.jsonl").exists() and not (out / "judge_task.yaml").exists()
    notes = json.loads((out / "run.json").read_text(encoding="utf-8"))["import"]["notes"]
    assert any("no instruction for item 'q1'" in note for note in notes)


def test_screened_alpaca_eval_folders_replay_to_the_screened_numbers(tmp_path: Path) -> None:
    """The baseline's own annotations (a model against itself) are left out by the import's
    screening; the dataset and task describe what is left, and replay to it."""
    def annotation(i: int, model: str, preference: float) -> dict:
        return {"instruction": f"instruction {i}", "output_1": f"base answer {i}", "generator_1": "base",
                "output_2": f"{model} answer {i}" if model != "base" else f"base answer {i}", "generator_2": model,
                "preference": preference, "dataset": "helpful_base"}
    files = []
    # instruction 4 only in the baseline's own file: after screening no verdict is about it
    for model, prefs in {"m": [1.9, 1.2, 1.5, 1.7], "base": [1.5, 1.5, 1.5, 1.5, 1.5]}.items():
        records = [annotation(i, model, p) for i, p in enumerate(prefs)]
        path = tmp_path / model / "annotations.json"
        path.parent.mkdir()
        path.write_text(json.dumps(records), encoding="utf-8")
        files.append(path)
    imported, replayed, run = import_and_replay(tmp_path, "alpaca_eval", *files)
    assert list(imported.index) == ["base", "m"]
    assert imported.loc["m", "win_rate"] == pytest.approx(100 * (0.9 + 0.2 + 0.5 + 0.7) / 4)
    assert_same_numbers(imported, replayed)
    rows = [json.loads(x) for x in (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [sorted(r["answers"]) for r in rows] == [["base", "m"]] * 4  # no row for instruction 4
