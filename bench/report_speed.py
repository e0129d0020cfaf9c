"""Time `harness report` on a synthetic pairwise run of 100,000 verdicts and print the figures.

Target: the page stays under 20 MB (it is a few hundred kB: the verdicts are sampled) and the
report takes well under a minute on a laptop.

    .venv/bin/python bench/report_speed.py [N_ITEMS]    # 8 verdicts per item, default 12,500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.reports.report import build_report
from tests.reports.synth import large_pairwise_run


def main(items: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = large_pairwise_run(Path(tmp) / "run", items=items)
        verdicts = sum(1 for _ in (run / "verdicts.jsonl").open())
        start = time.perf_counter()
        build_report(run)
        seconds = time.perf_counter() - start
        size = (run / "report.html").stat().st_size
    print(f"verdicts: {verdicts}")
    print(f"report (html + md + csv, 1000 bootstrap rounds): {seconds:.1f} s")
    print(f"report.html: {size / 1e6:.2f} MB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("items", nargs="?", type=int, default=12_500, help="items (8 verdicts each; default 12,500)")
    main(parser.parse_args().items)
