"""Run the report writers plugins registered (`harness_register_reporters`) for one run.

`harness report` calls `run_reporters` after writing its own files, so a third-party report
lands next to report.html. A reporter that fails, or claims a file it did not write, is named,
so the user can block it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.registry import Registry
    from harness.store import LoadedRun


def run_reporters(registry: Registry, run: LoadedRun, out_dir: Path) -> list[Path]:
    """Every registered reporter on `run`, in registration order; the files they wrote."""
    written: list[Path] = []
    for name, reporter in registry.reporters.items():
        where = f"reporter {name!r} of plugin {registry.owner('reporter', name)!r}"
        try:
            paths = reporter(run, out_dir)
        except BadInput:
            raise
        except Exception as exc:
            raise BadInput(f"{where} failed: {type(exc).__name__}: {exc} (skip it with --block-plugin NAME)") from None
        if not isinstance(paths, (list, tuple)):
            raise BadInput(f"{where} returned {type(paths).__name__}, not a list of paths")
        for path in map(Path, paths):
            if not path.is_file():
                raise BadInput(f"{where} lists {path}, which it did not write")
            written.append(path)
    return written
