"""Arena-Hard-Auto judgment files (synthetic, in the published line format) as a pairwise run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.importers.helpers import harness_cli, read_scores


def prompt(answer_a: str, answer_b: str) -> str:
    return (f"<|User Prompt|>\nq\n\n<|The Start of Assistant A's Answer|>\n{answer_a}\n<|The End of Assistant A's Answer|>"
            f"\n\n<|The Start of Assistant B's Answer|>\n{answer_b}\n<|The End of Assistant B's Answer|>")


def line(qid: str, model: str, score1: str | None, score2: str | None, long_model: bool = False) -> str:
    mine, base = ("m" * 900 if long_model else "m" * 100), "b" * 200
    games = [  # game 1: baseline as A; game 2: the model as A
        {"user_prompt": prompt(base, mine), "judgment": f"... [[{score1}]]", "score": score1},
        {"user_prompt": prompt(mine, base), "judgment": f"... [[{score2}]]", "score": score2},
    ]
    return json.dumps({"question_id": qid, "model": model, "judge": "gpt-4-1106-preview", "games": games,
                       "tstamp": 1.0})


@pytest.fixture
def judgments(tmp_path: Path) -> Path:
    path = tmp_path / "model_judgment" / "gpt-4-1106-preview" / "m.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join([
        line("q1", "m", "B>>A", "A>B"),                 # model much better, then slightly better
        line("q2", "m", "A=B", "B>A", long_model=True),  # tie, then baseline slightly better
        line("q3", "m", "A>>B", None),                  # baseline much better; second game unparsed
    ]) + "\n", encoding="utf-8")
    return path


def test_import_maps_games_to_positions(judgments: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", judgments, "--out", out, "--baseline", "gpt-4-0314")
    assert result.returncode == 0, result.stderr
    scores = read_scores(out)
    m = scores["m"]
    # model's rewards: +100, +50, 0, -50, -100 over five parsed games; one invalid
    assert float(m["wb_reward"]) == pytest.approx((100 + 50 + 0 - 50 - 100) / 5)
    assert (int(m["win_much"]), int(m["win"]), int(m["tie"]), int(m["lose"]), int(m["lose_much"])) == (1, 1, 1, 1, 1)
    assert int(m["invalid"]) == 1
    assert m["length_controlled_win_rate"] != ""  # one baseline, lengths known: computed
    assert float(m["win_rate"]) == pytest.approx(100 * 2.5 / 5)
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()]
    q2 = [v for v in verdicts if v["item_id"] == "q2"]
    # lengths read from the judge prompt: the model's 900-char answer in B (game 1) and A (game 2)
    assert sorted((v["data"]["order"], v["data"]["len_a"], v["data"]["len_b"]) for v in q2) == [
        ("ab", 900, 200), ("ba", 200, 900)]
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["judge"]["original"] == "gpt-4-1106-preview"
    assert manifest["counts"] == {"ok": 5, "invalid": 1, "failed": 0, "pending": 0}


def test_length_rule_at_aggregation(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    # the model's answer is 900 chars, the baseline's 200: game 1 the (shorter) baseline wins
    # slightly, game 2 the (700 chars longer) model wins slightly
    path.write_text(line("q1", "m", "A>B", "A>B", long_model=True) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    assert harness_cli("import", "arena_hard", path, "--out", out, "--baseline", "gpt-4-0314").returncode == 0
    m = read_scores(out)["m"]
    assert (int(m["win"]), int(m["tie"]), int(m["lose"])) == (1, 0, 1)
    result = harness_cli("aggregate", out, "--set", "options.length_k=500")
    assert result.returncode == 0, result.stderr
    m = read_scores(out)["m"]
    assert (int(m["win"]), int(m["tie"]), int(m["lose"])) == (0, 1, 1)  # the longer winner's slight win: a tie
    assert harness_cli("aggregate", out, "--set", "options.length_k=800").returncode == 0
    m = read_scores(out)["m"]
    assert (int(m["win"]), int(m["tie"]), int(m["lose"])) == (1, 0, 1)  # 700 < 800: kept


def test_no_baseline_is_bad_input(judgments: Path, tmp_path: Path) -> None:
    result = harness_cli("import", "arena_hard", judgments, "--out", tmp_path / "run")
    assert result.returncode == 2 and "--baseline" in result.stderr and f"{judgments}:1" in result.stderr


def test_bad_label_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(line("q1", "m", "A>B", "A>B") + "\n" + line("q2", "m", "A>>>B", "A>B") + "\n", encoding="utf-8")
    result = harness_cli("import", "arena_hard", path, "--out", tmp_path / "run", "--baseline", "b")
    assert result.returncode == 2
    assert result.stderr.strip() == f"harness: error: {path}:2: games[0]: score 'A>>>B' is not one of A>>B, A>B, A=B, B>A, B>>A or null"
    assert not (tmp_path / "run").exists()


def test_existing_foreign_directory_is_refused_and_untouched(judgments: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    result = harness_cli("import", "arena_hard", judgments, "--out", out, "--baseline", "b")
    assert result.returncode == 2 and "not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    # an earlier import of the same files is replaced
    again = tmp_path / "again"
    assert harness_cli("import", "arena_hard", judgments, "--out", again, "--baseline", "b").returncode == 0
    assert harness_cli("import", "arena_hard", judgments, "--out", again, "--baseline", "b").returncode == 0
    assert len((again / "store.jsonl").read_text(encoding="utf-8").splitlines()) == 6
    # ... with its report (derived from the numbers replaced), but never with what the import does
    # not write: the user's notes, a nested run
    assert harness_cli("report", again).returncode == 0
    assert harness_cli("import", "arena_hard", judgments, "--out", again, "--baseline", "b").returncode == 0
    assert not (again / "report.md").exists()
    (again / "NOTES.md").write_text("keep me", encoding="utf-8")
    (again / "replay").mkdir()
    result = harness_cli("import", "arena_hard", judgments, "--out", again, "--baseline", "b")
    assert result.returncode == 2 and "NOTES.md, replay" in result.stderr and "would delete" in result.stderr
    assert (again / "NOTES.md").read_text(encoding="utf-8") == "keep me" and (again / "scores.csv").is_file()


def test_an_option_refused_names_the_imported_run_not_a_staging_folder(tmp_path: Path) -> None:
    """The options are checked where the import is aggregated, in a temporary folder deleted at once."""
    pair = tmp_path / "pair.jsonl"
    pair.write_text(json.dumps({"question_id": 81, "model_1": "a", "model_2": "b", "g1_winner": "model_1",
                                "g2_winner": "tie", "judge": ["gpt-4", "pair-v2"], "turn": 1}) + "\n", encoding="utf-8")
    result = harness_cli("import", "mt_bench", pair, "--baseline", "gpt-4", "--out", tmp_path / "run")
    assert result.returncode == 2 and "'gpt-4' has no answers" in result.stderr
    assert ".import-" not in result.stderr and "the imported run" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.jsonl"]


# --- today's upstream formats (lmarena/arena-hard-auto) -------------------------------------------

def v2_game(question: str, answer_a: str, answer_b: str, score: str | None) -> dict:
    """A v2.0 gen_judgment.py game: the judge's messages, its output as a dict, the label."""
    user = (f"<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\n{answer_a}\n"
            f"<|The End of Assistant A's Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_b}\n"
            "<|The End of Assistant B's Answer|>")
    return {"score": score, "judgment": {"answer": f"verdict [[{score}]]", "reasoning": None},
            "prompt": [{"role": "system", "content": "judge"}, {"role": "user", "content": user}]}


