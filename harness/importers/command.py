"""`harness import FORMAT PATH... --out DIR`."""

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
    """`harness aggregate` moved to the run layer: harness.running.recompute.aggregate_command."""
    from harness.running.recompute import aggregate_command

    return aggregate_command(args, plugins)


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
