"""The `harness` command. Thin: parses arguments, calls the library, maps errors to exit codes.

Exit codes: 0 complete (every request has a verdict, ok or invalid); 1 incomplete (calls failed
after their retries, a dead judge, a fatal judge error, a budget reached: stored verdicts are
kept and the same command with the same --out resumes); 2 bad input or configuration (one line
naming the file, field or option); 130 interrupted (rerun with the same --out to resume).
Every message is one line on stderr. Plugins add import formats and subcommands
(harness_register_importers, harness_register_commands), so the plugins are loaded before the
command line is parsed: `harness --help` lists their subcommands.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.errors import BadInput, BudgetReached, RunFailed

if TYPE_CHECKING:
    from harness.plugins import LoadedPlugins
    from harness.registry import Registry

#: The subcommands harness itself defines; a plugin's subcommand may not take one of these names.
BUILTIN_COMMANDS = ("run", "generate", "report", "compare", "aggregate", "import", "calibrate", "tasks", "plugins", "judges",
                    "doctor", "check", "leaderboard")
#: The registration hooks the command line needs: plugin subcommands and import formats.
PARSER_HOOKS = ("harness_register_commands", "harness_register_importers")


def _global_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--block-plugin", action="append", default=[], metavar="NAME",
                        help="do not load this plugin (repeatable)")


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    """The command line, with the subcommands and import formats `registry` holds (by default
    those of every installed plugin)."""
    if registry is None:
        from harness.plugins import load_plugins
        from harness.registry import Registry

        registry = Registry.collect(load_plugins().manager, only=PARSER_HOOKS)
    parser = argparse.ArgumentParser(prog="harness", description="LLM-as-judge evaluation harness")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    _global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="judge a task and write a run directory (resumes with the same --out)")
    run.add_argument("task", help="task file, e.g. tasks/demo.yaml")
    run.add_argument("--judge", action="append", metavar="SPEC",
                     help="judge spec: local, openai:MODEL, or a plugin's backend (default: the task's); "
                          "repeat for a panel, every judge asked every request")
    run.add_argument("--base-url", action="append", metavar="URL",
                     help="OpenAI-compatible server URL for openai:MODEL (key from OPENAI_API_KEY); "
                          "several (repeated or URL1,URL2) share the calls")
    run.add_argument("--out", help="run directory (default results/<task>/<timestamp>); reuse it to resume")
    run.add_argument("--limit", type=int, help="judge only the first N items")
    run.add_argument("--category", dest="categories", action="append", default=[], metavar="NAME",
                     help="judge only the items of this category (repeatable)")
    run.add_argument("--concurrency", type=int, help="calls in flight at once for this judge")
    run.add_argument("--judge-timeout", type=float, metavar="SECONDS", help="give up on one judge call after this long")
    run.add_argument("--judge-option", dest="judge_options", action="append", default=[], metavar="KEY=VALUE",
                     help="a backend setting, e.g. --judge-option n_ctx=8192 or --judge-option transport=aiohttp")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a task file field, e.g. --set options.length_k=500")
    run.add_argument("--no-progress", action="store_true", help="no progress display")
    run.add_argument("--no-cache", action="store_true",
                     help="neither read nor write the shared judgment cache ($HARNESS_CACHE_DIR or ~/.cache/harness)")
    run.add_argument("--refresh", action="store_true", help="ask the judge again even where the cache has an answer")
    run.add_argument("--max-calls", type=int, metavar="N",
                     help="stop cleanly after N judge calls (cache hits are free); rerun to continue")
    run.add_argument("--prices", metavar="FILE",
                     help="price table (YAML/JSON: model -> {input, output} USD per 1M tokens); cost goes to run.json")
    run.add_argument("--max-cost", type=float, metavar="USD",
                     help="stop cleanly before this invocation could spend more than USD (needs --prices); rerun to continue")
    run.add_argument("--dry-run", action="store_true",
                     help="print the calls the run would make, how many the cache holds, tokens and cost; send nothing")
    _calibration_options(run)

    report = commands.add_parser("report", help="write report.html, report.md and report CSVs for a run directory")
    report.add_argument("run_dir", metavar="RUN", help="a run directory written by `harness run` or `harness import`")
    report.add_argument("--out", help="where to write the report files (default: the run directory)")
    report.add_argument("--sample", type=int, default=200, metavar="N",
                        help="how many verdicts the page shows for browsing (default 200)")
    report.add_argument("--format", dest="formats", action="append", metavar="FORMAT",
                        help="html, md or csv (repeatable; default: all three)")

    compare = commands.add_parser("compare", help="compare runs that share items: judge agreement, rank changes")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more run directories")
    compare.add_argument("--out", help="where to write compare.html, compare.md and CSVs (default: print only)")
    compare.add_argument("--format", dest="formats", action="append", metavar="FORMAT",
                         help="html, md or csv for --out (repeatable; default: all three)")

    aggregate = commands.add_parser("aggregate", help="recompute every score of a run from its stored verdicts")
    aggregate.add_argument("run_dir", metavar="RUN", help="a run directory")
    aggregate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                           help="change a protocol option before recomputing, e.g. --set options.length_k=500")
    aggregate.add_argument("--category", dest="categories", action="append", default=[], metavar="NAME",
                           help="recompute from this category's items only (repeatable; run.json records it, "
                                "an aggregate without --category covers every item again)")
    _calibration_options(aggregate)

    formats = "\n".join(f"  {name:<15} [{registry.owner('importer', name)}] {_first_line(reader.__doc__)}"
                         for name, reader in sorted(registry.importers.items()))
    importer = commands.add_parser("import", help="turn another tool's judgments into a run directory",
                                   formatter_class=argparse.RawDescriptionHelpFormatter,
                                   epilog="formats [the plugin that registers it]:\n" + (formats or "  none loaded"))
    importer.add_argument("format", help="one of: " + (", ".join(sorted(registry.importers)) or "none loaded"))
    importer.add_argument("paths", nargs="+", metavar="PATH", help="the tool's judgment files")
    importer.add_argument("--out", required=True, help="the run directory to write")
    importer.add_argument("--baseline", help="the baseline model (arena_hard, wildbench pairwise, mt_bench pairwise)")
    importer.add_argument("--answers", nargs="+", action="extend", metavar="PATH",
                          help="the answers (and questions) the verdicts judge, where the format has separate files "
                               "(arena_hard: model_answer/*.jsonl and question.jsonl, or their folders)")
    importer.add_argument("--judge", metavar="NAME",
                          help="who gave the verdicts, when the files do not say (labels: instead of `human`)")

    from harness.calibrate.command import add_parser as add_calibrate
    from harness.decide_commands import add_decision_commands

    add_calibrate(commands)
    add_decision_commands(commands)

    from harness.generate.command import add_parser as add_generate

    add_generate(commands)

    tasks = commands.add_parser("tasks", help="list task files")
    tasks.add_argument("directory", nargs="?", default=None,
                       help="where the task files are (default: ./tasks if it exists, else the current directory)")

    commands.add_parser("plugins", help="list loaded plugins, where they come from, and their hooks")
    commands.add_parser("judges", help="list the judge backends and the options each accepts, with defaults")
    doctor = commands.add_parser("doctor", help="check which local judges work on this machine: each answers one prompt")
    doctor.add_argument("--vllm-model", metavar="MODEL", help="also check vllm:MODEL (a Hugging Face id or a path)")
    _plugin_commands(commands, registry)
    return parser


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def _plugin_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser], registry: Registry) -> None:
    """Each plugin subcommand, its arguments declared by the plugin; a built-in name is refused."""
    for name, command in registry.commands.items():
        owner = registry.owner("command", name)
        if name in BUILTIN_COMMANDS:
            raise BadInput(f"plugin {owner!r} registers the command {name!r}, a built-in subcommand "
                           f"(skip it with --block-plugin {owner})")
        sub = commands.add_parser(name, help=f"{command.help} (plugin {owner})".lstrip())
        try:
            command.add_arguments(sub)
        except Exception as exc:  # a broken plugin: name it, so it can be blocked
            raise BadInput(f"plugin {owner!r} failed to declare the arguments of {name!r}: "
                           f"{type(exc).__name__}: {exc} (skip it with --block-plugin {owner})") from None


def _calibration_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calibration", metavar="FILE",
                        help="apply a map from `harness calibrate`: calibrated_* columns and ranking_calibrated.csv")
    parser.add_argument("--force-calibration", action="store_true",
                        help="apply --calibration even though it was made for another judge setup")


def main(argv: list[str] | None = None) -> int:
    """The command line. Without `argv` this is the process's own command (the `harness` script):
    the records a command reads live until it ends, so they are kept out of the cycle collector's
    sight, and after a large read freed blocks of a megabyte or more go back to the system
    (harness.bulk_reads); a caller passing `argv` (a test, a script) keeps its collector and its
    allocator as they were. The process's own command line also ends as soon as its command
    returns, without freeing an aggregation's records one by one (harness.running.process_end)."""
    if argv is None:
        from harness.bulk_reads import freeze_after_bulk_reads
        from harness.running.process_end import ends_with_command, exit_now

        freeze_after_bulk_reads()
        ends_with_command()
        code = _main(sys.argv[1:])
        exit_now(code)
        return code
    return _main(list(argv))


