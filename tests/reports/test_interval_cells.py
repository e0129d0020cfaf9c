"""The report's tables (HTML and Markdown) show an interval's two columns with the decimals that
tell its ends apart, as the terminal's tables do: a narrow interval that is not a point was shown
as `70 | 70` (each cell rounded to three decimals on its own), which reads as certainty."""

from __future__ import annotations

import math
import re

import pandas as pd

from harness.reports.markdown import md_table
from harness.reports.page import format_value, interval_ends, table


def html_cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html.split("<tbody>")[1])
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]


def md_cells(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()[2:]]


FRAME = pd.DataFrame({
    "model": ["saturated", "ordinary", "rated"],
    "score": [70.0, 50.25, 1500.03],
    "ci_low": [69.99995, 40.5, 1500.02],
    "ci_high": [70.0, 60.125, 1500.04],
    "lc_ci_low": [12.3456712, 1.0, math.nan],
    "lc_ci_high": [12.3456756, 2.0, 3.0],
})


def test_a_narrow_interval_prints_apart_in_both_renderings() -> None:
    # each end on its own rounds alike: what the table showed before
    assert format_value(69.99995) == format_value(70.0) == "70"
    assert format_value(1500.02) == format_value(1500.04) == "1500.0"
    for rows in (html_cells(table(FRAME)), md_cells(md_table(FRAME))):
        saturated, ordinary, rated = rows
        assert saturated[2:4] == ["69.9999", "70"]
        assert saturated[4:6] == ["12.34567", "12.34568"]
        assert rated[2:4] == ["1500.02", "1500.04"]
        # an interval whose ends already differ keeps the table's three decimals
        assert ordinary[1:6] == ["50.25", "40.5", "60.125", "1", "2"]
        assert rated[4:6] == ["–", "3"]


def test_the_ends_shown_are_the_ends_rounded() -> None:
    for low, high in [(69.99995, 70.0), (12.3456712, 12.3456756), (1500.02, 1500.04), (0.1, 0.1000001)]:
        shown_low, shown_high = interval_ends(low, high)
        assert shown_low != shown_high
        assert float(shown_low) <= float(shown_high)
        places = max(len(text.partition(".")[2]) for text in (shown_low, shown_high))
        assert abs(float(shown_low) - low) <= 0.5 * 10.0 ** -places + 1e-12
        assert abs(float(shown_high) - high) <= 0.5 * 10.0 ** -places + 1e-12


def test_a_point_and_missing_ends_are_shown_as_they_are() -> None:
    assert interval_ends(5.0, 5.0) == ("5", "5")  # a point: zero_width blanks it upstream
    assert interval_ends(math.nan, 3.0) == ("–", "3")
    assert interval_ends(None, 3.0) == ("–", "3")


def test_only_a_low_column_beside_its_high_column_is_an_interval() -> None:
    frame = pd.DataFrame({"below": [0.10001], "high": [0.10002], "baseline_ci_low": [0.10001],
                          "baseline_ci_high": [0.10002]})
    cells = html_cells(table(frame))[0]
    assert cells[:2] == ["0.1", "0.1"]  # `below` is no interval's low end
    assert cells[2:] == ["0.10001", "0.10002"]


def test_ends_that_read_as_one_number_in_two_spellings_print_apart() -> None:
    # format_value writes a whole number without decimals and numbers from 1000 on with one:
    # "1500" and "1500.0" are different text for the same number
    assert (format_value(1500.0), format_value(1500.04)) == ("1500", "1500.0")
    assert interval_ends(1500.0, 1500.04) == ("1500", "1500.04")
    assert (format_value(999.99995), format_value(1000.00004)) == ("1000", "1000.0")
    low, high = interval_ends(999.99995, 1000.00004)
    assert float(low) < 1000.0 < float(high)
