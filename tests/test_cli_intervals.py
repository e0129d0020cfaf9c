"""The CLI tables' `value [low, high]` (run and aggregate, the gate, the leaderboard): an interval
is shown exactly where scores.csv keeps one (harness.stats.intervals.zero_width decides both), and
a narrow one with enough decimals that its ends print apart (apart_digits), never as [x, x]."""

from __future__ import annotations

import math

import pytest

from harness.cli_output import _interval
from harness.stats.intervals import zero_width


def shown(value: float, low: float, high: float, digits: int = 1) -> str:
    return _interval({"v": value, "lo": low, "hi": high}, "v", "lo", "hi", digits)


def test_an_ordinary_interval_keeps_the_columns_digits() -> None:
    assert shown(50.0, 40.04, 60.0) == "50.0 [40.0, 60.0]"
    assert shown(1382.4, 874.2, 1889.0, digits=0) == "1382 [874, 1889]"


def test_a_narrow_interval_gets_the_decimals_that_tell_its_ends_apart() -> None:
    # the two-item LC interval of a saturated judge: 70.0 [70.0, 70.0] read as certainty
    assert shown(70.0, 69.999942, 69.999956) == "70.0000 [69.9999, 70.0000]"
    assert shown(12.345673, 12.3456712, 12.3456756) == "12.34567 [12.34567, 12.34568]"
    assert shown(99.5, 99.41, 99.52) == "99.5 [99.4, 99.5]"  # apart at the column's own digits


@pytest.mark.parametrize("low, high", [(99.99958, 99.99958 + 1e-8), (5.0, 5.0), (math.nan, 6.0), (4.0, math.nan)])
def test_no_interval_where_the_exported_csv_has_none(low: float, high: float) -> None:
    assert shown(99.9, low, high) == "99.9"
    if not (math.isnan(low) or math.isnan(high)):
        assert bool(zero_width(low, high))  # the rule that blanks it in scores.csv


def test_the_narrowest_interval_the_csv_keeps_still_prints_apart() -> None:
    for value in (1.0, 70.0, 1500.0):  # a score, a win rate, a rating
        low = value
        high = value + 2e-9 * max(1.0, value)  # just wider than zero_width's point
        assert not bool(zero_width(low, high))
        text = shown(value, low, high, digits=0)
        inside = text[text.index("[") + 1:-1].split(", ")
        assert inside[0] != inside[1], text
        assert float(inside[0]) <= float(inside[1])


def test_the_gate_and_the_leaderboard_tables_print_narrow_intervals_apart_too() -> None:
    from harness.check import _interval as gate_interval
    from harness.leaderboard.command import _interval as leaderboard_interval

    assert gate_interval(70.0, 69.999942, 69.999956) == "70.0000 [69.9999, 70.0000]"
    assert gate_interval(50.0, 40.0, 60.0) == "50.0 [40.0, 60.0]"
    assert gate_interval(50.0, math.nan, 60.0) == "50.0 [-]"
    assert leaderboard_interval(2.5, 2.46, 2.54) == "2.5 [2.46, 2.54]"  # apart at 2 decimals (trailing zeros dropped)
    assert leaderboard_interval(2.5, 2.0, 3.0) == "2.5 [2, 3]"
    assert leaderboard_interval(2.5, None, 3.0) == "2.5 [–, 3]"
    # from 1000 on the page's numbers have one decimal: a narrow interval there printed as
    # 1500.0 [1500.0, 1500.0]; the leaderboard now shares the report's cells' rule (interval_texts)
    assert leaderboard_interval(1500.03, 1500.02, 1500.04) == "1500.03 [1500.02, 1500.04]"
    assert leaderboard_interval(1000.0, 999.99, 1000.01) == "1000 [999.99, 1000.01]"


def test_long_model_names_are_shown_whole_in_the_runs_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two names sharing a long prefix ended alike in "…" in the terminal's ranking: which scored
    what could not be told. The model column wraps instead."""
    from harness.testing.planted import PlantedJudge, planted_rows
    from harness.testing.tasks import harness_cli, write_task

    prefix = "org/very-long-model-name-" + "x" * 60
    strengths = {f"{prefix}-7b": 1.0, f"{prefix}-70b": -1.0}
    task = write_task(tmp_path, name="long", protocol="pairwise", rows=planted_rows(sorted(strengths), 4),
                      options={"n_bootstrap": 20})
    with PlantedJudge(strengths) as judge:
        done = harness_cli("run", str(task), "--judge", judge.spec, "--base-url", judge.base_url,
                           "--out", str(tmp_path / "run"), "--no-progress", "--no-cache")
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("│")]
    model_cells = "".join(line.split("│")[2].strip() for line in table)
    assert "…" not in done.stdout and f"{prefix}-7b" in model_cells and f"{prefix}-70b" in model_cells
