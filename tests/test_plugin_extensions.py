"""Import formats and subcommands from plugins (harness_register_importers,
harness_register_commands): a third-party distribution on sys.path, found through its entry
point, adds `harness import FORMAT` and `harness NAME`, listed in --help and held to the exit-code
contract; the built-in importers register through the same hook.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from harness.cli import main
from harness.plugins import DISABLE_AUTOLOAD_ENV, load_plugins
from harness.registry import Registry
from tests.test_plugins import make_distribution

TOOLS = """
import argparse

from harness.errors import BadInput
from harness.hookspecs import hookimpl
from harness.registry import Command


def read_scores(paths, baseline):
    \"\"\"item<TAB>model<TAB>score lines from another grader\"\"\"
    from harness.importers.common import ImportedRun, rubric_verdict

    verdicts = []
    for path in paths:
        for line in path.read_text().splitlines():
            item, model, score = line.split("\\t")
            verdicts.append(rubric_verdict("tsv_scores", item_id=item, model=model, score=float(score), judge="grader"))
    return ImportedRun(format="tsv_scores", name="tsv", protocol="rubric", config={"preset": "mt_bench"},
                       judge="grader", verdicts=verdicts, sources=[str(p) for p in paths])


def vet_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN")
    parser.add_argument("--min", type=int, required=True)


def vet(args, plugins):
    print(f"vet {args.run_dir} min={args.min} plugins={len(plugins.plugins)}")
    return 1 if args.min > 5 else 0


def refuse(args, plugins):
    raise BadInput("refuse: nothing to audit here")


def explode(args, plugins):
    raise RuntimeError("boom")


@hookimpl
def harness_register_importers(register):
    register("tsv_scores", read_scores)


@hookimpl
def harness_register_commands(register):
    register("vet", Command(run=vet, add_arguments=vet_arguments, help="vet a run directory"))
    register("refuse", Command(run=refuse, help="always refuses"))
    register("explode", Command(run=explode, help="always crashes"))
    register("quiet", Command(run=lambda args, plugins: None))
"""

CLASH = """
from harness.hookspecs import hookimpl
from harness.registry import Command


@hookimpl
def harness_register_commands(register):
    register("run", Command(run=lambda args, plugins: 0, help="not the real run"))
"""

NOT_A_COMMAND = """
from harness.hookspecs import hookimpl


@hookimpl
def harness_register_commands(register):
    register("loose", lambda args, plugins: 0)
