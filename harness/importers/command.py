"""`harness import FORMAT PATH... --out DIR`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import BadInput
from harness.importers.common import ImportedRun, screen

if TYPE_CHECKING:
    from harness.plugins import LoadedPlugins

Importer = Callable[[list[Path], "str | None"], ImportedRun]


def importers() -> dict[str, Importer]:
    """Format name -> reader; each module is imported only when its format is used."""
    from harness.importers.alpaca_eval import import_alpaca_eval
    from harness.importers.arena import import_arena
    from harness.importers.arena_hard import import_arena_hard
    from harness.importers.autoj import import_autoj
    from harness.importers.labels import import_labels
    from harness.importers.mt_bench import import_mt_bench
    from harness.importers.mt_bench_human import import_mt_bench_human
    from harness.importers.preference import import_preference
    from harness.importers.wildbench import import_wildbench

    return {
        "alpaca_eval": import_alpaca_eval, "arena_hard": import_arena_hard, "wildbench": import_wildbench,
        "mt_bench": import_mt_bench, "autoj": import_autoj,
        # human labels
        "labels": import_labels, "mt_bench_human": import_mt_bench_human, "arena": import_arena,
        "preference": import_preference,
    }


def run_import(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    from harness.commands import print_run_result
    from harness.importers.writer import write_imported_run

    known = importers()
    if args.format not in known:
        raise BadInput(f"unknown import format {args.format!r} (known: {', '.join(sorted(known))})")
    paths = [Path(p) for p in args.paths]
    run = known[args.format](paths, getattr(args, "baseline", None))
    for notice in screen(run):
        print(f"harness: note: {notice}", file=sys.stderr)
    result = write_imported_run(run, args.out, plugins)
    print_run_result(result)
    return 0
