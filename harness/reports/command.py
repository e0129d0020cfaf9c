"""The `report` and `compare` subcommands: check arguments, build, print where the files went."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.plugins import LoadedPlugins
    from harness.registry import Registry


def _formats(args: argparse.Namespace) -> tuple[str, ...]:
    from harness.reports.report import FORMATS

    chosen = tuple(dict.fromkeys(getattr(args, "formats", None) or FORMATS))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown:
        raise BadInput(f"--format {unknown[0]!r}: choose html, md or csv")
    return chosen


def report(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    """The built-in formats, then every reporter a plugin registered, into the same folder."""
    from harness.reports.report import build_report, warning_lines
    from harness.stats.memo import remembered_in

    if (Path(args.run_dir) / "audit.json").is_file() and not (Path(args.run_dir) / "run.json").is_file():
        from harness.audit.summary import report_audit

        return report_audit(Path(args.run_dir), Path(args.out) if args.out else None)
    with remembered_in(args.run_dir):  # the significance bootstrap is the aggregate's, kept there
        result = build_report(args.run_dir, out=args.out, sample=args.sample, formats=_formats(args),
                              registry=_registry(plugins))
    files = list(result.files)
    if plugins is not None:
        files += _plugin_reports(args, plugins)
    console = Console()
    statements = [s for s in result.analysis.pairs.get("statement", []) if " > " in s]
    console.print(f"[bold]{escape(result.run.name)}[/bold] ({escape(result.run.protocol)}, judge "
                  f"{escape(result.run.judge_label)}): {len(result.run.verdicts)} verdicts", highlight=False)
    for line in statements:
        console.print(f"  {line}", markup=False, highlight=False)
    for line in warning_lines(result.run.manifest):
        print(f"harness: warning: {line}", file=sys.stderr)
    for note in result.analysis.notes:
        print(f"harness: warning: {note}", file=sys.stderr)
    for path in files:
        print(f"wrote {path}")  # plain: rich would wrap a long path, and scripts read these lines
    return _not_final_exit([(str(args.run_dir), result.run.manifest)])


def _registry(plugins: LoadedPlugins | None) -> Registry | None:
    """The plugins' registrations (None: the report code loads the plugins itself)."""
    from harness.registry import Registry

    return Registry.collect(plugins.manager) if plugins is not None else None


def _plugin_reports(args: argparse.Namespace, plugins: LoadedPlugins) -> list[Path]:
    registry = _registry(plugins)
    if registry is None or not registry.reporters:
        return []
    from harness.reporters import run_reporters
    from harness.store import load_run

    out_dir = Path(args.out or args.run_dir)
    return run_reporters(registry, load_run(args.run_dir), out_dir)


def compare(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    from harness.reports.compare_output import build_comparison, print_summary

    result = build_comparison(args.runs, out=args.out, formats=_formats(args), registry=_registry(plugins))
    print_summary(result, Console())
    return _not_final_exit([(str(run.directory), run.manifest) for run in result.runs])


def _not_final_exit(runs: list[tuple[str, dict]]) -> int:
    """1 when a run shown is partial or its numbers cannot stand (as `harness aggregate` of it
    exits), with one line naming those runs: the pages are written and open with the reason, but
    a script must not have to read them to know. 0 otherwise."""
    from harness.running.completeness import of_manifest

    not_final = [name for name, manifest in runs if of_manifest(manifest)["problems"]]
    if not not_final:
        return 0
    print(f"harness: not final: {', '.join(not_final)} (partial, or numbers that cannot stand: said above "
          "and atop the pages); exit 1", file=sys.stderr)
    return 1