def v2_line(uid: str, model: str, category: str, baseline: str, scores: tuple[str | None, str | None] | None,
            null_game: int | None = None) -> str:
    mine, base = f"{model} answer to {uid}", f"{baseline} answer to {uid}"
    games: list = [v2_game(f"question {uid}", base, mine, scores[0] if scores else None),
                   v2_game(f"question {uid}", mine, base, scores[1] if scores else None)]
    if null_game is not None:
        games[null_game] = None
    return json.dumps({"uid": uid, "category": category, "judge": "gpt-4.1", "model": model, "baseline": baseline,
                       "games": games})


@pytest.fixture
def v2_judgments(tmp_path: Path) -> Path:
    path = tmp_path / "model_judgment" / "gpt-4.1" / "m.jsonl"
    path.parent.mkdir(parents=True)
    lines = [v2_line(f"h{i}", "m", "hard_prompt", "o3-mini-2025-01-31", ("B>A", "A>>B")) for i in range(3)]
    lines.append(v2_line("h3", "m", "hard_prompt", "o3-mini-2025-01-31", ("A>B", "B>A"), null_game=1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_v2_records_import_with_null_games_dropped_and_counted(v2_judgments: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", v2_judgments, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "harness: note: 1 game(s) are null (a failed judge call); left out" in result.stderr
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["counts"] == {"ok": 7, "invalid": 0, "failed": 0, "pending": 0}
    assert manifest["judge"]["original"] == "gpt-4.1"
    assert manifest["protocol"]["config"]["baselines"] == ["o3-mini-2025-01-31"]
    m = read_scores(out)["m"]
    # v2.0 score: questions with both games only: 3 x (win + much better as model-first A) = 3 x (1 + 3) / 4
    assert float(m["arena_hard_v2"]) == pytest.approx(100.0)
    # the judge's texts from the dict judgment, the question and answers from the prompt messages
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert {v["output"] for v in verdicts} == {"verdict [[B>A]]", "verdict [[A>>B]]", "verdict [[A>B]]"}
    rows = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert rows[0]["instruction"] == "question h0" and rows[0]["category"] == "hard_prompt"
    assert rows[0]["answers"] == {"m": "m answer to h0", "o3-mini-2025-01-31": "o3-mini-2025-01-31 answer to h0"}


def test_v2_baseline_per_category(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(v2_line("h0", "m", "hard_prompt", "o3-mini-2025-01-31", ("B>A", "A>B")) + "\n"
                    + v2_line("c0", "m", "creative_writing", "gemini-2.0-flash-001", ("A>B", "B>A")) + "\n",
                    encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", path, "--out", out)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "run.json").read_text(encoding="utf-8"))["protocol"]["config"]
    assert config["baselines"] == ["gemini-2.0-flash-001", "o3-mini-2025-01-31"]
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert {(v["data"]["category"], v["data"]["model_a"] if v["data"]["order"] == "ba" else v["data"]["model_b"])
            for v in verdicts} == {("hard_prompt", "o3-mini-2025-01-31"), ("creative_writing", "gemini-2.0-flash-001")}
    # Arena-Hard shows one category (baseline) at a time: said on stderr, not a mixed number
    assert "Arena-Hard scores: not computed" in result.stderr and "one category" in result.stderr
    # per category, model m (judged against that category's baseline) gets its score there, though
    # the run's rating anchor (the other baseline) never met it: the import once crashed on this
    by_category = (out / "scores_by_category.csv").read_text(encoding="utf-8")
    hard = [line.split(",") for line in by_category.splitlines() if line.startswith("hard_prompt,m,")]
    assert len(hard) == 1 and float(hard[0][2]) == 50.0  # both orders: m preferred to o3-mini
    assert "no valid verdict" not in by_category.split("hard_prompt,m,", 1)[1].split("\n", 1)[0]


def test_a_baseline_contradicting_the_records_is_one_line_exit_2(v2_judgments: Path, tmp_path: Path) -> None:
    result = harness_cli("import", "arena_hard", v2_judgments, "--out", tmp_path / "run", "--baseline", "gpt-4-0314")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"harness: error: {v2_judgments}:1: baseline 'o3-mini-2025-01-31' differs from "
                                     "--baseline 'gpt-4-0314'; leave --baseline out to use the records' baselines")
    assert not (tmp_path / "run").exists()


def test_v01_records_keyed_by_uid(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    records = [json.loads(line(f"q{i}", "m", "B>A", "A>B")) for i in range(2)]
    path.write_text("".join(json.dumps({"uid": r.pop("question_id"), **r}) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", path, "--out", out, "--baseline", "gpt-4-0314")
    assert result.returncode == 0, result.stderr
    assert int(read_scores(out)["m"]["win"]) == 4


def answer_file(path: Path, model: str, answers: dict[str, str], tokens: dict[str, int] | None = None) -> None:
    rows = []
    for qid, text in answers.items():
        row = {"question_id": qid, "model_id": model, "choices": [{"index": 0, "turns": [{"content": text}]}]}
        if tokens is not None:
            row["conv_metadata"] = {"token_len": tokens[qid], "header_count": {"h1": 0, "h2": 1},
                                    "list_count": {"ordered": 2, "unordered": 1}, "bold_count": {"**": 1, "__": 0}}
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_answers_give_texts_lengths_and_arena_hards_own_style_features(judgments: Path, tmp_path: Path) -> None:
    answers = tmp_path / "model_answer"
    answers.mkdir()
    qids = ("q1", "q2", "q3")
    answer_file(answers / "m.jsonl", "m", {q: f"mine {q}" for q in qids}, {q: 10 + i for i, q in enumerate(qids)})
    answer_file(answers / "gpt-4-0314.jsonl", "gpt-4-0314", {q: f"base {q}!" for q in qids}, dict.fromkeys(qids, 50))
    questions = tmp_path / "question.jsonl"
    questions.write_text("".join(json.dumps({"question_id": q, "category": "arena-hard-v0.1",
                                             "turns": [{"content": f"prompt {q}"}]}) + "\n" for q in qids))
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", judgments, "--answers", answers, questions, "--out", out,
                         "--baseline", "gpt-4-0314")
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(x) for x in (out / "verdicts.jsonl").read_text(encoding="utf-8").split("\n") if x]
    q1 = next(v for v in verdicts if v["item_id"] == "q1" and v["data"]["order"] == "ab")  # the model as A
    assert q1["data"]["style_a"] == {"tokens": 10, "headers": 1, "lists": 3, "bold": 1}  # conv_metadata, summed
    assert (q1["data"]["len_a"], q1["data"]["len_b"]) == (len("mine q1"), len("base q1!"))  # the answers' texts
    rows = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert rows[0] == {"id": "q1", "instruction": "prompt q1", "category": "arena-hard-v0.1",
                       "answers": {"m": "mine q1", "gpt-4-0314": "base q1!"}}


def test_style_control_that_cannot_be_honoured_is_exit_2(judgments: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert harness_cli("import", "arena_hard", judgments, "--out", out, "--baseline", "b").returncode == 0
    result = harness_cli("aggregate", out, "--set", "options.style_control=true")
    assert result.returncode == 2
    lines = result.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("harness: error: options.style_control: cannot be honoured: ")
    assert "carry no style features" in lines[0] and "--answers" in lines[0]
    # the default shows style control only where it can; the run is unchanged by the refusal
    assert harness_cli("aggregate", out).returncode == 0


def test_alpaca_evals_lc_is_named_for_alpaca_eval(judgments: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = harness_cli("import", "arena_hard", judgments, "--out", out, "--baseline", "gpt-4-0314")
    assert result.returncode == 0, result.stderr
    assert "AlpacaEval LC" in result.stdout and "LC win rate" not in result.stdout
    assert "AlpacaEval's length-controlled win rate (the harness's fit of its model; not Arena-Hard's length control)" in " ".join(
        result.stdout.split())
