"""What real result folders hold besides clean judgments: a model judged against itself, a file
given twice, empty answers, labels no format defines. Each is left out with a notice (and the
numbers of everything else unchanged), or is bad input on one line (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.importers.helpers import harness_cli, read_scores, shared_data
from tests.importers.test_alpaca_eval import published


def notes(stderr: str) -> list[str]:
    assert "Traceback" not in stderr and "internal error" not in stderr
    return [line for line in stderr.splitlines() if line.startswith("harness: note: ")]


def one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), stderr
    return lines[0]


@pytest.fixture(scope="module")
def baseline_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A results folder as AlpacaEval publishes it with the baseline's own annotations: a copy of a
    real file in which the baseline (generator_1) is also the model judged (generator_2)."""
    real = shared_data("alpaca_eval", "claude-2", "annotations.json")
    records = json.loads(real.read_text(encoding="utf-8"))
    baseline = records[0]["generator_1"]
    own = tmp_path_factory.mktemp("results") / baseline / "annotations.json"
    own.parent.mkdir()
    own.write_text(json.dumps([{**r, "generator_2": baseline, "output_2": r["output_1"]} for r in records]),
                   encoding="utf-8")
    return real, own, baseline


def test_alpaca_eval_folder_with_the_baselines_own_annotations_imports(
    baseline_folder: tuple[Path, Path, str], tmp_path: Path
) -> None:
    real, own, baseline = baseline_folder
    out = tmp_path / "run"
    result = harness_cli("import", "alpaca_eval", real, own, "--out", out)
    assert result.returncode == 0, result.stderr
    [note] = [n for n in notes(result.stderr) if "with itself" in n]
    assert note.endswith("AlpacaEval lists its baseline at 50%)")  # the note names the tool it concerns
    assert note.startswith(f"harness: note: 805 judgment(s) compare a model with itself ({baseline}); left out")
    scores = read_scores(out)
    assert set(scores) == {"claude-2", baseline}
    # The other model's numbers are exactly the leaderboard's, as without the baseline's file.
    assert float(scores["claude-2"]["win_rate"]) == pytest.approx(published()["claude-2"][0], abs=1e-6)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == {"ok": 805, "invalid": 0, "failed": 0, "pending": 0}
    assert any("compare a model with itself" in n for n in manifest["import"]["notes"])


