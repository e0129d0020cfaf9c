"""`harness mismatches RUN`: the answers an answer_match run judged not to match, on the terminal;
the example of a subcommand a plugin adds through harness_register_commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.registry import Command
from harness_answer_match.extras import PROTOCOL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN", help="an answer_match run directory (judged or imported)")
    parser.add_argument("--model", help="only this model's answers")


def run(args: argparse.Namespace, plugins: Any) -> int:
    """One line per answer not judged a match (item, model, status); exit 1 when the run is partial."""
    import warnings

    from harness import load_run

    directory = Path(args.run_dir)
    if not (directory / "run.json").is_file():
        raise BadInput(f"{directory}: not a run directory (no run.json)")
    with warnings.catch_warnings():  # a partial run is said below, on its own line
        warnings.simplefilter("ignore")
        loaded = load_run(str(directory))
    protocol = (loaded.manifest.get("protocol") or {}).get("name")
    if protocol != PROTOCOL:
        raise BadInput(f"{directory}: a {protocol} run; mismatches reads answer_match runs")
    verdicts = loaded.verdicts
    if args.model is not None:
        if args.model not in set(verdicts["model"]):
            raise BadInput(f"--model {args.model!r}: not in {directory} (models: {', '.join(sorted(set(verdicts['model'])))})")
        verdicts = verdicts[verdicts["model"] == args.model]
    matched = verdicts["match"].eq(True) if "match" in verdicts else False
    wrong = verdicts[(verdicts["status"] != "ok") | ~matched].sort_values(["model", "item_id"])
    for row in wrong.itertuples():
        print(f"{row.model}\t{row.item_id}\t{row.verdict if row.status == 'ok' else row.status}")
    print(f"{len(wrong)} of {len(verdicts)} answers not judged a match")
    if not loaded.complete:
        print(f"harness: incomplete: {directory} is a partial run; the list leaves out answers without a verdict",
              file=sys.stderr)
        return 1
    return 0


MISMATCHES = Command(run=run, add_arguments=add_arguments,
                     help="list the answers an answer_match run judged not to match")
