"""The wheel users install: prompts inside it, built-ins as entry points, no top-level `plugins`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy without the checkout's build/ folder, whose leftovers setuptools would
    # ship and so hide a package missing from pyproject's list
    source = tmp_path_factory.mktemp("source") / "harness"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", "results", "bench"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (path,) = out.glob("harness_eval-*.whl")
    return zipfile.ZipFile(path)


def test_default_prompts_and_rubric_library_ship_inside_the_wheel(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    shipped = [*(REPO / "prompts").glob("*.jinja"), REPO / "prompts" / "rubrics.yaml"]
    assert len(shipped) > 2
    for path in shipped:
        assert f"harness_prompts/{path.name}" in names


def test_no_top_level_plugins_package(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    assert "plugins" not in top_level
    assert {"harness", "harness_plugins", "harness_prompts"} <= top_level
    assert "harness_answer_match" not in top_level  # the example plugin is its own distribution


def test_builtins_are_entry_points_of_the_harness_group(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    section = text.split("[harness]", 1)[1].split("\n[", 1)[0]
    for protocol in ("pairwise", "rubric", "checklist"):
        assert f"{protocol} = harness_plugins.{protocol}" in section
    assert "judges = harness.judges.builtin" in section
    assert "importers = harness.importers.builtin" in section  # the import formats are a plugin too
    assert "harness = harness.cli:main" in text


def test_every_module_of_the_source_tree_ships_in_the_wheel(wheel: zipfile.ZipFile) -> None:
    """A package left out of pyproject's list imports in a checkout (and an editable install) and
    is missing from the wheel: `harness` then fails for everyone who installs it from PyPI."""
    names = set(wheel.namelist())
    sources = [(f"harness/{p.relative_to(REPO / 'harness')}", p) for p in (REPO / "harness").rglob("*.py")]
    for plugin in ("pairwise", "rubric", "checklist", "listwise"):
        sources += [(f"harness_plugins/{plugin}/{p.name}", p) for p in (REPO / "plugins" / plugin).glob("*.py")]
    assert len(sources) > 200
    missing = sorted(name for name, _ in sources if name not in names)
    assert not missing, f"{len(missing)} modules not in the wheel, e.g. {missing[:5]}"