def test_only_the_baselines_own_annotations_is_bad_input(baseline_folder: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, own, baseline = baseline_folder
    result = harness_cli("import", "alpaca_eval", own, "--out", tmp_path / "run")
    assert result.returncode == 2
    line = one_error(result.stderr)
    assert "nothing to import" in line and f"compare a model with itself ({baseline})" in line
    assert not (tmp_path / "run").exists()


def test_a_file_given_twice_counts_once(baseline_folder: tuple[Path, Path, str], tmp_path: Path) -> None:
    real, _, _ = baseline_folder
    out = tmp_path / "run"
    result = harness_cli("import", "alpaca_eval", real, real, "--out", out)
    assert result.returncode == 0, result.stderr
    assert any(f"{real}: given twice; read once" in n for n in notes(result.stderr))
    assert float(read_scores(out)["claude-2"]["win_rate"]) == pytest.approx(published()["claude-2"][0], abs=1e-6)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["requests"] == 805


def test_empty_answers_are_kept_and_counted(baseline_folder: tuple[Path, Path, str], tmp_path: Path) -> None:
    real, _, _ = baseline_folder
    records = json.loads(real.read_text(encoding="utf-8"))[:20]
    for record in records[:3]:
        record["output_2"] = ""
    records[3]["output_2"] = None
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = harness_cli("import", "alpaca_eval", path, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "harness: note: 4 judgment(s) are of an empty answer; kept (the judge saw it empty)" in notes(result.stderr)
    assert read_scores(tmp_path / "run")["claude-2"]["n"] == "20"


def arena_line(qid: str, model: str, score1: str, score2: str) -> str:
    return json.dumps({"question_id": qid, "model": model, "judge": "j", "games": [{"score": score1}, {"score": score2}]})


def test_arena_hard_baseline_judged_against_itself_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "judgments.jsonl"
    lines = [arena_line(f"q{i}", "m", "B>A", "A>B") for i in range(5)]
    lines += [arena_line(f"q{i}", "gpt-4-0314", "A=B", "A=B") for i in range(5)]
    lines += [arena_line("q0", "m", "A>>B", "B>>A")]  # the same question and model again, judged otherwise
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", path, "--out", out, "--baseline", "gpt-4-0314")
    assert result.returncode == 0, result.stderr
    found = [n for n in notes(result.stderr) if "itself" in n or "repeat" in n]
    assert len(found) == 2
    # Arena-Hard's results hold the baseline's own file: no verdicts, kept for its style control only
    assert "10 game(s) judge the baseline gpt-4-0314 against itself" in found[0] and "AlpacaEval" not in found[0]
    assert "2 judgment(s) repeat one already read" in found[1] and "2 of them differ" in found[1]
    m = read_scores(out)["m"]
    # the first judgment of q0 is kept: ten "slightly better" wins, none of the later "much worse"
    assert (int(m["win"]), int(m["lose_much"]), float(m["win_rate"])) == (10, 0, 100.0)


def test_mt_bench_pair_of_a_model_with_itself_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "gpt-4_pair.jsonl"
    rows = [
        {"question_id": 81, "model_1": "a", "model_2": "b", "g1_winner": "model_1", "g2_winner": "model_1", "turn": 1},
        {"question_id": 82, "model_1": "a", "model_2": "a", "g1_winner": "tie", "g2_winner": "tie", "turn": 1},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = harness_cli("import", "mt_bench", path, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert any("2 judgment(s) compare a model with itself (a)" in n for n in notes(result.stderr))
    assert set(read_scores(tmp_path / "run")) == {"a", "b"}


def test_wildbench_reference_compared_with_itself_is_left_out(tmp_path: Path) -> None:
    def entry(sid: str, model: str, choice: str) -> dict:
        return {"session_id": sid, "model_A": model, "model_B": "ref", "parsed_result": {"choice": choice},
                "model_outputs": {model: "x" * 10, "ref": "y" * 10}}

    path = tmp_path / "pairwise.json"
    path.write_text(json.dumps([entry("s1", "m", "A+"), entry("s2", "m", "B++"), entry("s3", "ref", "A=B"),
                                entry("s4", "m", "A+++")]), encoding="utf-8")
    result = harness_cli("import", "wildbench", path, "--out", tmp_path / "run", "--baseline", "ref")
    # 1 of the 3 verdicts kept is invalid: numbers that cannot stand, as `harness aggregate` says (exit 1)
    assert result.returncode == 1 and "1 of 3 verdicts are invalid" in result.stderr, result.stderr
    assert any("1 judgment(s) compare a model with itself (ref)" in n for n in notes(result.stderr))
    m = read_scores(tmp_path / "run")["m"]
    assert m["n"] == "2" and m["invalid"] == "1"  # "A+++" is no WildBench choice: an invalid verdict, not in n


@pytest.mark.parametrize(("fmt", "name", "content", "expected"), [
    ("arena_hard", "j.jsonl", arena_line("q1", "m", "A>>>B", "A>B") + "\n", "score 'A>>>B' is not one of"),
    ("mt_bench", "p.jsonl", json.dumps({"question_id": 1, "model_1": "a", "model_2": "b", "g1_winner": "model_3",
                                        "g2_winner": "tie"}) + "\n", "g1_winner 'model_3' is not"),
    ("autoj", "a.jsonl", json.dumps({"prompt": "p", "response 1": "x", "response 2": "y", "label": 7}) + "\n",
     "label 7 is not 0, 1 or 2"),
    ("alpaca_eval", "a.json", json.dumps([{"instruction": "i", "output_1": "a", "generator_1": "b", "output_2": "c",
                                           "generator_2": "m", "preference": 3}]), "preference 3.0 is outside [1, 2]"),
])
def test_unknown_labels_are_bad_input_on_one_line(tmp_path: Path, fmt: str, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = harness_cli("import", fmt, path, "--out", tmp_path / "run", *(["--baseline", "b"] if fmt == "arena_hard" else []))
    assert result.returncode == 2
    assert expected in one_error(result.stderr)


ANSWER_META = {"token_len": 3, "header_count": 0, "list_count": 0, "bold_count": 0}


@pytest.mark.parametrize(("fmt", "name", "content", "expected"), [
    ("mt_bench", "s.jsonl", json.dumps({"question_id": 81, "model": "a", "judge": ["gpt-4", "single-v1"], "score": 5,
                                        "turn": 1, "judgment": ["Rating: [[5]]"]}) + "\n",
     "s.jsonl:1: judgment is list, expected the judge's text"),
    ("mt_bench", "s.jsonl", json.dumps({"question_id": 81, "model": "a", "judge": "x", "score": 5, "turn": [1]}) + "\n",
     "s.jsonl:1: turn: [1] is not 1 or 2"),
    ("mt_bench", "s.jsonl", json.dumps({"question_id": 81, "model": "a", "judge": {"x": 1}, "score": 5}) + "\n",
     "s.jsonl:1: judge: expected a name"),
    ("autoj", "a.jsonl", json.dumps({"prompt": "p", "response 1": "x", "response 2": "y", "label": [0]}) + "\n",
     "a.jsonl:1: label [0] is not 0, 1 or 2"),
    ("mt_bench_human", "h.jsonl", '{"question_id": 81, "model_a": "a", "model_b": "b", "winner": "model_a", '
                                  '"judge": "expert_0", "turn": Infinity}\n', "h.jsonl:1: turn: inf is not 1 or 2"),
    ("labels", "l.jsonl", json.dumps({"item_id": "q1", "model_a": {"name": "x"}, "model_b": "b", "winner": "model_a"})
     + "\n", "l.jsonl:1: {'name': 'x'} is not text"),
    ("labels", "l.jsonl", json.dumps({"item_id": "q1", "model_a": "a", "model_b": "b", "winner": "model_a",
                                      "annotator": ["ann"]}) + "\n", "l.jsonl:1: ['ann'] is not text"),
    ("arena", "b.jsonl", json.dumps({"question_id": {"id": 2}, "model_a": "a", "model_b": "b", "winner": "model_a"})
     + "\n", "b.jsonl:1: {'id': 2} is not text"),
    ("preference", "p.jsonl", json.dumps({"prompt": "p", "chosen": {"text": "c"}, "rejected": "r"}) + "\n",
     "p.jsonl:1: chosen is dict, expected text"),
    ("preference", "p.jsonl", json.dumps({"prompt": "p", "chosen": "c", "rejected": 7}) + "\n",
     "p.jsonl:1: rejected is int, expected text"),
])
def test_fields_of_the_wrong_type_are_bad_input_naming_the_record(tmp_path: Path, fmt: str, name: str, content: str,
                                                                  expected: str) -> None:
    """A list or an object where a name, an id, a turn or a text belongs: one line, exit 2 (its
    Python form once became a model named "{'name': 'x'}", and some made internal errors)."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    result = harness_cli("import", fmt, path, "--out", tmp_path / "run")
    assert result.returncode == 2 and expected in one_error(result.stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("count", ["NaN", "Infinity"])
def test_an_arena_hard_answer_count_that_is_no_number_is_bad_input(tmp_path: Path, count: str) -> None:
    judgments = tmp_path / "m.jsonl"
    judgments.write_text(arena_line("q1", "m", "A>B", "B>A") + "\n", encoding="utf-8")
    answers = tmp_path / "ans.jsonl"
    meta = json.dumps(ANSWER_META).replace('"token_len": 3', f'"token_len": {count}')
    answers.write_text(json.dumps({"question_id": "q1", "model_id": "m", "choices": [{"turns": [{"content": "x"}]}]})
                       [:-1] + f', "conv_metadata": {meta}}}\n', encoding="utf-8")
    result = harness_cli("import", "arena_hard", judgments, "--answers", answers, "--baseline", "b",
                         "--out", tmp_path / "run")
    assert result.returncode == 2 and "conv_metadata.token_len" in one_error(result.stderr)


def test_a_file_named_twice_is_read_once_whatever_its_ids(tmp_path: Path) -> None:
    """autoj and preference files number their items by position, so a file given twice (an
    overlapping shell glob) showed no repeat to screen and counted every judgment twice."""
    path = tmp_path / "autoj.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"p{i}", "response 1": "x", "response 2": "y", "label": i % 2}) + "\n"
                            for i in range(4)), encoding="utf-8")
    result = harness_cli("import", "autoj", path, tmp_path / "." / "autoj.jsonl", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert any("autoj.jsonl: given twice; read once" in n for n in notes(result.stderr))
    assert json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["requests"] == 4


def test_an_arena_hard_model_whose_games_are_all_null_is_listed_and_not_final(tmp_path: Path) -> None:
    path = tmp_path / "judgments.jsonl"
    lines = [arena_line(f"q{i}", "m", "B>A", "A>B") for i in range(4)]
    lines += [json.dumps({"question_id": f"q{i}", "model": "down", "judge": "j", "games": [None, None]}) for i in range(4)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = harness_cli("import", "arena_hard", path, "--out", tmp_path / "run", "--baseline", "b")
    assert result.returncode == 1, result.stderr  # a model without a score: numbers that cannot stand
    assert any("8 game(s) are null" in n for n in notes(result.stderr))
    assert any("no judged game of down" in n for n in notes(result.stderr))
    assert "no score for down" in result.stderr
    scores = read_scores(tmp_path / "run")
    assert scores["down"]["n"] == "0" and scores["down"]["score"] == "" and scores["m"]["n"] == "8"


def test_a_repeated_arena_hard_answer_row_keeps_the_first(tmp_path: Path) -> None:
    judgments = tmp_path / "m.jsonl"
    judgments.write_text(arena_line("q1", "m", "A>B", "B>A") + "\n", encoding="utf-8")

    def answer(model: str, text: str, tokens: int) -> str:
        return json.dumps({"question_id": "q1", "model_id": model, "choices": [{"turns": [{"content": text}]}],
                           "conv_metadata": {**ANSWER_META, "token_len": tokens}})

    answers = tmp_path / "ans.jsonl"
    answers.write_text("\n".join([answer("m", "FIRST answer", 3), answer("m", "SECOND, longer answer", 9),
                                  answer("b", "base answer", 4),
                                  json.dumps({"question_id": "q1", "turns": [{"content": "the question"}]})]) + "\n",
                       encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", judgments, "--answers", answers, "--baseline", "b", "--out", out)
    assert result.returncode == 0, result.stderr
    assert any("1 answer row(s) repeat" in n and "kept the first" in n for n in notes(result.stderr))
    row = json.loads((out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert row["answers"]["m"] == "FIRST answer"


def test_an_alpaca_eval_baseline_contradicting_the_files_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"instruction": "i", "output_1": "a", "generator_1": "gpt4", "output_2": "c",
                                 "generator_2": "m", "preference": 1.5}]), encoding="utf-8")
    result = harness_cli("import", "alpaca_eval", path, "--baseline", "m", "--out", tmp_path / "run")
    assert result.returncode == 2 and "the files' baseline (generator_1) is gpt4" in one_error(result.stderr)
    assert harness_cli("import", "alpaca_eval", path, "--baseline", "gpt4", "--out", tmp_path / "run").returncode == 0
