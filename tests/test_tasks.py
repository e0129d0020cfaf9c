"""harness.tasks and the CLI's handling of bad task files.

Every malformed task file goes through the real `harness` CLI in a subprocess: exit code 2, one
line on stderr naming the file and the field, never a traceback. The subprocesses run
concurrently (each pays the interpreter and pandas start-up), once per module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.plugins import load_plugins
from harness.registry import Registry
from harness.tasks import find_task_files, load_task, read_task_file

DATA = [
    {"id": "q1", "instruction": "Say hi", "reference": "hi", "answers": {"m1": "hi", "m2": "hello there"}},
    {"id": "q2", "instruction": "Say bye", "category": "farewell", "answers": {"m1": "bye", "m2": "goodbye"}},
]
HEAD = "name: t\nprotocol: pairwise\ndataset:\n  path: data.jsonl\n"


def write_dataset(directory: Path) -> None:
    (directory / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in DATA), encoding="utf-8")


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HARNESS_DEBUG", None)
    return env


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=cli_env(),
        capture_output=True, text=True, timeout=120,
    )


@dataclass
class Case:
    name: str
    text: str | None  # the task file; None: do not write one
    fragments: tuple[str, ...]  # what stderr must mention besides the task file name
    extra_files: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    mentions_file: bool = True


#: Run through the `harness` CLI in a subprocess, exactly as a user would.
CLI_CASES = [
    Case("yaml_syntax", "name: t\nprotocol: pairwise: oops\ndataset:\n  path: data.jsonl\n",
         ("yaml_syntax.yaml:2:", "YAML syntax error")),
    Case("top_key", HEAD + "bogus: 1\n", ("bogus", "unknown key")),
    Case("option_key", HEAD + "options: {bogus: 1}\n", ("options.bogus", "unknown key")),
    Case("option_type", HEAD + 'options: {length_k: "abc"}\n', ("options.length_k", "integer")),
    Case("protocol", "name: t\nprotocol: nosuch\ndataset: {path: data.jsonl}\n",
         ("protocol", "'nosuch'", "pairwise")),
    Case("no_data", "name: t\nprotocol: pairwise\ndataset: {path: missing.jsonl}\n",
         ("dataset.path", "missing.jsonl")),
    Case("jinja_syntax", HEAD + "template: bad.jinja\n", ("bad.jinja", "syntax"),
         extra_files={"bad.jinja": "{% block user %}\n{{ answer_a }\n{% endblock %}\n"}),
    Case("undefined", HEAD + "template: undef.jinja\n", ("undef.jinja", "nosuch_var", "undefined"),
         extra_files={"undef.jinja": "{% block user %}{{ answer_a }} {{ nosuch_var }}{% endblock %}\n"}),
    Case("empty", "", ("empty",)),
    Case("a_list", "- name: t\n- protocol: pairwise\n", ("mapping",)),
    Case("baseline", HEAD + "options: {baselines: [nobody]}\n", ("options.baselines", "'nobody'")),
    Case("set_nodot", HEAD, ("--set", "nodot", "KEY=VALUE"), args=("--set", "nodot"), mentions_file=False),
]

#: More of the same through the CLI's `main()` in this process (each subprocess costs ~1.5 s).
IN_PROCESS_CASES = [
    Case("dataset_key", "name: t\nprotocol: pairwise\ndataset: {path: data.jsonl, colour: red}\n",
         ("dataset.colour", "unknown key")),
    Case("missing_field", "name: t\ndataset: {path: data.jsonl}\n", ("protocol", "missing")),
    Case("bad_name", "name: a/b\nprotocol: pairwise\ndataset: {path: data.jsonl}\n", ("name", "plain name")),
    Case("option_range", HEAD + "options: {length_k: -5}\n", ("options.length_k",)),
    Case("no_template", HEAD + "template: nowhere.jinja\n", ("template", "nowhere.jinja", "not found")),
    Case("comments_only", "# nothing but a comment\n", ("empty",)),
    Case("not_utf8", None, ("cannot read",), extra_files={}),
    Case("set_bad_value", HEAD, ("options.length_k",), args=("--set", "options.length_k=abc")),
    Case("set_unknown", HEAD, ("options.nope", "unknown key"), args=("--set", "options.nope=1")),
    Case("no_such_task", None, ("no such task file",)),
]


def prepare(case: Case, directory: Path) -> list[str]:
    write_dataset(directory)
    if case.text is not None:
        (directory / f"{case.name}.yaml").write_text(case.text, encoding="utf-8")
    if case.name == "not_utf8":
        (directory / f"{case.name}.yaml").write_bytes(b"name: \xff\xfe\xfa\n")
    for filename, text in case.extra_files.items():
        (directory / filename).write_text(text, encoding="utf-8")
    return ["run", f"{case.name}.yaml", "--no-progress", "--out", str(directory / "out"), *case.args]


def check_bad_input(case: Case, directory: Path, returncode: int, stdout: str, stderr: str) -> None:
    assert returncode == 2, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("harness: error: ")
    if case.mentions_file:
        assert f"{case.name}.yaml" in line
    for fragment in case.fragments:
        assert fragment in line, (fragment, line)
    # nothing was judged: bad input is caught before the run directory is made
    assert not (directory / "out").exists()


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    jobs = {}
    for case in CLI_CASES:
        directory = tmp_path_factory.mktemp(case.name)
        jobs[case.name] = (directory, prepare(case, directory))
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(run_cli, args, directory) for name, (directory, args) in jobs.items()}
        return {name: (jobs[name][0], future.result()) for name, future in futures.items()}


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_bad_task_file_subprocess(case: Case, cli_results) -> None:
    directory, result = cli_results[case.name]
    check_bad_input(case, directory, result.returncode, result.stdout, result.stderr)


@pytest.mark.parametrize("case", IN_PROCESS_CASES, ids=[c.name for c in IN_PROCESS_CASES])
def test_bad_task_file_main(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    args = prepare(case, tmp_path)
    code = main(args)
    captured = capsys.readouterr()
    check_bad_input(case, tmp_path, code, captured.out, captured.err)


# -- the valid counterpart, loaded in-process --------------------------------------------------


@pytest.fixture
def registry() -> Registry:
    return Registry.collect(load_plugins().manager)


@pytest.fixture
def task_dir(tmp_path: Path) -> Path:
    write_dataset(tmp_path)
    return tmp_path


def test_load_valid_task(task_dir: Path, registry: Registry) -> None:
    path = task_dir / "good.yaml"
    path.write_text(
        "name: good\ndescription: a small task\nprotocol: pairwise\njudge: openai:gpt-4o\n"
        "dataset:\n  path: data.jsonl\noptions:\n  baselines: [m1]\n  length_k: 300\n  verdict_format: labels\n",
        encoding="utf-8",
    )
    loaded = load_task(path, registry)
    assert loaded.spec.name == "good" and loaded.spec.description == "a small task"
    assert loaded.spec.judge == "openai:gpt-4o"
    assert loaded.spec.template is None
    assert loaded.kind.name == "pairwise"
    assert loaded.config.baselines == ["m1"]
    assert loaded.config.length_k == 300
    assert loaded.config.verdict_format == "labels"
    assert loaded.config.reasoning is True  # a default of the protocol's config model
    assert [i.id for i in loaded.items] == ["q1", "q2"]
    assert loaded.items[0].answers == DATA[0]["answers"]
    assert loaded.items[0].reference == "hi" and loaded.items[1].category == "farewell"
    assert loaded.task.items is loaded.items and loaded.task.config is loaded.config
    assert loaded.task.prompts.template_name == "pairwise.jinja"  # the protocol's default
    assert loaded.task.pairs == [("m2", "m1")]


def test_load_with_limit_and_model_selection(task_dir: Path, registry: Registry) -> None:
    path = task_dir / "good.yaml"
    path.write_text("name: g\nprotocol: pairwise\ndataset: {path: data.jsonl, models: [m2, m1]}\n", encoding="utf-8")
    loaded = load_task(path, registry, limit=1)
    assert [i.id for i in loaded.items] == ["q1"]
    assert list(loaded.items[0].answers) == ["m2", "m1"]
    with pytest.raises(BadInput, match="--limit"):
        load_task(path, registry, limit=0)


def test_set_override_accepted(task_dir: Path, registry: Registry) -> None:
    path = task_dir / "good.yaml"
    path.write_text(HEAD + "options:\n  length_k: 10\n", encoding="utf-8")
    spec = read_task_file(path, ["options.length_k=500"])
    assert spec.options == {"length_k": 500}
    spec = read_task_file(path, ["options.baselines=[m2]", "judge=openai:gpt-4o", "dataset.models=[m1, m2]"])
    assert spec.options == {"length_k": 10, "baselines": ["m2"]}
    assert spec.judge == "openai:gpt-4o"
    assert spec.dataset.models == ["m1", "m2"] and spec.dataset.path == "data.jsonl"
    loaded = load_task(path, registry, overrides=["options.length_k=500", "options.soft=true"])
    assert loaded.config.length_k == 500 and loaded.config.soft is True
    # the file itself is untouched
    assert read_task_file(path).options == {"length_k": 10}


def test_set_override_creates_missing_sections(task_dir: Path) -> None:
    path = task_dir / "good.yaml"
    path.write_text(HEAD, encoding="utf-8")
    assert read_task_file(path, ["options.length_k=7"]).options == {"length_k": 7}


def test_set_override_fills_an_empty_section(task_dir: Path) -> None:
    path = task_dir / "good.yaml"
    path.write_text(HEAD + "options:\n", encoding="utf-8")  # `options:` with nothing under it is null
    assert read_task_file(path, ["options.length_k=7"]).options == {"length_k": 7}


@pytest.mark.parametrize("override", ["nodot", "=5", "name.x=1"])
def test_set_override_rejected(task_dir: Path, override: str) -> None:
    path = task_dir / "good.yaml"
    path.write_text(HEAD, encoding="utf-8")
    with pytest.raises(BadInput) as info:
        read_task_file(path, [override])
    assert "--set" in str(info.value) and override in str(info.value)


def test_custom_template_next_to_task_file(task_dir: Path, registry: Registry) -> None:
    (task_dir / "mine.jinja").write_text("Compare {{ answer_a | fence('answer_a') }} and {{ answer_b }}.\n",
                                         encoding="utf-8")
    path = task_dir / "good.yaml"
    path.write_text(HEAD + "template: mine.jinja\noptions: {baselines: [m1]}\n", encoding="utf-8")
    loaded = load_task(path, registry)
    requests = loaded.task.build_requests()
    assert len(requests) == 4  # two items, one pair, both orders
    first = requests[0]
    assert [m.role for m in first.messages] == ["user"]
    assert first.messages[0].content.startswith("Compare <answer_a_")
    assert first.messages[0].content.endswith(f" and {DATA[0]['answers'][first.meta['model_b']]}.")


def test_bad_input_in_process_mentions_file(task_dir: Path, registry: Registry) -> None:
    path = task_dir / "bad.yaml"
    path.write_text(HEAD + "options: {strong_weight: 0}\n", encoding="utf-8")
    with pytest.raises(BadInput) as info:
        load_task(path, registry)
    assert "bad.yaml" in str(info.value) and "options.strong_weight" in str(info.value)


def test_find_task_files(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yaml", "c.yml", "notes.txt"):
        (tmp_path / name).write_text("x: 1\n", encoding="utf-8")
    assert [p.name for p in find_task_files(tmp_path)] == ["a.yaml", "b.yaml", "c.yml"]


def test_tasks_command_lists_valid_and_marks_invalid(tmp_path: Path) -> None:
    write_dataset(tmp_path)
    (tmp_path / "good.yaml").write_text("name: goodtask\nprotocol: pairwise\ndataset: {path: data.jsonl}\n"
                                        "description: 'fine [bold]x[/bold] [/oops]'\n", encoding="utf-8")
    (tmp_path / "other.yaml").write_text("name: othertask\nprotocol: nosuch\ndataset: {path: data.jsonl}\n",
                                         encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    (tmp_path / "extra.yaml").write_text(HEAD + "bogus: 1\n", encoding="utf-8")
    result = run_cli(["tasks", str(tmp_path)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].endswith(".yaml"):
            rows[cells[0]] = cells
    assert set(rows) == {"good.yaml", "other.yaml", "broken.yaml", "extra.yaml"}
    assert rows["good.yaml"][1:3] == ["goodtask", "pairwise"]
    assert "invalid" not in rows["good.yaml"][-1]
    assert rows["good.yaml"][-1] == "fine [bold]x[/bold] [/oops]"  # user text, not rich markup
    assert rows["other.yaml"][2].startswith("nosuch") and "not loaded" in result.stdout
    assert rows["broken.yaml"][-1].startswith("invalid")
    assert rows["extra.yaml"][-1].startswith("invalid") and "bogus" in rows["extra.yaml"][-1]



def test_tasks_command_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["tasks", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope" in err and "Traceback" not in err


def test_tasks_command_outside_the_repository(tmp_path: Path) -> None:
    """Issue 19: `harness tasks` with no directory, where there is no ./tasks, lists the current
    directory's task files (and says so when there are none) instead of failing."""
    result = run_cli(["tasks"], cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "no task files" in result.stdout and "harness tasks DIR" in result.stdout
    write_dataset(tmp_path)
    (tmp_path / "mine.yaml").write_text("name: minetask\nprotocol: pairwise\ndataset: {path: data.jsonl}\n",
                                        encoding="utf-8")
    result = run_cli(["tasks"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "mine.yaml" in result.stdout and "minetask" in result.stdout
