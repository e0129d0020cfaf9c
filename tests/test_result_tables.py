"""harness.running.result_tables: the one reader of a run's result tables. What each command does
with a damaged table is in test_malformed_inputs.py; here, the reader's rules one by one, and a
table giving an interval of zero width (a file from before harness blanked them, or another
tool's), which the report shows as no interval, with the reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.reports.report import build_report
from harness.running.result_tables import read_result_table
from tests.reports.test_report_command import make_pairwise_run


def test_the_reader_checks_columns_numbers_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    assert read_result_table(path).empty  # no file: no table (a run stopped before its exports)
    path.write_text("model,score,ci_low,ci_high,n\na,1.5,1,2,3\nb,,,,0\n")
    table = read_result_table(path, required=("model", "score"))
    assert list(table["model"]) == ["a", "b"] and table["score"].isna().tolist() == [False, True]
    with pytest.raises(BadInput, match="no 'rank' column"):
        read_result_table(path, required=("model", "rank"))
    path.write_text("model,score,lc_ci_low,lc_ci_high\na,1,0.5,oops\n")
    with pytest.raises(BadInput, match="column 'lc_ci_high' holds 'oops', not a number"):
        read_result_table(path)
    path.write_text("judge,model,score\nj1,a,1\nj2,a,2\nj1,a,3\n")
    with pytest.raises(BadInput, match="judge 'j1', model 'a' has 2 rows"):
        read_result_table(path, key=("judge", "model"))
    path.write_text("model,score,lc_ci_low,lc_ci_high,lc_note\na,1,0.5,0.5,\nb,2,0.25,0.75,\n")
    table = read_result_table(path)
    assert table["lc_ci_low"].isna().tolist() == [True, False] and table["lc_ci_high"].tolist()[1] == 0.75
    assert table["lc_note"].tolist()[0] == "no interval: scores.csv gives a point (zero width)"


def test_names_are_read_as_written_and_missing_numbers_as_missing(tmp_path: Path) -> None:
    """Models and categories named NA, null, None, 1 or 001 are those texts (pandas' defaults made
    them missing values or the number 1, so `harness report` found "model 1.0 has 2 rows"); a
    number column's NA spellings stay missing."""
    path = tmp_path / "scores_by_category.csv"
    path.write_text("category,model,score,ci_low,ci_high,n,items\nNA,NA,1,0,2,4,4\nnull,null,2,1,3,4,4\n"
                    "None,None,3,n/a,#N/A,4,4\n1,1,4,,,4,4\n001,001,5,NA,NA,4,4\n")
    table = read_result_table(path, required=("category", "model"), key=("category", "model"))
    assert table["model"].tolist() == ["NA", "null", "None", "1", "001"] == table["category"].tolist()
    assert table["score"].tolist() == [1, 2, 3, 4, 5] and table["ci_low"].isna().tolist() == [False] * 2 + [True] * 3


def test_an_interval_of_zero_width_in_a_table_shows_as_none_with_its_reason(tmp_path: Path) -> None:
    run = make_pairwise_run(tmp_path / "run")
    pd.DataFrame({"model": ["X", "Y"], "rank": [1, 2], "score": [1550.5, 1449.5], "ci_low": [1550.5, 1400.0],
                  "ci_high": [1550.5, 1500.0], "n": [6, 6]}).to_csv(run / "ranking.csv", index=False)
    build_report(run, n_rounds=20, formats=("md",))
    rows = {line.split("|")[2].strip(): [cell.strip() for cell in line.split("|")[1:-1]]
            for line in (run / "report.md").read_text().splitlines() if line.startswith(("| 1 | X |", "| 2 | Y |"))}
    assert rows["X"][3:5] == ["–", "–"] and "no interval: ranking.csv gives a point (zero width)" in rows["X"]
    assert rows["Y"][3:5] == ["1400", "1500"]
