"""Fixtures for people who write harness plugins (loaded by pytest through the `pytest11` entry point).

- `harness_judge_server`: a `ScriptedJudge`, a real OpenAI-compatible server on loopback whose
  answers the test scripts by prompt content (`.when(needle, answer)`, `.otherwise(answer)`).
- `harness_run_dir`: a fresh, not yet created run directory under the test's tmp_path.
- `harness_run_task`: writes a dataset and a task file, runs it against the scripted judge (or
  any judge spec) through the real runner, and returns `harness.api.LoadedRun`.

Every name starts with `harness_` so it cannot clash with a project's own fixtures. This module
is imported in every pytest session of an environment where harness-eval is installed, so it
imports nothing from the harness until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.store import LoadedRun
    from harness.testing.scripted import ScriptedJudge


@pytest.fixture
def harness_judge_server() -> Iterator[ScriptedJudge]:
    """A scripted judge on loopback; `.judge` is its spec, `.base_url` its URL, `.prompts` what it saw."""
    from harness.testing.scripted import ScriptedJudge

    judge = ScriptedJudge()
    try:
        yield judge
    finally:
        judge.close()


@pytest.fixture
def harness_run_dir(tmp_path: Path) -> Path:
    """Where a run writes (created by the run itself)."""
    return tmp_path / "run"


@pytest.fixture
def harness_run_task(request: pytest.FixtureRequest, tmp_path: Path, harness_run_dir: Path) -> Callable[..., LoadedRun]:
    """`harness_run_task(protocol, rows, *, options, judge, base_url, out, name, plugins, blocked,
    autoload, overrides, files)` -> `harness.api.LoadedRun`: writes the rows and a task file, runs
    it against `harness_judge_server` (unless `judge` is given) and reads the run back. Each call
    of a test runs in a directory of its own: the first in `harness_run_dir`, then `run-2`, ..."""
    calls: list[str] = []

    def run(
        protocol: str,
        rows: list[dict[str, Any]],
        *,
        options: dict[str, Any] | None = None,
        judge: str | None = None,
        base_url: str | None = None,
        out: Path | None = None,
        name: str = "plugin-test",
        plugins: Sequence[Any] = (),
        blocked: Sequence[str] = (),
        autoload: bool | None = None,
        overrides: Sequence[str] = (),
        files: dict[str, str] | None = None,
    ) -> LoadedRun:
        """Run `rows` (dataset records) under `protocol` and read the run directory back.

        Without `judge`, the scripted `harness_judge_server` answers. `plugins`: plugin objects
        registered directly (a module or class with @hookimpl functions), so a plugin can be
        tested before it is packaged. `files`: name -> text written next to the task file (a
        template, a rubric library), used with `overrides` such as `["template=mine.jinja"]`.
        The judgment cache is off, so scripted answers are never replaced by an earlier test's.
        """
        from harness.plugins import load_plugins
        from harness.running.execute import run_task
        from harness.running.options import RunOptions
        from harness.store import load_run  # no IncompleteRunWarning: a test checks `.complete` itself
        from harness.testing.tasks import write_task

        if judge is None:
            server = request.getfixturevalue("harness_judge_server")
            judge, base_url = server.judge, base_url or server.base_url
        task_dir = Path(tmp_path) / f"task-{name}"
        task_dir.mkdir(parents=True, exist_ok=True)
        for file_name, text in (files or {}).items():
            (task_dir / file_name).write_text(text, encoding="utf-8")
        task = write_task(task_dir, name=name, protocol=protocol, rows=rows, judge=judge, options=options)
        loaded = load_plugins(blocked=tuple(blocked), extra=tuple(plugins), autoload=autoload)
        failures = [f"{p.name}: {p.error}" for p in loaded.failures]
        if failures:
            raise AssertionError("plugins failed to load: " + "; ".join(failures))
        if out is None:  # the first run in `harness_run_dir`, each later one of the test in a fresh one
            calls.append(name)  # (the same directory resumed the first run: its verdicts, not the new script's)
            out = harness_run_dir if len(calls) == 1 else harness_run_dir.with_name(f"{harness_run_dir.name}-{len(calls)}")
        options_ = RunOptions(judge=judge, base_url=base_url, out=out, progress=False,
                              cache=False, overrides=tuple(overrides))
        result = run_task(task, options_, loaded)
        return load_run(result.directory)

    return run
