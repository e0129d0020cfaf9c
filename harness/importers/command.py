"""`harness import FORMAT PATH... --out DIR`."""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.importers.common import ImportedRun, screen
from harness.registry import Importer

if TYPE_CHECKING:
    from harness.plugins import LoadedPlugins

__all__ = ["Importer", "aggregate", "importers", "run_import"]


def importers() -> dict[str, Importer]:
    """Deprecated: format name -> reader, as the loaded plugins register them
    (`harness.registry.Registry.collect(manager).importers`)."""
    from harness.plugins import load_plugins
    from harness.registry import Registry

    warnings.warn("harness.importers.command.importers() is deprecated: importers are plugins now "
                  "(harness_register_importers); read Registry.collect(manager).importers",
                  DeprecationWarning, stacklevel=2)
    return Registry.collect(load_plugins().manager, only=("harness_register_importers",)).importers


def aggregate(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    """`harness aggregate` moved to the run layer: harness.running.recompute.aggregate_command."""
    from harness.running.recompute import aggregate_command

    return aggregate_command(args, plugins)


def call_importer(reader: Importer, name: str, paths: list[Path], baseline: str | None,
                  extras: dict[str, Any]) -> ImportedRun:
    """The reader's run; options beyond the baseline (--answers, --judge) only to a reader that
    takes them, else one BadInput naming the option."""
    if not extras:
        return reader(paths, baseline)
    taken = accepted_options(reader)
    for key in extras:
        if taken is not None and key not in taken:
            raise BadInput(f"--{key}: the {name} format does not take it")
    return reader(paths, baseline, **extras)


def accepted_options(function: Any) -> set[str] | None:
    """The keyword options a reader takes (None: any, it has **options)."""
    declared = getattr(function, "options", None)
    if declared is not None:
        return set(declared)
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is p.KEYWORD_ONLY}


def run_import(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    from harness.bulk_reads import bulk_read, large_files_read
    from harness.cli_output import print_run_result, report_completeness
    from harness.importers.writer import write_imported_run
    from harness.plugins import load_plugins
    from harness.registry import Registry

    plugins = plugins or load_plugins()
    reader = Registry.collect(plugins.manager, only=("harness_register_importers",)).importer(args.format)
    # a file named twice (overlapping shell globs) is read once: where ids are positions (autoj,
    # preference) its judgments would otherwise count twice, with no repeat left to screen
    given: dict[Path, Path] = {}
    twice: list[str] = []
    for path in map(Path, args.paths):
        if path.resolve() in given:
            twice.append(f"{given[path.resolve()]}: given twice; read once")
        else:
            given[path.resolve()] = path
    paths = list(given.values())
    extras = {key: value for key in ("answers", "judge") if (value := getattr(args, key, None))}
    if "answers" in extras:
        extras["answers"] = [Path(p) for p in extras["answers"]]
    # the files' verdicts: a million records, no cycle among them; the heap kept for the parses
    with bulk_read(), large_files_read([*paths, *extras.get("answers", [])]):
        run = call_importer(reader, args.format, paths, getattr(args, "baseline", None), extras)
    run.notes[:0] = twice
    screen(run)
    result = write_imported_run(run, args.out, plugins)
    # every note of the import (what was left out, what could not be written), where the user looks
    for notice in (result.manifest.get("import") or {}).get("notes") or []:
        print(f"harness: note: {notice}", file=sys.stderr)
    print_run_result(result)
    # as `harness aggregate` of the same run says: a model without a score, or all verdicts
    # invalid, are numbers that cannot stand (exit 1), said one line each
    return 1 if report_completeness(result.manifest) else 0
