"""`harness calibrate JUDGE_RUN --against HUMAN_RUN [--method isotonic|platt|auto] --out FILE`."""

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
    from harness.importers.aggregation import ordered_verdicts
    from harness.store import MANIFEST_FILE, STORE_FILE

    if not (directory / MANIFEST_FILE).is_file() or not (directory / STORE_FILE).is_file():
        raise BadInput(f"{flag} {directory}: not a run directory (needs {MANIFEST_FILE} and {STORE_FILE})")
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    except ValueError:
        raise BadInput(f"{directory / MANIFEST_FILE}: not valid JSON") from None
    return manifest, ordered_verdicts(directory)


def calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate.identity import identity_from_manifest, judge_label
    from harness.calibrate.mapfile import write_calibration
    from harness.calibrate.pairwise import calibrate_pairwise
    from harness.calibrate.rubric import calibrate_rubric, run_scale
    from harness.store import MANIFEST_FILE

    if args.min_pairs < 1 or args.folds < 2 or args.bins < 1:
        raise BadInput("--min-pairs must be at least 1, --folds at least 2, --bins at least 1")
    judge_dir, human_dir = Path(args.judge_run), Path(args.against)
    judge_manifest, judge_verdicts = load_run_verdicts(judge_dir, "JUDGE_RUN")
    human_manifest, human_verdicts = load_run_verdicts(human_dir, "--against")
    identity = identity_from_manifest(judge_manifest, str(judge_dir / MANIFEST_FILE))
    human_protocol = identity_from_manifest(human_manifest, str(human_dir / MANIFEST_FILE))["protocol"]
    if identity["protocol"] != human_protocol:
        raise BadInput(f"--against {human_dir}: a {human_protocol} run; the judge run is {identity['protocol']}")
    common = {"method": args.method, "min_pairs": args.min_pairs, "folds": args.folds}
    if identity["protocol"] == "pairwise":
        result = calibrate_pairwise(judge_verdicts, human_verdicts, n_bins=args.bins, **common)
    elif identity["protocol"] == "rubric":
        result = calibrate_rubric(
            judge_verdicts,
            human_verdicts,
            judge_scale=run_scale(judge_manifest, judge_verdicts),
            human_scale=run_scale(human_manifest, human_verdicts),
            **common,
        )
    else:
        raise BadInput(
            f"JUDGE_RUN {judge_dir}: protocol {identity['protocol']!r}; calibration covers pairwise and rubric runs"
        )
    template_entry = judge_manifest.get("template")
    template: dict[str, Any] = template_entry if isinstance(template_entry, dict) else {}
    document = {
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
    print_summary(document, path)
    return 0


def print_summary(document: dict[str, Any], path: Path) -> None:
    def num(key: str, digits: int = 3) -> str:
        value = document.get(key)
        return "-" if value is None or value != value else f"{value:.{digits}f}"

    judge = document["judge"]
    print(
        f"judge {judge['judge']} ({judge['protocol']}) against {document['human']['judge']}: "
        f"{document['n_pairs']} matched {'pairs' if document['kind'] == 'pairwise' else 'answers'} "
        f"on {document['n_items']} items"
    )
    if document["kind"] == "pairwise":
        print(
            f"agreement (ties half) {num('agreement')}, on human non-tie pairs {num('agreement_non_tie')}, "
            f"Cohen's kappa {num('cohens_kappa')}"
        )
        print(
            f"first-position win rate {num('first_position_win_rate')}, position consistency "
            f"{num('position_consistency')}; P(model_a better) from {document['probability_source']}"
        )
        print(f"raw:        ECE {num('ece_raw', 4)}  Brier {num('brier_raw', 4)}  log loss {num('log_loss_raw', 4)}")
        print(
            f"calibrated: ECE {num('ece_calibrated', 4)}  Brier {num('brier_calibrated', 4)}  "
            f"log loss {num('log_loss_calibrated', 4)}  ({document['method']}, {document['folds']}-fold out-of-fold, "
            "folds by item)"
        )
    else:
        print(
            f"weighted kappa {num('weighted_kappa')} (calibrated {num('weighted_kappa_calibrated')}), "
            f"Spearman {num('spearman')}; judge score from {document['score_source']}"
        )
        print(
            f"raw:        MAE {num('mae_raw', 4)}  RMSE {num('rmse_raw', 4)}  (judge scale stretched to the human one)"
        )
        print(
            f"calibrated: MAE {num('mae_calibrated', 4)}  RMSE {num('rmse_calibrated', 4)}  "
            f"(isotonic, {document['folds']}-fold out-of-fold, folds by item)"
        )
    print(f"calibration file: {path}")
