"""The subcommands that turn finished runs into a decision: `harness check` (a regression gate)
and `harness leaderboard` (rankings across tasks). One place for the command line to call, so
cli.py stays a dispatcher."""

from __future__ import annotations

import argparse
from typing import Any


def add_decision_commands(commands: Any) -> None:
    from harness.check import add_parser as add_check
    from harness.leaderboard.command import add_parser as add_leaderboard

    add_check(commands)
    add_leaderboard(commands)


def run_decision_command(args: argparse.Namespace) -> int:
    if args.command == "check":
        from harness.check import check_command

        return check_command(args)
    from harness.leaderboard.command import leaderboard_command

    return leaderboard_command(args)
