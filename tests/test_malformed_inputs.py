"""Every command against malformed input: exit 2 with one line naming the file, never an
"internal error" or a traceback. Inputs: empty files, wrong JSON types, bytes that are not
UTF-8, a run directory from another protocol, half-written run directories (run.json missing
or cut short, a torn store, exports missing or garbled), and fields of the wrong type.

The run directories are real: one pairwise run judged by a loopback OpenAI-compatible server,
one rubric run imported from MT-Bench lines, then damaged one file at a time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

ROWS = [{"id": f"q{i}", "instruction": f"Question {i}?", "category": "odd" if i % 2 else "even",
         "answers": {"a": "x" * (i + 1), "b": "y", "c": "z"}} for i in range(3)]
DEAD_URL = "http://127.0.0.1:9/v1"  # nothing listens on port 9 here; the runs below never get that far


def harness(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def assert_bad_input(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    task = write_task(root, name="t", protocol="pairwise", rows=ROWS, options={"n_bootstrap": 20})
    with OpenAIServer(lambda body: Reply(text="[[2]]")) as server:
        assert main(["run", str(task), "--judge", "openai:j", "--base-url", server.base_url, "--out",
                     str(root / "pairwise"), "--no-progress"]) == 0
    single = root / "gpt-4_single.jsonl"
    single.write_text("".join(json.dumps({"question_id": i, "model": m, "score": s, "turn": 1}) + "\n"
                              for i in range(3) for m, s in (("a", 5), ("b", 7))), encoding="utf-8")
    assert main(["import", "mt_bench", str(single), "--out", str(root / "rubric")]) == 0
    return {"task": task, "pairwise": root / "pairwise", "rubric": root / "rubric", "root": root}


def damaged(runs: dict[str, Path], tmp_path: Path, damage: Callable[[Path], object]) -> Path:
    copy = tmp_path / "damaged"
    shutil.copytree(runs["pairwise"], copy)
    damage(copy)
    return copy


def edit_store(run: Path, change: Callable[[list[dict]], object]) -> None:
    records = [json.loads(line) for line in (run / "store.jsonl").read_text().splitlines()]
    change(records)
    (run / "store.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def unlink(*names: str) -> Callable[[Path], None]:
    return lambda run: [(run / name).unlink() for name in names]


def write(name: str, content: str | bytes) -> Callable[[Path], None]:
    data = content.encode() if isinstance(content, str) else content
    return lambda run: (run / name).write_bytes(data)


def cut_short(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes((run / name).read_bytes()[:40])


def set_data(index: int, **fields: object) -> Callable[[Path], None]:
    return lambda run: edit_store(run, lambda records: records[index]["data"].update(fields))


DAMAGE = {
    "run.json cut short": cut_short("run.json"),
    "run.json empty": write("run.json", ""),
    "run.json not UTF-8": write("run.json", b"\xff\xfe{}"),
    "run.json a list": write("run.json", "[]"),
    "run.json protocol a string": lambda run: (run / "run.json").write_text(
        json.dumps({**json.loads((run / "run.json").read_text()), "protocol": "pairwise"})),
    "store garbage": write("store.jsonl", "garbage\n"),
    "store not UTF-8": write("store.jsonl", b"\xff\xfe\n"),
    "store a list": write("store.jsonl", "[1]\n"),
    "store level a list": set_data(0, level=["A>B"]),
    "store model a number": set_data(1, model_a=5),
    "store model against itself": set_data(2, model_b="a", model_a="a"),
}
EXPORT_DAMAGE = {
    "verdicts.jsonl garbage": write("verdicts.jsonl", "{bad\n"),
    "verdicts.jsonl not UTF-8": write("verdicts.jsonl", b"\xff\n"),
    "verdicts.jsonl wrong types": write("verdicts.jsonl", json.dumps({"request_id": 1, "item_id": "q", "status": "ok"}) + "\n"),
    "scores.csv not UTF-8": write("scores.csv", b"\xff\xfe,\n"),
    "ranking.csv garbled": write("ranking.csv", "a,b\n1\n2,3,4\n"),
}




def table_edit(name: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    """A result table edited as a spreadsheet would save it."""
    return lambda run: change(pd.read_csv(run / name)).to_csv(run / name, index=False)


def text_score(table: pd.DataFrame) -> pd.DataFrame:
    table["score"] = table["score"].astype(object)
    table.loc[0, "score"] = "about 40"
    return table


#: Tables whose content, not their syntax, is wrong: damage -> (what the one line says, the
#: commands that read the file). Each used to end in an internal error (a pandas exception, or
#: text minus a float deep in a report).
TABLE_DAMAGE: dict[str, tuple[Callable[[Path], object], str, tuple[str, ...]]] = {
    "scores.csv text in score": (table_edit("scores.csv", text_score),
                                 "scores.csv: column 'score' holds 'about 40', not a number",
                                 ("report", "compare", "check", "leaderboard")),
    "scores.csv a row twice": (table_edit("scores.csv", lambda t: pd.concat([t, t[t["model"] == "a"]])),
                               "scores.csv: model 'a' has 2 rows, not one", ("report", "compare")),
    "scores.csv empty": (write("scores.csv", ""), "scores.csv: no 'model' column", ("report", "check", "leaderboard")),
    "scores.csv without ci_low": (table_edit("scores.csv", lambda t: t.drop(columns=["ci_low"])),
                                  "scores.csv: no 'ci_low' column", ("check",)),
    "ranking.csv without model": (table_edit("ranking.csv", lambda t: t.drop(columns=["model"])),
                                  "ranking.csv: no 'model' column", ("report", "compare")),
    "scores_by_category.csv text in score": (table_edit("scores_by_category.csv", text_score),
                                             "scores_by_category.csv: column 'score' holds 'about 40'",
                                             ("report", "check")),
    "verdicts.jsonl cut short": (lambda run: (run / "verdicts.jsonl").write_text(
        (run / "verdicts.jsonl").read_text() + '{"request_id": '), "verdicts.jsonl:19: not a verdict record",
        ("report", "check")),
}


@pytest.mark.parametrize("damage", sorted(TABLE_DAMAGE))
def test_damaged_result_tables_are_bad_input_for_every_reader(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    edit, said, commands = TABLE_DAMAGE[damage]
    run = damaged(runs, tmp_path, edit)
    argv: dict[str, tuple[object, ...]] = {
        "report": ("report", run, "--out", tmp_path / "r"),
        "compare": ("compare", runs["pairwise"], run),
        "check": ("check", runs["pairwise"], run, "--model", "a"),
        "leaderboard": ("leaderboard", runs["pairwise"], run, "--out", tmp_path / "board"),
    }
    for command in commands:
        line = assert_bad_input(*harness(capsys, *argv[command]))
        assert said in line and str(run) in line and "harness aggregate" in line, (command, line)
    # `harness aggregate` rebuilds the tables and the export from the store
    assert harness(capsys, "aggregate", run)[0] == 0
    # (the fixture's few items leave the gate nothing to test: it cannot tell, exit 1, as for the undamaged run)
    assert all(harness(capsys, *argv[command])[0] == (1 if command == "check" else 0) for command in commands)


@pytest.mark.parametrize("damage", ["run.json cut short", "run.json not UTF-8", "run.json a list"])
@pytest.mark.parametrize("command", ["check", "leaderboard"])
def test_damaged_run_json_is_bad_input_for_check_and_leaderboard(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    run = damaged(runs, tmp_path, DAMAGE[damage])
    argv = ("check", runs["pairwise"], run, "--model", "a") if command == "check" else (
        "leaderboard", runs["pairwise"], run, "--out", tmp_path / "board")
    assert str(run / "run.json") in assert_bad_input(*harness(capsys, *argv))  # a list is no incomplete run (1)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("command", ["report", "compare", "aggregate", "run"])
def test_damaged_run_directory_is_bad_input(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    run = damaged(runs, tmp_path, DAMAGE[damage])
    argv: tuple[object, ...] = {
        "report": ("report", run, "--out", tmp_path / "report"),
        "compare": ("compare", runs["pairwise"], run),
        "aggregate": ("aggregate", run),
        "run": ("run", runs["task"], "--judge", "openai:j", "--base-url", DEAD_URL, "--out", run, "--no-progress"),
    }[command]
    if damage.startswith("store") and command in ("report", "compare"):
        run_exports = unlink("verdicts.jsonl")  # a report reads the store only when the exports are missing
        run_exports(run)
    line = assert_bad_input(*harness(capsys, *argv))
    assert str(run) in line


@pytest.mark.parametrize("damage", sorted(EXPORT_DAMAGE))
@pytest.mark.parametrize("command", ["report", "compare"])
def test_damaged_exports_are_bad_input_for_readers(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, damage: str
) -> None:
    run = damaged(runs, tmp_path, EXPORT_DAMAGE[damage])
    argv = ("report", run, "--out", tmp_path / "r") if command == "report" else ("compare", runs["pairwise"], run)
    line = assert_bad_input(*harness(capsys, *argv))
    assert str(run) in line and "harness aggregate" in line  # and how to rebuild them
    # ... which `harness aggregate` does, from the store
    assert harness(capsys, "aggregate", run)[0] == 0
    assert harness(capsys, *argv)[0] == 0


def test_half_written_runs_are_read_from_the_store(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed before the exports (or stopped by a dead judge) with a torn last store line: report,
    compare and aggregate work from the complete records."""
    def half_written(run: Path) -> None:
        unlink("verdicts.jsonl", "scores.csv", "ranking.csv")(run)
        with (run / "store.jsonl").open("a") as handle:
            handle.write('{"request_id": "torn')
    run = damaged(runs, tmp_path, half_written)
    stored = len((runs["pairwise"] / "store.jsonl").read_text().splitlines())
    assert harness(capsys, "report", run, "--out", tmp_path / "r", "--format", "md")[0] == 0
    assert f"{stored}" in (tmp_path / "r" / "report.md").read_text()
    assert harness(capsys, "compare", runs["pairwise"], run)[0] == 0
    assert harness(capsys, "aggregate", run)[0] == 0
    assert len((run / "verdicts.jsonl").read_text().splitlines()) == stored


