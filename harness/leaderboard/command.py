"""`harness leaderboard RUN... --out DIR`: check arguments, combine, write, print the table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import BadInput


def add_parser(commands: Any) -> None:
    board = commands.add_parser("leaderboard", help="combine several tasks' runs into one ranking "
                                                    "(Kemeny / Borda, intervals from resampling items)")
    board.add_argument("runs", nargs="+", metavar="RUN", help="run directories, one per task")
    board.add_argument("--out", required=True, help="where to write leaderboard.csv, .md, .html")
    board.add_argument("--rounds", type=int, default=100,
                       help="bootstrap rounds (default 100; each runs every task's aggregation once)")
    board.add_argument("--seed", type=int, default=0, help="seed of the item resampling (default 0)")


def leaderboard_command(args: argparse.Namespace) -> int:
    """Exit 0 when every run is complete, 1 when one is not (the files are written and say so)."""
    from harness.leaderboard.combine import combine
    from harness.leaderboard.page import method_note, write
    from harness.leaderboard.stored import load_stored_run
    from harness.plugins import load_plugins
    from harness.registry import Registry

    if args.rounds < 1:
        raise BadInput("--rounds must be at least 1")
    if len(set(args.runs)) < 2:
        raise BadInput("leaderboard: give two or more run directories (one per task)")
    registry = Registry.collect(load_plugins().manager)
    runs = [load_stored_run(Path(run), registry) for run in args.runs]
    board = combine(runs, rounds=args.rounds, seed=args.seed)
    files = write(board, Path(args.out))
    _print(board)
    print(method_note(board))
    for note in board.notes:
        print(f"note: {note}")
    print(f"wrote {', '.join(str(f) for f in files)}")
    incomplete = [str(r.directory) for r in runs if not r.complete]
    if incomplete:
        print(f"harness: leaderboard: incomplete: {', '.join(incomplete)}; the leaderboard says so", file=sys.stderr)
        return 1
    return 0


def _print(board: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    shown = Table(title=f"leaderboard over {len(board.tasks)} tasks (95% CI over {board.rounds} item resamples)")
    for column in ("rank [CI]", "model", "borda [CI]", "tasks", "missing from"):
        shown.add_column(column, justify="left" if column in ("model", "missing from") else "right")
    for r in board.table.itertuples():
        shown.add_row(_interval(r.rank, r.rank_ci_low, r.rank_ci_high), escape(str(r.model)),
                      _interval(r.borda, r.borda_ci_low, r.borda_ci_high), str(r.tasks), escape(r.missing_from or "-"))
    Console(width=160).print(shown)


def _interval(value: Any, low: Any, high: Any) -> str:
    from harness.reports.page import interval_texts

    return "{} [{}, {}]".format(*interval_texts(value, low, high, 1))
