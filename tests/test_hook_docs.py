"""Meta-tests: every hookspec is documented in docs/plugins.md with its real signature, and every
hookspec is implemented by a plugin defined in a test module that runs it. A new hook added
without documentation or a test fails here."""

from __future__ import annotations

import ast
import functools
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from harness import hookspecs

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "plugins.md"
TESTS = REPO / "tests"

SPECS = {name: fn for name, fn in vars(hookspecs).items() if inspect.isfunction(fn) and hasattr(fn, "harness_spec")}


def spec_arguments(name: str) -> list[str]:
    return list(inspect.signature(SPECS[name]).parameters)


def documented_signatures(text: str, name: str) -> list[list[str]]:
    """Argument names of every `name(...)` written in the guide (headings and code blocks)."""
    found = []
    for match in re.finditer(rf"\b{name}\(([^)]*)\)", text):
        args = [part.split(":")[0].split("=")[0].strip() for part in match.group(1).split(",")]
        found.append([a for a in args if a])
    return found


def test_there_are_hooks_to_check() -> None:
    assert {"harness_register_task_kinds", "harness_register_metrics", "harness_register_reporters",
            "harness_run_finished"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_is_documented_with_its_signature(name: str) -> None:
    text = DOCS.read_text(encoding="utf-8")
    headings = re.findall(r"^#{2,4} .*$", text, re.M)
    assert any(name in h for h in headings), f"docs/plugins.md has no heading for {name}"
    signatures = documented_signatures(text, name)
    assert spec_arguments(name) in signatures, (
        f"docs/plugins.md never writes {name}({', '.join(spec_arguments(name))}); found {signatures}"
    )


def test_guide_documents_no_hook_that_does_not_exist() -> None:
    text = DOCS.read_text(encoding="utf-8")
    headed = set(re.findall(r"^#{2,4} `(harness_\w+)\(", text, re.M))
    assert headed == set(SPECS)


def test_guide_python_examples_compile() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= len(SPECS)
    for block in blocks:
        compile(block, str(DOCS), "exec")


@functools.cache
def implementations_in_tests() -> dict[str, set[str]]:
    """Hook name -> test modules that define a function of that name and contain tests.

    Plugin code held in strings (written to disk by the test, then loaded) counts too: those
    strings are parsed as Python and searched the same way.
    """
    found: dict[str, set[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        trees = [tree] + [_parsed(node.value) for node in ast.walk(tree)
                          if isinstance(node, ast.Constant) and isinstance(node.value, str) and "def harness_" in node.value]
        has_tests = any(isinstance(n, ast.FunctionDef) and n.name.startswith("test_") for n in ast.walk(tree))
        for sub in trees:
            for node in ast.walk(sub):
                if isinstance(node, ast.FunctionDef) and node.name in SPECS and has_tests:
                    found.setdefault(node.name, set()).add(str(path.relative_to(REPO)))
    return found


def _parsed(source: str) -> ast.AST:
    """A string holding plugin source as a module; any other string as an empty one."""
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_has_a_test(name: str) -> None:
    assert name in implementations_in_tests(), f"no test module implements {name}"


def test_the_example_package_exercised_by_a_test_implements_new_hooks() -> None:
    """The example package is the documented model for the newer hooks, and a test runs it."""
    source = (REPO / "plugins" / "answer_match" / "harness_answer_match" / "__init__.py").read_text()
    tree = ast.parse(source)
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in SPECS}
    assert {"harness_register_task_kinds", "harness_register_metrics", "harness_register_reporters",
            "harness_register_importers", "harness_register_commands"} <= defined
    assert "harness_answer_match" in (TESTS / "test_plugin_ecosystem.py").read_text()


def test_guide_lists_every_statistics_module() -> None:
    """docs/plugins.md's table of harness.stats is the package's public surface: every public
    module once, and the * marks exactly the modules the package re-exports from."""
    import harness.stats

    text = DOCS.read_text(encoding="utf-8").split("## Adding a statistic", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| `(\w+)`( \*)? \|", text, re.M))
    modules = {p.stem for p in (REPO / "harness" / "stats").glob("*.py") if not p.stem.startswith("_")}
    assert set(rows) == modules
    things = [getattr(harness.stats, name) for name in harness.stats.__all__]
    exported = {thing.__module__.rsplit(".", 1)[1] for thing in things if hasattr(thing, "__module__")}
    assert {name for name, star in rows.items() if star} == exported