def test_store_without_run_json_is_not_resumed(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = damaged(runs, tmp_path, unlink("run.json"))
    line = assert_bad_input(*harness(capsys, "run", runs["task"], "--judge", "openai:j", "--base-url", DEAD_URL,
                                     "--out", run, "--no-progress"))
    assert "no run.json" in line
    for command in (("report", run), ("aggregate", run), ("compare", runs["pairwise"], run)):
        assert "not a run directory" in assert_bad_input(*harness(capsys, *command))


def test_run_directory_of_another_protocol(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    line = assert_bad_input(*harness(capsys, "run", runs["task"], "--judge", "openai:j", "--base-url", DEAD_URL,
                                     "--out", runs["rubric"], "--no-progress"))
    assert "protocol (rubric, now pairwise)" in line and "another --out" in line
    line = assert_bad_input(*harness(capsys, "compare", runs["pairwise"], runs["rubric"]))
    assert "share no judged items" in line


def test_not_a_run_directory(runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "missing", tmp_path / "empty", runs["task"]):
        for argv in (("report", target), ("aggregate", target), ("compare", runs["pairwise"], target)):
            assert "not a run directory" in assert_bad_input(*harness(capsys, *argv))


# -- task files and datasets -------------------------------------------------------------------------


def dataset_task(directory: Path, name: str, content: str | bytes) -> Path:
    directory.mkdir()
    (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
    (directory / "task.yaml").write_text(json.dumps(
        {"name": "t", "protocol": "pairwise", "dataset": {"path": name}, "judge": "openai:j"}))
    return directory / "task.yaml"


DATASETS = {
    "empty": ("data.jsonl", ""),
    "not UTF-8": ("data.jsonl", b"\xff\xfe\xfa\n"),
    "a list per line": ("data.jsonl", "[1, 2]\n"),
    "answers a list": ("data.jsonl", json.dumps({"id": "q", "instruction": "i", "answers": ["a"]}) + "\n"),
    "answer a number": ("data.jsonl", json.dumps({"id": "q", "instruction": "i", "answers": {"a": 5, "b": "y"}}) + "\n"),
    "csv not UTF-8": ("data.csv", b"id,instruction\n\xff,\xfe\n"),
    "csv empty": ("data.csv", ""),
    "parquet garbage": ("data.parquet", b"PAR1 not really"),
}
TASKS = {"empty": "", "not UTF-8": b"\xff\xfe\x00name", "a list": "[1, 2]", "a number": "5",
         "unknown key": json.dumps({"name": "t", "protocol": "pairwise", "dataset": {"path": "d.jsonl"}, "colour": 1})}


@pytest.mark.parametrize("case", sorted(DATASETS))
def test_malformed_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    task = dataset_task(tmp_path / "t", *DATASETS[case])
    line = assert_bad_input(*harness(capsys, "run", task, "--base-url", DEAD_URL, "--out", tmp_path / "out",
                                     "--no-progress"))
    assert DATASETS[case][0] in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", sorted(TASKS))
def test_malformed_task_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    task = tmp_path / "task.yaml"
    content = TASKS[case]
    task.write_bytes(content.encode() if isinstance(content, str) else content)
    assert str(task) in assert_bad_input(*harness(capsys, "run", task, "--out", tmp_path / "out"))
    assert harness(capsys, "tasks", tmp_path)[0] == 0  # listed as invalid, the listing goes on


def test_tasks_and_plugins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such directory" in assert_bad_input(*harness(capsys, "tasks", tmp_path / "missing"))
    assert "no such directory" in assert_bad_input(*harness(capsys, "tasks", tmp_path / "f.yaml"))
    assert harness(capsys, "plugins")[0] == 0
    assert "two plugins register" not in capsys.readouterr().err


# -- imports ----------------------------------------------------------------------------------------


FORMATS = ("alpaca_eval", "arena_hard", "wildbench", "mt_bench", "autoj")
IMPORT_FILES: dict[str, str | bytes] = {
    "empty": "",
    "not UTF-8": b"\xff\xfe\xfa",
    "a list of numbers": "[1, 2]",
    "an object": '{"a": 1}',
    "null": "null",
    "lists per line": "[1]\n[2]\n",
    "wrong field types": json.dumps([{
        "instruction": 1, "output_1": None, "generator_1": ["x"], "output_2": {}, "generator_2": {"a": 1},
        "preference": "1.5", "session_id": [1], "model_A": 3, "model_B": None, "model_outputs": [],
        "parsed_result": "x", "score": "9"}]),
    "wrong line types": json.dumps({
        "question_id": [1], "model": None, "games": "x", "model_1": 1, "model_2": None, "g1_winner": "tie",
        "g2_winner": "tie", "score": "9", "prompt": None, "response 1": 1, "response 2": [], "label": 1}) + "\n",
}


@pytest.mark.parametrize("case", sorted(IMPORT_FILES))
@pytest.mark.parametrize("fmt", FORMATS)
def test_malformed_import_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, case: str) -> None:
    path = tmp_path / "judgments.json"
    content = IMPORT_FILES[case]
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    line = assert_bad_input(*harness(capsys, "import", fmt, path, "--out", tmp_path / "out", "--baseline", "b")
                            if fmt in ("arena_hard",) else harness(capsys, "import", fmt, path, "--out", tmp_path / "out"))
    assert str(path) in line or "--baseline" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_import_of_a_directory_or_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    line = assert_bad_input(*harness(capsys, "import", fmt, tmp_path, "--out", tmp_path / "out"))
    # arena_hard takes Arena-Hard's folders (model_judgment/<judge>/): an empty one is named as such
    assert "no such file" in line or (fmt == "arena_hard" and "no .jsonl files in the folder" in line)
    assert "unknown import format" in assert_bad_input(*harness(capsys, "import", fmt + "x", tmp_path, "--out",
                                                                tmp_path / "out"))
