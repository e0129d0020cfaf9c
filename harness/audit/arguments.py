"""`harness audit`'s arguments and its registered `Command`, kept apart from the audit itself so
that building the command line (every `harness` command does) loads none of the audit's code."""

from __future__ import annotations

import argparse
from typing import Any

from harness.registry import Command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", help="task file whose judge, template and options are audited")
    parser.add_argument("--judge", metavar="SPEC", help="judge spec (default: the task's judge)")
    parser.add_argument("--base-url", metavar="URL", help="OpenAI-compatible server URL for openai:MODEL")
    parser.add_argument("--limit", type=int, metavar="N", help="items sampled from the dataset (task's audit.items, else 30)")
    parser.add_argument("--probes", metavar="LIST", help="comma-separated probes (default: the task's audit.probes, else all)")
    parser.add_argument("--seed", type=int, help="seed of the item sample and the perturbations (default 0)")
    parser.add_argument("--out", required=True, help="audit directory; reuse it to resume")
    parser.add_argument("--concurrency", type=int, help="calls in flight at once")
    parser.add_argument("--judge-option", dest="judge_options", action="append", default=[], metavar="KEY=VALUE",
                        help="a backend setting, e.g. --judge-option max_attempts=3")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a task file field, e.g. --set audit.padding=[0.3,1.0]")
    parser.add_argument("--no-progress", action="store_true", help="no progress display")
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the shared judgment cache")


def run(args: argparse.Namespace, plugins: Any) -> int:
    """Run the audit (harness.audit.command.run), loaded on use."""
    from harness.audit.command import run as run_audit

    return run_audit(args, plugins)


AUDIT = Command(run=run, add_arguments=add_arguments,
                help="measure the judge's biases (position, length, markdown, authority, injection) with controlled pairs")
