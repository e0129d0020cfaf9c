"""Human labels imported as runs judged by `human`: the generic `labels` format (JSONL, CSV),
MT-Bench human judgments, Chatbot Arena battles and preference pairs; bad rows exit 2 naming
file, line and field, and leave nothing behind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.calibrate.planted import cli as harness_cli
from tests.calibrate.planted import write_jsonl
from tests.importers.helpers import read_scores

PAIRS = [
    {
        "item_id": "q1",
        "model_a": "alpha",
        "model_b": "beta",
        "winner": "model_a",
        "annotator": "ann",
        "instruction": "Say hi",
        "answer_a": "hi there",
        "answer_b": "go away",
    },
    {
        "item_id": "q1",
        "model_a": "beta",
        "model_b": "alpha",
        "winner": "model_b",
        "annotator": "bob",
        "instruction": "Say hi",
        "answer_a": "go away",
        "answer_b": "hi there",
    },
    {
        "item_id": "q2",
        "model_a": "alpha",
        "model_b": "gamma",
        "winner": "tie",
        "annotator": "ann",
        "instruction": "Add 2+2",
        "answer_a": "4",
        "answer_b": "four",
    },
    {
        "item_id": "q2",
        "model_a": "beta",
        "model_b": "gamma",
        "winner": "model_b",
        "annotator": "ann",
        "instruction": "Add 2+2",
        "answer_a": "5",
        "answer_b": "four",
    },
]


def verdicts(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_generic_pairwise_labels_become_a_human_run_with_a_dataset(tmp_path: Path, kind: str) -> None:
    source = write_jsonl(tmp_path / "l.jsonl", PAIRS) if kind == "jsonl" else write_csv(tmp_path / "l.csv", PAIRS)
    out = tmp_path / "human"
    result = harness_cli("import", "labels", source, "--out", out)
    assert result.returncode == 0, result.stderr
    rows = verdicts(out)
    assert [r["judge"] for r in rows] == ["human:ann", "human:bob", "human:ann", "human:ann"]
    assert [r["data"]["level"] for r in rows] == ["A>>B", "B>>A", "A=B", "B>>A"]
    assert [r["data"]["model_a"] for r in rows] == ["alpha", "beta", "alpha", "beta"]  # position A as labelled
    scores = read_scores(out)
    # alpha: won twice against beta (both annotators) and tied gamma: (1 + 1 + 0.5) / 3
    assert float(scores["alpha"]["win_rate"]) == pytest.approx(100 * 2.5 / 3)
    assert float(scores["gamma"]["win_rate"]) == pytest.approx(100 * 1.5 / 2)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["judge"]["original"] == "human" and manifest["protocol"]["name"] == "pairwise"
    dataset = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert dataset == [
        {"id": "q1", "instruction": "Say hi", "category": None, "answers": {"alpha": "hi there", "beta": "go away"}},
        {
            "id": "q2",
            "instruction": "Add 2+2",
            "category": None,
            "answers": {"alpha": "4", "beta": "5", "gamma": "four"},
        },
    ]
    task = json.loads((out / "judge_task.yaml").read_text(encoding="utf-8"))
    assert task["protocol"] == "pairwise" and task["dataset"]["path"] == "dataset.jsonl"


def test_a_users_judge_runs_on_the_written_task_and_calibrates_against_the_labels(
    tmp_path: Path, harness_judge_server
) -> None:
    rows = [
        {
            "item_id": f"q{i}",
            "model_a": "good",
            "model_b": "bad",
            "winner": "model_a" if i % 4 else "tie",
            "instruction": f"Question {i}",
            "answer_a": f"GOOD answer {i}",
            "answer_b": f"bad answer {i}",
        }
        for i in range(12)
    ]
    human = tmp_path / "human"
    assert harness_cli("import", "labels", write_jsonl(tmp_path / "l.jsonl", rows), "--out", human).returncode == 0
    # a judge that picks whichever answer is shown first: right half the time, fully position-biased
    harness_judge_server.otherwise("Both are fine. [[1]]")
    judged = tmp_path / "judged"
    result = harness_cli(
        "run",
        human / "judge_task.yaml",
        "--judge",
        harness_judge_server.judge,
        "--base-url",
        harness_judge_server.base_url,
        "--out",
        judged,
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    assert len(harness_judge_server.prompts) == 24  # every labelled pair, both orders
    out = tmp_path / "c.json"
    result = harness_cli("calibrate", judged, "--against", human, "--min-pairs", "10", "--out", out)
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["n_pairs"] == 12 and doc["n_verdicts"] == 24 and doc["probability_source"] == "level"
    assert doc["first_position_win_rate"] == 1.0 and doc["position_consistency"] == 0.0
    # every pair: the orders disagree, so the judge ties; humans: 9 wins, 3 ties -> 9 halves + 3 wholes
    assert doc["agreement"] == pytest.approx((9 * 0.5 + 3 * 1.0) / 12)
    assert "12 matched pairs on 12 items" in result.stdout


def test_generic_rubric_labels(tmp_path: Path) -> None:
    rows = [
        {
            "item_id": f"q{i}",
            "model": m,
            "score": s,
            "annotator": a,
            "instruction": f"task {i}",
            "answer": f"{m} says {i}",
        }
        for i in range(3)
        for m, s, a in (("x", 4, "ann"), ("y", 2, "ann"), ("x", 5, "bob"))
    ]
    out = tmp_path / "scores"
    result = harness_cli("import", "labels", write_jsonl(tmp_path / "s.jsonl", rows), "--out", out)
    assert result.returncode == 0, result.stderr
    scores = read_scores(out)
    assert float(scores["x"]["score"]) == pytest.approx(4.5) and float(scores["y"]["score"]) == pytest.approx(2.0)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["protocol"]["name"] == "rubric" and manifest["summary"]["scale"] == [2, 5]
    task = json.loads((out / "judge_task.yaml").read_text(encoding="utf-8"))
    assert task["protocol"] == "rubric" and sorted(task["options"]["rubric"]["scores"]) == ["2", "3", "4", "5"]


BAD_ROWS = [
    ({"item_id": "q1", "model_a": "a", "model_b": "b", "winner": "A"}, "winner: 'A' is not model_a, model_b or tie"),
    ({"item_id": "q1", "model_a": "a", "winner": "model_a"}, "missing field 'model_b'"),
    ({"item_id": "", "model_a": "a", "model_b": "b", "winner": "tie"}, "item_id: empty"),
    ({"item_id": "q1", "model_a": "a", "model_b": "a", "winner": "tie"}, "model_b: the same model as model_a"),
    (
        {"item_id": "q0", "model_a": "b", "model_b": "a", "winner": "tie"},
        "a second label by human for item 'q0', b vs a (first at",
    ),
    ({"item_id": "q1", "model": "a", "score": 3}, "mixes pairwise rows"),
    (
        {"item_id": "q0", "model_a": "a", "model_b": "c", "winner": "tie", "instruction": "other"},
        "instruction: differs from an earlier row of item 'q0'",
    ),
]


@pytest.mark.parametrize("bad, message", BAD_ROWS, ids=[m.split(":")[0][:20] for _, m in BAD_ROWS])
def test_a_bad_pairwise_row_names_file_line_and_field(tmp_path: Path, bad: dict, message: str) -> None:
    first = {"item_id": "q0", "model_a": "a", "model_b": "b", "winner": "model_a", "instruction": "hi"}
    source = write_jsonl(tmp_path / "l.jsonl", [first, bad])
    out = tmp_path / "runs" / "human"
    out.parent.mkdir()
    result = harness_cli("import", "labels", source, "--out", out)
    assert result.returncode == 2, result.stderr
    assert f"harness: error: {source}:2: {message}" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() and list((tmp_path / "runs").iterdir()) == []  # nothing half-written


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"item_id": "q1", "model": "a", "score": "great"}, "score: 'great' is not a number"),
        ({"item_id": "q1", "model": "a", "score": -1}, "score: '-1' must be a number from 0 to 100"),
        ({"item_id": "q1", "score": 3}, "missing field 'model'"),
    ],
)
def test_a_bad_rubric_row_in_csv_names_file_line_and_field(tmp_path: Path, bad: dict, message: str) -> None:
    rows = [{"item_id": "q0", "model": "a", "score": 3}, {"item_id": "q0", "model": "b", "score": 4}]
    source = tmp_path / "s.csv"
    keys = ["item_id", "model", "score"]
    source.write_text(
        ",".join(keys) + "\n" + "".join(",".join(str(r.get(k, "")) for k in keys) + "\n" for r in [*rows, bad]),
        encoding="utf-8",
    )
    if "model" not in bad:  # CSV has every column: an empty cell is the missing field
        message = "model: empty"
    result = harness_cli("import", "labels", source, "--out", tmp_path / "out")
    assert result.returncode == 2 and f"{source}:4: {message}" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_chatbot_arena_battles(tmp_path: Path) -> None:
    def conversation(question: str, reply: str) -> list[dict]:
        return [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]

    battles = [
        {
            "question_id": "b1",
            "model_a": "vicuna",
            "model_b": "koala",
            "winner": "model_a",
            "judge": "arena_user_1",
            "conversation_a": conversation("hello?", "Hello!"),
            "conversation_b": conversation("hello?", "Hm."),
            "turn": 1,
            "language": "English",
        },
        {
            "question_id": "b2",
            "model_a": "koala",
            "model_b": "alpaca",
            "winner": "tie (bothbad)",
            "judge": "arena_user_2",
        },
        {"question_id": "b3", "model_a": "alpaca", "model_b": "vicuna", "winner": "tie", "judge": "arena_user_1"},
        {"model_a": "vicuna", "model_b": "alpaca", "winner": "model_b"},
    ]
    source = tmp_path / "clean_battle.json"
    source.write_text(json.dumps(battles), encoding="utf-8")  # the dumps are one JSON array
    out = tmp_path / "arena"
    result = harness_cli("import", "arena", source, "--out", out)
    assert result.returncode == 0, result.stderr
    rows = verdicts(out)
    assert [r["item_id"] for r in rows] == ["b1", "b2", "b3", "arena-000003"]
    assert [r["data"]["level"] for r in rows] == ["A>>B", "A=B", "A=B", "B>>A"]
    assert [r["judge"] for r in rows] == ["human:arena_user_1", "human:arena_user_2", "human:arena_user_1", "human"]
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert "1 'tie (bothbad)' votes stored as ties" in manifest["import"]["notes"]
    dataset = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert dataset == [
        {"id": "b1", "instruction": "hello?", "category": "English", "answers": {"koala": "Hm.", "vicuna": "Hello!"}}
    ]
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [battles[0], {**battles[2], "winner": "both"}])
    result = harness_cli("import", "arena", bad, "--out", tmp_path / "bad")
    assert result.returncode == 2 and f"{bad}:2: winner: 'both' is not model_a, model_b, tie" in result.stderr


def test_mt_bench_human_judgments_match_the_gpt4_pair_import(tmp_path: Path) -> None:
    def conv(question: str, *replies: str) -> list[dict]:
        turns = []
        for k, reply in enumerate(replies):
            turns += [
                {"role": "user", "content": f"{question} (turn {k + 1})"},
                {"role": "assistant", "content": reply},
            ]
        return turns

    human_rows = [
        {
            "question_id": 81,
            "model_a": "gpt-4",
            "model_b": "llama-13b",
            "winner": "model_a",
            "judge": "expert_0",
            "turn": 1,
            "conversation_a": conv("Write", "great"),
            "conversation_b": conv("Write", "poor"),
        },
        {
            "question_id": 81,
            "model_a": "gpt-4",
            "model_b": "llama-13b",
            "winner": "tie",
            "judge": "expert_1",
            "turn": 1,
            "conversation_a": conv("Write", "great"),
            "conversation_b": conv("Write", "poor"),
        },
        {
            "question_id": 81,
            "model_a": "llama-13b",
            "model_b": "gpt-4",
            "winner": "model_b",
            "judge": "expert_0",
            "turn": 2,
            "conversation_a": conv("Write", "poor", "meh"),
            "conversation_b": conv("Write", "great", "fine"),
        },
    ]
    source = write_jsonl(tmp_path / "human.jsonl", human_rows)
    out = tmp_path / "mt_human"
    result = harness_cli("import", "mt_bench_human", source, "--out", out)
    assert result.returncode == 0, result.stderr
    rows = verdicts(out)
    assert [r["item_id"] for r in rows] == ["mt-81-t1", "mt-81-t1", "mt-81-t2"]
    assert [r["judge"] for r in rows] == ["human:expert_0", "human:expert_1", "human:expert_0"]
    dataset = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [d["id"] for d in dataset] == ["mt-81-t1"]  # turn 2 follows each model's own first turn
    # GPT-4's pair judgments of the same games, imported with `mt_bench`, match pair for pair
    gpt4 = write_jsonl(
        tmp_path / "gpt-4_pair.jsonl",
        [
            {
                "question_id": 81,
                "model_1": "gpt-4",
                "model_2": "llama-13b",
                "g1_winner": "model_1",
                "g2_winner": "model_1",
                "judge": ["gpt-4", "pair-v2"],
                "turn": turn,
            }
            for turn in (1, 2)
        ],
    )
    assert harness_cli("import", "mt_bench", gpt4, "--out", tmp_path / "gpt4").returncode == 0
    result = harness_cli(
        "calibrate",
        tmp_path / "gpt4",
        "--against",
        out,
        "--min-pairs",
        "2",
        "--folds",
        "2",
        "--out",
        tmp_path / "c.json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc["n_pairs"] == 2 and doc["n_verdicts"] == 4
    # turn 1: humans split (win, tie) = 0.75 for gpt-4; turn 2: gpt-4 won; the judge says gpt-4 both times
    assert doc["mean_human_outcome"] == pytest.approx((0.75 + 0.25 + 1.0 + 0.0) / 4)
    assert doc["agreement"] == pytest.approx(1.0)


def test_preference_pairs(tmp_path: Path) -> None:
    rows = [
        {"id": 7, "prompt": "Capital of France?", "chosen": "Paris", "rejected": "Rome", "subset": "facts"},
        {
            "chosen": "\n\nHuman: Hi\n\nAssistant: Hello, how can I help?",
            "rejected": "\n\nHuman: Hi\n\nAssistant: What.",
        },
        {
            "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
            "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
        },
    ]
    out = tmp_path / "prefs"
    result = harness_cli("import", "preference", write_jsonl(tmp_path / "p.jsonl", rows), "--out", out)
    assert result.returncode == 0, result.stderr
    assert float(read_scores(out)["chosen"]["win_rate"]) == 100.0
    dataset = [json.loads(x) for x in (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(d["id"], d["instruction"], d["answers"]["chosen"], d["answers"]["rejected"]) for d in dataset] == [
        ("7", "Capital of France?", "Paris", "Rome"),
        ("pref-000001", "Human: Hi", "Hello, how can I help?", "What."),
        ("pref-000002", "2+2?", "4", "5"),
    ]
    bad = write_jsonl(tmp_path / "bad.jsonl", [rows[0], {"prompt": "x", "chosen": "y"}])
    result = harness_cli("import", "preference", bad, "--out", tmp_path / "bad")
    assert result.returncode == 2 and f"{bad}:2: missing field 'rejected'" in result.stderr
