"""`harness aggregate RUN` and `harness import FORMAT PATH... --out DIR`."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from harness.importers.common import screen
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
    from harness.cli_output import print_run_result, report_completeness
    from harness.importers.aggregation import recompute
    from harness.plugins import load_plugins

    plugins = plugins or load_plugins()
    result = recompute(args.run_dir, tuple(getattr(args, "overrides", ()) or ()), plugins,
                       calibration=getattr(args, "calibration", None),
                       force_calibration=bool(getattr(args, "force_calibration", False)))
    plugins.manager.run_finished(result)  # as after `harness run`: the directory's files are rewritten
    print_run_result(result)
    unusable = report_completeness(result.manifest)
    counts = result.manifest.get("counts", {})
    missing = int(counts.get("failed", 0)) + int(counts.get("pending", 0))
    if missing:  # the numbers are recomputed, and as incomplete as the run: say so, exit 1
        print(f"harness: incomplete: {missing} of {result.manifest.get('requests', '?')} requests have no verdict "
              f"({counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed); the numbers leave them out; "
              f"`harness run` with --out {result.directory} judges them", file=sys.stderr)
    return 1 if missing or unusable else 0


def run_import(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    from harness.cli_output import print_run_result
    from harness.importers.writer import write_imported_run
    from harness.plugins import load_plugins
    from harness.registry import Registry

    plugins = plugins or load_plugins()
    reader = Registry.collect(plugins.manager, only=("harness_register_importers",)).importer(args.format)
    paths = [Path(p) for p in args.paths]
    run = reader(paths, getattr(args, "baseline", None))
    for notice in screen(run):
        print(f"harness: note: {notice}", file=sys.stderr)
    result = write_imported_run(run, args.out, plugins)
    print_run_result(result)
    return 0
