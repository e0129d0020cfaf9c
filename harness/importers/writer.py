"""Write an imported run directory all at once: built in a temporary sibling folder, aggregated
there, then renamed into place, so a failed import never leaves a half-written --out and an
existing run is never mixed with imported verdicts."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import __version__
from harness.bulk_reads import release_free_memory
from harness.by_category import SCORES_BY_CATEGORY_FILE
from harness.errors import BadInput
from harness.importers.common import ImportedRun
from harness.importers.dataset_files import with_dataset
from harness.importers.item_texts import DATASET_FILE, TASK_FILE
from harness.plugins import LoadedPlugins
from harness.running.completeness import models_named
from harness.running.recompute import recompute
from harness.running.result import RunResult
from harness.stats.memo import MEMO_DIR
from harness.store import (
    LOCK_FILE,
    MANIFEST_FILE,
    RANKING_FILE,
    SCORES_FILE,
    STORE_FILE,
    VERDICTS_FILE,
    write_export,
)


def write_imported_run(run: ImportedRun, out: str | Path, plugins: LoadedPlugins | None = None) -> RunResult:
    target = Path(out)
    _check_target(target, run)
    if run.texts is not None:
        run = with_dataset(run, run.texts)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.import-", dir=target.parent))
    try:
        with (staging / STORE_FILE).open("wb") as store:
            write_export(store, run.verdicts)
        for name, text in run.extra_files.items():
            with (staging / name).open("wb") as handle:
                handle.writelines(_utf8([text] if isinstance(text, str) else text()))
        if run.texts is not None:  # written: the answers' text is not held through the aggregation
            run.texts.rows.clear()
        run = replace(run, extra_files={}, texts=None)
        release_free_memory()  # nor the pages it was in
        (staging / MANIFEST_FILE).write_text(json.dumps(_manifest(run), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        try:
            result = recompute(staging, plugins=plugins, written=run.verdicts)
        except BadInput as exc:  # name the --out the user gave, not the staging folder deleted below
            raise BadInput(str(exc).replace(str(staging / MANIFEST_FILE), "the imported run")
                           .replace(str(staging), str(target))) from None
        (staging / ".lock").unlink(missing_ok=True)
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    loaded = result.loaded
    if loaded.path == staging / MANIFEST_FILE:  # an import names no task file: its run.json stands in
        loaded = replace(loaded, path=target / MANIFEST_FILE)
    return replace(result, directory=target, loaded=loaded)


def _utf8(pieces: Iterable[str | bytes]) -> Iterator[bytes]:
    """A file's pieces as UTF-8 bytes (bytes as they are)."""
    for piece in pieces:
        yield piece if isinstance(piece, bytes) else piece.encode("utf-8")


def _check_target(target: Path, run: ImportedRun) -> None:
    """Only an empty folder or an earlier import of the same files in the same format is replaced."""
    if not target.exists():
        return
    if not target.is_dir():
        raise BadInput(f"--out {target}: exists and is not a directory")
    if not any(target.iterdir()):
        return
    try:
        manifest = json.loads((target / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    previous = manifest.get("import") if isinstance(manifest, dict) else None
    if not isinstance(previous, dict) or previous.get("format") != run.format or previous.get("sources") != run.sources:
        raise BadInput(
            f"--out {target}: not empty and not an earlier import of the same files; choose another --out"
        )
    # the new import replaces the folder: whatever it would not write again (a note, a nested run,
    # an applied calibration) is the user's, and never deleted without a word
    foreign = sorted(entry.name for entry in target.iterdir() if not _rewritten(entry.name, run))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise BadInput(f"--out {target}: an earlier import of the same files, but it also holds {shown}, which the "
                       "import would delete; move them away or choose another --out")


#: What an import (with its aggregation) writes, what `harness report` writes from it (derived
#: from the numbers the new import replaces, so removed with them), and the process's own files.
REWRITTEN = frozenset({STORE_FILE, MANIFEST_FILE, VERDICTS_FILE, SCORES_FILE, RANKING_FILE, SCORES_BY_CATEGORY_FILE,
                       DATASET_FILE, TASK_FILE, LOCK_FILE, MEMO_DIR, "report.html", "report.md"})


def _rewritten(name: str, run: ImportedRun) -> bool:
    """Whether a file of an earlier import's folder is one the new import writes or replaces."""
    return (name in REWRITTEN or name in run.extra_files or name == run.dataset_file
            or (name.startswith("report_") and name.endswith(".csv")))


def _swap_into_place(staging: Path, target: Path) -> None:
    if target.exists():
        retired = target.with_name(f".{target.name}.replaced")
        shutil.rmtree(retired, ignore_errors=True)
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)


def _manifest(run: ImportedRun) -> dict[str, Any]:
    models = sorted({m for v in run.verdicts for m in models_named(v.data)} | set(run.unjudged_models))
    return {
        "harness_version": __version__,
        "name": run.name,
        "task": {
            "name": run.name,
            "protocol": run.protocol,
            "dataset": {"path": run.dataset_file or "(none: imported judgments)"},
            "judge": f"imported:{run.judge}",
            "options": run.config,
            "description": f"judgments imported from {run.format}",
        },
        "protocol": {"name": run.protocol, "version": "imported", "config": run.config},
        "judge": {"spec": {"backend": "imported", "model": run.judge}, "original": run.judge},
        "import": {
            "format": run.format,
            "sources": run.sources,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "notes": run.notes,
        },
        "dataset": {"items": len({v.item_id for v in run.verdicts}), "models": models},
        "requests": len(run.verdicts),
        "status": "finished",
    }
