"""The report of a calibrated run: the calibration section with its figures, a reliability diagram
(raw and calibrated) and the raw and calibrated rankings side by side; clean in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.reports.report import build_report
from tests.calibrate import planted
from tests.reports.browser import Browser, find_chromium


@pytest.fixture(scope="module")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = planted.calibrated_run(tmp_path_factory.mktemp("calibrated"))
    build_report(run, n_rounds=100)
    return run


def test_calibration_section_in_html_and_markdown(report_run: Path) -> None:
    page = (report_run / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="calibration">') :]
    section = section[: section.index("</section>")]
    assert '<a href="#calibration">Calibration</a>' in page
    svg = section[section.index('aria-label="reliability diagram"') :]
    assert svg.count("<circle") >= 4 and "perfect calibration" in svg
    for label in ("raw", "calibrated", "ECE", "Brier score", "raw rank", "calibrated rank", "calibrated win rate"):
        assert f">{label}<" in section, label
    models = re.findall(r"<td>(m\d)</td>", section)
    assert sorted(models) == ["m1", "m2", "m3", "m4"]
    md = (report_run / "report.md").read_text(encoding="utf-8")
    assert "## Calibration against human labels" in md and "| ECE |" in md


def test_a_run_without_calibration_has_no_calibration_section(tmp_path: Path) -> None:
    with planted.planted_server() as server:
        task = planted.task_file(tmp_path / "t", planted.dataset_rows(range(3)))
        assert (
            planted.cli(
                "run", task, "--base-url", server.base_url, "--out", tmp_path / "run", "--no-progress"
            ).returncode
            == 0
        )
    build_report(tmp_path / "run", n_rounds=50, formats=("html",))
    assert 'id="calibration"' not in (tmp_path / "run" / "report.html").read_text(encoding="utf-8")


@pytest.mark.skipif(
    find_chromium() is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it"
)
def test_calibrated_report_loads_clean_in_chromium(report_run: Path, tmp_path: Path) -> None:
    with Browser(find_chromium(), width=1280, height=900) as browser:  # type: ignore[arg-type]
        result = browser.load(report_run / "report.html")
        assert result.problems == [], result.problems
        assert result.requests == [(report_run / "report.html").resolve().as_uri()]
        assert browser.evaluate("document.querySelectorAll('#calibration svg.chart circle').length") >= 4
        rows = browser.evaluate("document.querySelectorAll('#calibration table')[1].tBodies[0].rows.length")
        assert rows == 4
        browser.evaluate("document.getElementById('calibration').scrollIntoView()")
        shot = browser.screenshot(tmp_path / "calibration.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