def _main(argv: list[str]) -> int:
    try:
        plugins, registry = _load(argv)
        args = build_parser(registry).parse_args(argv)
        return _dispatch(args, plugins, registry)
    except BadInput as exc:
        print(f"harness: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except BudgetReached as exc:
        print(f"harness: stopped: {_one_line(exc)}; {_resume_hint(exc, 'continue')}", file=sys.stderr)
        return 1
    except RunFailed as exc:
        print(f"harness: run failed: {_one_line(exc)}; everything judged so far is stored; "
              f"{_resume_hint(exc, 'resume')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nharness: interrupted; stored verdicts are kept; rerun with the same --out to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: keep the message short, the traceback on request
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness: internal error: {type(exc).__name__}: {_one_line(exc)} (set HARNESS_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


def _one_line(exc: BaseException | str, limit: int = 600) -> str:
    """The message on one line (a server's multi-line error or a long path list stays readable)."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _resume_hint(exc: BaseException, verb: str) -> str:
    directory = getattr(exc, "directory", None)
    where = f"--out {directory}" if directory is not None else "the same --out"
    return f"run the same command with {where} to {verb}"


def _load(argv: list[str]) -> tuple[LoadedPlugins, Registry]:
    """The plugins (minus --block-plugin ones) and the subcommands and import formats they
    register, read before the command line is parsed so that parsing knows them."""
    from harness.plugins import load_plugins
    from harness.registry import Registry

    early = argparse.ArgumentParser(prog="harness", add_help=False, allow_abbrev=False)
    early.add_argument("--version", action="version", version=f"harness {__version__}")  # answered before loading
    _global_options(early)
    known, _ = early.parse_known_args(argv)
    plugins = load_plugins(blocked=tuple(known.block_plugin))
    for failed in plugins.failures:
        print(f"harness: warning: plugin {failed.name!r} skipped: {failed.error}", file=sys.stderr)
    return plugins, Registry.collect(plugins.manager, only=PARSER_HOOKS)


def _dispatch(args: argparse.Namespace, plugins: LoadedPlugins, registry: Registry) -> int:
    if args.command in registry.commands:
        return _plugin_command(args, plugins, registry)
    if args.command == "run":
        return _run(args, plugins)
    if args.command == "generate":
        from harness.generate.command import run as generate_command

        return generate_command(args, plugins)
    if args.command in ("report", "compare"):
        from harness.reports import command as report_command

        return report_command.report(args, plugins) if args.command == "report" else report_command.compare(args, plugins)
    if args.command == "aggregate":
        from harness.running.recompute import aggregate_command

        return aggregate_command(args, plugins)
    if args.command == "import":
        from harness.importers import command as import_command

        return import_command.run_import(args, plugins)
    if args.command in ("check", "leaderboard"):
        from harness.decide_commands import run_decision_command

        return run_decision_command(args)
    if args.command == "calibrate":
        from harness.calibrate.command import calibrate

        return calibrate(args, plugins)
    if args.command == "tasks":
        from harness.cli_output import list_tasks

        return list_tasks(Path(args.directory) if args.directory else None, plugins)
    if args.command == "doctor":
        from harness.doctor import doctor

        return doctor(plugins, vllm_model=args.vllm_model)
    if args.command == "judges":
        from harness.cli_output import list_judges

        return list_judges(plugins)
    from harness.cli_output import list_plugins

    return list_plugins(plugins)


def _plugin_command(args: argparse.Namespace, plugins: LoadedPlugins, registry: Registry) -> int:
    """A plugin's subcommand under the same exit-code contract; a crash names the plugin."""
    owner = registry.owner("command", args.command)
    try:
        code = registry.commands[args.command].run(args, plugins)
    except (BadInput, BudgetReached, RunFailed, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"harness: plugin {owner!r} command {args.command!r} failed: {type(exc).__name__}: {_one_line(exc)} "
              f"(set HARNESS_DEBUG=1 for the traceback; skip it with --block-plugin {owner})", file=sys.stderr)
        return 1
    if code is None:
        return 0
    if isinstance(code, bool) or not isinstance(code, int):
        print(f"harness: plugin {owner!r} command {args.command!r} returned {code!r}, not an exit code", file=sys.stderr)
        return 1
    return code


def _run(args: argparse.Namespace, plugins: LoadedPlugins) -> int:
    from harness.cli_output import print_run_result, report_completeness
    from harness.running.execute import run_task
    from harness.running.options import RunOptions

    options = RunOptions(
        judge=(args.judge[0] if len(args.judge) == 1 else tuple(args.judge)) if args.judge else None, base_url=",".join(args.base_url) if args.base_url else None,
        out=args.out, limit=args.limit, categories=tuple(args.categories), concurrency=args.concurrency,
        overrides=tuple(args.overrides), progress=not args.no_progress,
        cache=not args.no_cache, refresh=args.refresh, max_calls=args.max_calls,
        prices=args.prices, max_cost=args.max_cost,
        judge_timeout_s=args.judge_timeout, judge_options=_key_values(args.judge_options, "--judge-option"),
        calibration=args.calibration, force_calibration=args.force_calibration,
    )
    if args.max_calls is not None and args.max_calls < 1:
        raise BadInput("--max-calls must be at least 1")
    if args.dry_run:
        from harness.running.dry_run import dry_run

        return dry_run(args.task, options, plugins)
    result = run_task(args.task, options, plugins)
    print_run_result(result)
    unusable = report_completeness(result.manifest)
    if result.complete:
        return 1 if unusable else 0
    counts = result.manifest.get("counts", {})
    failed, total = int(counts.get("failed", 0)), int(result.manifest.get("requests", 0))
    cause = f"{failed} of {total} requests failed (most common error: {_one_line(result.top_error or '', 300)})"
    if result.failed_items:
        cause += f"; {_items(result.failed_items)}"
    if not failed:
        cause = f"{result.unfinished} of {total} requests have no verdict"
    print(f"harness: incomplete: {_one_line(cause, 600)}; the numbers above leave them out; run the same command "
          f"with --out {result.directory} to retry only those", file=sys.stderr)
    return 1


def _items(items: tuple[str, ...], shown: int = 5) -> str:
    """`item q2` or `items q2, q7, ... and 12 more`: what a rerun retries, named on the last line."""
    names = ", ".join(_one_line(item, 60) for item in items[:shown])
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{'item' if len(items) == 1 else 'items'} {names}{more}"


def _key_values(pairs: list[str], flag: str) -> dict[str, object]:
    from harness.tasks import parse_key_value

    return dict(parse_key_value(pair, flag) for pair in pairs)


if __name__ == "__main__":
    sys.exit(main())
