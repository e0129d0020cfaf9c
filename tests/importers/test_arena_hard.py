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
