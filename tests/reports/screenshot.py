"""Remake docs/images/report.png from a finished demo run:

    .venv/bin/harness run tasks/demo.yaml --out /tmp/demo_full
    .venv/bin/python -m tests.reports.screenshot /tmp/demo_full
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from harness.reports.report import build_report
from tests.reports.browser import Browser, find_chromium

TARGET = Path(__file__).resolve().parents[2] / "docs" / "images" / "report.png"


def main(run_dir: str) -> None:
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium is not installed")
    with tempfile.TemporaryDirectory() as out:
        build_report(run_dir, out=out, formats=("html",))
        with Browser(chromium, width=1100, height=1250) as browser:
            result = browser.load(Path(out) / "report.html")
            if result.problems:
                sys.exit(f"the page has problems: {result.problems}")
            TARGET.parent.mkdir(parents=True, exist_ok=True)
            browser.screenshot(TARGET, scale=0.7)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/demo_full")
