"""`harness calibrate JUDGE_RUN --against HUMAN_RUN [--method isotonic|platt|auto] --out FILE`.

Both runs must be of one protocol, and that protocol must supply a calibrator
(harness.protocol.calibrator): it fits the map, this command writes the file around it.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.models import Verdict
    from harness.plugins import LoadedPlugins
    from harness.protocol.calibrator import Calibrator


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "calibrate", help="measure a judge run against human labels and fit a map onto the human scale"
    )
    parser.add_argument("judge_run", metavar="JUDGE_RUN", help="a run directory judged by the judge to calibrate")
    parser.add_argument(
        "--against",
        required=True,
        metavar="HUMAN_RUN",
        help="a run directory of human labels (e.g. from `harness import labels`)",
    )
    parser.add_argument(
        "--method",
        default="auto",
        choices=("isotonic", "platt", "auto"),
        help="the map: isotonic, Platt, or auto (lower out-of-fold Brier score; default)",
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="the calibration file to write (JSON)")
    parser.add_argument(
        "--min-pairs",
        type=int,
        default=20,
        metavar="N",
        help="refuse with fewer matched pairs (rubric: answers) than this (default 20)",
    )
    parser.add_argument("--folds", type=int, default=5, metavar="K", help="cross-validation folds, by item (default 5)")
    parser.add_argument("--bins", type=int, default=10, metavar="B", help="equal-width bins for ECE (default 10)")


def load_run_verdicts(directory: Path, flag: str) -> tuple[dict[str, Any], list[Verdict]]:
    from harness.running.recompute import ordered_verdicts
    from harness.store import MANIFEST_FILE, STORE_FILE

    if not (directory / MANIFEST_FILE).is_file() or not (directory / STORE_FILE).is_file():
        raise BadInput(f"{flag} {directory}: not a run directory (needs {MANIFEST_FILE} and {STORE_FILE})")
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except ValueError:
        raise BadInput(f"{directory / MANIFEST_FILE}: not valid JSON") from None
    return manifest, ordered_verdicts(directory)


def calibrate(args: argparse.Namespace, plugins: LoadedPlugins) -> int:
    from harness.calibrate.identity import identity_from_manifest, judge_label
    from harness.calibrate.lookup import calibrator_for, calibrators
    from harness.calibrate.mapfile import names, write_calibration
    from harness.protocol.calibrator import FitOptions, RunVerdicts
    from harness.registry import Registry
    from harness.store import MANIFEST_FILE

    if args.min_pairs < 1 or args.folds < 2 or args.bins < 1:
        raise BadInput("--min-pairs must be at least 1, --folds at least 2, --bins at least 1")
    judge_dir, human_dir = Path(args.judge_run), Path(args.against)
    judge_manifest, judge_verdicts = load_run_verdicts(judge_dir, "JUDGE_RUN")
    if isinstance(judge_manifest.get("panel"), dict):  # one verdict per request, whichever judge's: a mix
        raise BadInput(f"JUDGE_RUN {judge_dir}: a judge panel's run has several judges; calibrate each judge's own "
                       "run (harness run with that one --judge)")
    human_manifest, human_verdicts = load_run_verdicts(human_dir, "--against")
    registry = Registry.collect(plugins.manager)
    identity = identity_from_manifest(judge_manifest, str(judge_dir / MANIFEST_FILE), registry)
    human_protocol = identity_from_manifest(human_manifest, str(human_dir / MANIFEST_FILE), registry)["protocol"]
    if identity["protocol"] != human_protocol:
        raise BadInput(f"--against {human_dir}: a {human_protocol} run; the judge run is {identity['protocol']}")
    calibrator = calibrator_for(registry, identity["protocol"])
    if calibrator is None:
        raise BadInput(
            f"JUDGE_RUN {judge_dir}: protocol {identity['protocol']!r}; "
            f"calibration covers {names(calibrators(registry), 'and')} runs"
        )
    options = FitOptions(method=args.method, min_pairs=args.min_pairs, folds=args.folds, n_bins=args.bins)
    result = calibrator.fit(
        RunVerdicts(judge_dir, judge_manifest, judge_verdicts), RunVerdicts(human_dir, human_manifest, human_verdicts),
        options,
    )
    template_entry = judge_manifest.get("template")
    template: dict[str, Any] = template_entry if isinstance(template_entry, dict) else {}
    document = {
        "kind": identity["protocol"],
        **result,
        "method": result["map"]["method"],
        "method_requested": args.method,
        "judge": {**identity, "template_name": template.get("name"), "run": str(judge_dir.resolve())},
        "human": {
            "run": str(human_dir.resolve()),
            "judge": judge_label(human_manifest),
            "annotators": sorted({v.judge for v in human_verdicts if v.status == "ok"})[:50],
        },
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
    }
    path = write_calibration(document, args.out)
    print_summary(document, path, calibrator)
    return 0


def print_summary(document: dict[str, Any], path: Path, calibrator: Calibrator) -> None:
    judge = document["judge"]
    print(
        f"judge {judge['judge']} ({judge['protocol']}) against {document['human']['judge']}: "
        f"{document['n_pairs']} matched {calibrator.unit} on {document['n_items']} items"
    )
    for line in calibrator.summary_lines(document):
        print(line)
    print(f"calibration file: {path}")