"""

SITES = {
    "tools": ("harness-tools", "hx_tools", TOOLS),
    "clash": ("harness-clash", "hx_clash", CLASH),
    "loose": ("harness-loose", "hx_loose", NOT_A_COMMAND),
}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """The named distribution installed on sys.path, as pip would leave it."""
    distribution, module, source = SITES[request.param]
    path = make_distribution(tmp_path / "site", distribution, {request.param: module}, {module: source})
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.delenv("HARNESS_DEBUG", raising=False)
    monkeypatch.syspath_prepend(str(path))
    monkeypatch.chdir(tmp_path)
    yield path
    import sys

    sys.modules.pop(module, None)


def harness(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help, or bad arguments
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("site", ["tools"], indirect=True)
def test_plugin_subcommand_is_listed_parsed_and_run(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = harness(["--help"], capsys)
    assert code == 0
    assert "vet" in out and "vet a run directory (plugin tools)" in " ".join(out.split())
    code, out, err = harness(["vet", "runs/x", "--min", "3"], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("vet runs/x min=3 plugins=")
    assert harness(["vet", "runs/x", "--min", "7"], capsys)[0] == 1  # its own exit code
    assert harness(["quiet"], capsys)[:2] == (0, "")  # None counts as 0


@pytest.mark.parametrize("site", ["tools"], indirect=True)
def test_plugin_subcommand_follows_the_exit_code_contract(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = harness(["vet", "runs/x", "--min", "three"], capsys)
    assert code == 2 and "harness vet: error: argument --min: invalid int value: 'three'" in err
    code, _, err = harness(["vet"], capsys)
    assert code == 2 and "the following arguments are required: RUN, --min" in err
    code, _, err = harness(["refuse"], capsys)
    assert (code, one_line(err)) == (2, "harness: error: refuse: nothing to audit here")
    code, _, err = harness(["explode"], capsys)
    line = one_line(err)
    assert code == 1 and "plugin 'tools' command 'explode' failed: RuntimeError: boom" in line
    assert "--block-plugin tools" in line
    code, _, err = harness(["--block-plugin", "tools", "vet", "runs/x", "--min", "1"], capsys)
    assert code == 2 and "invalid choice: 'vet'" in err


@pytest.mark.parametrize("site", ["clash"], indirect=True)
def test_a_plugin_cannot_take_a_builtin_subcommand(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = harness(["tasks"], capsys)
    assert code == 2
    assert one_line(err) == ("harness: error: plugin 'clash' registers the command 'run', a built-in subcommand "
                             "(skip it with --block-plugin clash)")
    assert harness(["--block-plugin", "clash", "tasks"], capsys)[0] == 0


@pytest.mark.parametrize("site", ["loose"], indirect=True)
def test_a_command_must_be_a_command_object(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = harness(["--help"], capsys)
    assert code == 2
    assert "registers the command 'loose' as function, not a harness.registry.Command" in one_line(err)


@pytest.mark.parametrize("site", ["tools"], indirect=True)
def test_plugin_import_format(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = harness(["import", "--help"], capsys)
    assert code == 0 and "tsv_scores      [tools] item<TAB>model<TAB>score lines from another grader" in out
    assert "alpaca_eval     [importers]" in out  # the built-ins, through the same hook
    source = tmp_path / "grades.tsv"
    rows = [("q1", "ada", 8), ("q2", "ada", 6), ("q1", "bob", 3), ("q2", "bob", 5)]
    source.write_text("".join(f"{i}\t{m}\t{s}\n" for i, m, s in rows))
    code, _, err = harness(["import", "tsv_scores", str(source), "--out", "imported"], capsys)
    assert code == 0, err
    with (tmp_path / "imported" / "scores.csv").open(newline="") as handle:
        scores = {row["model"]: float(row["score"]) for row in csv.DictReader(handle)}
    assert scores == {"ada": pytest.approx(7.0), "bob": pytest.approx(4.0)}  # the mean of each model's scores
    code, _, err = harness(["--block-plugin", "tools", "import", "tsv_scores", str(source), "--out", "again"], capsys)
    assert code == 2 and one_line(err).startswith("harness: error: unknown import format 'tsv_scores' (known: alpaca_eval,")
    assert not (tmp_path / "again").exists()


def test_builtin_importers_register_like_third_party_ones() -> None:
    """The nine built-in formats come from the `importers` entry point of harness-eval itself."""
    registry = Registry.collect(load_plugins(autoload=False).manager)
    assert {registry.owner("importer", name) for name in registry.importers} == {"importers"}
    assert set(registry.importers) == {"alpaca_eval", "arena_hard", "wildbench", "mt_bench", "autoj", "labels",
                                       "mt_bench_human", "arena", "preference"}
    blocked = Registry.collect(load_plugins(autoload=False, blocked=["importers"]).manager)
    assert blocked.importers == {}


def test_deprecated_names_still_work() -> None:
    import sys

    sys.modules.pop("harness.commands", None)  # an alias imported earlier would not warn again
    with pytest.warns(DeprecationWarning, match="harness.cli_output"):
        from harness.commands import print_run_result
    from harness.cli_output import print_run_result as current

    assert print_run_result is current
    from harness.importers import command

    with pytest.warns(DeprecationWarning, match="harness_register_importers"):
        assert "alpaca_eval" in command.importers()
