"""harness: an LLM-as-judge evaluation harness.

The notebook API is as thin as the CLI: `harness.run(task, judge=...)` runs a task and
`harness.load_run(dir)` reads a run directory back as DataFrames. Plugin authors mark their hook
functions with `harness.hookimpl`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from harness import moved_modules
from harness.hookspecs import hookimpl

moved_modules.install()

if TYPE_CHECKING:
    from harness.store import LoadedRun


def run(task: str, **kwargs: Any) -> LoadedRun:
    """Run (or resume) a task file; see `harness.api.run` for the arguments."""
    from harness.api import run as _run

    return _run(task, **kwargs)


def load_run(path: str) -> LoadedRun:
    """Read a run directory: `.verdicts`, `.scores`, `.ranking`, `.manifest`; `.complete`,
    `.problems`, `.pending`, `.failed` say whether its numbers are final (a warning when not)."""
    from harness.api import load_run as _load_run

    return _load_run(path)


__all__ = ["__version__", "hookimpl", "run", "load_run"]
