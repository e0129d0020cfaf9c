"""`harness compare`: agreement and rank statistics against values derived by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import BadInput
from harness.reports.compare_output import build_comparison
from tests.reports.synth import checklist_verdict, ranking_frame, rubric_verdict, write_run

HARNESS = [sys.executable, "-m", "harness.cli"]
QUESTION = "Is it right?"

#: YES/NO per model on items i0..i3. Run 2 flips A on i0 (YES -> NO) and B on i2 (NO -> YES), so
#: A and B swap places. Of the 12 units, 5 are YES in both runs, 5 NO in both, 1 YES/NO, 1 NO/YES.
RUN_1 = {"A": "YYYN", "B": "YYNN", "C": "YNNN"}
RUN_2 = {"A": "NYYN", "B": "YYYN", "C": "YNNN"}


def make_checklist_run(directory: Path, answers: dict[str, str], items: tuple[str, ...] = ("i0", "i1", "i2", "i3")) -> Path:
    verdicts = [checklist_verdict(item, model, QUESTION, "YES" if marks[k] == "Y" else "NO",
                                  category="even" if k % 2 == 0 else "odd")
                for model, marks in answers.items() for k, item in enumerate(items)]
    rates = {m: 100.0 * marks.count("Y") / len(marks) for m, marks in answers.items()}
    ordered = sorted(rates, key=lambda m: -rates[m])
    ranking = ranking_frame([(m, k + 1, rates[m]) for k, m in enumerate(ordered)])
    return write_run(directory, protocol="checklist", verdicts=verdicts, ranking=ranking)


def test_agreement_and_rank_correlation_match_hand_values(tmp_path):
    one = make_checklist_run(tmp_path / "judge1", RUN_1)
    two = make_checklist_run(tmp_path / "judge2", RUN_2)
    result = build_comparison([str(one), str(two)], out=tmp_path / "out", n_rounds=200)
    assert result.level == "nominal" and len(result.units) == 12
    row = result.agreement.iloc[0]
    assert row["units"] == 12
    assert row["percent_agreement"] == pytest.approx(10 / 12)
    # p_o = 10/12; both runs say YES on 6 of 12, so p_e = 0.5*0.5 + 0.5*0.5 = 0.5; kappa = (5/6 - 1/2) / (1/2)
    assert row["cohens_kappa"] == pytest.approx(2 / 3)
    # Krippendorff (nominal, 2 raters, no missing): 1 - (n - 1) * (o_YN + o_NY) / (2 n_Y n_N), n = 24,
    # o_YN + o_NY = 4 (two disagreeing units, both orders), n_Y = n_N = 12 -> 1 - 23 * 4 / 288
    assert result.alpha == pytest.approx(1 - 23 * 4 / 288)
    corr = result.correlations.iloc[0]
    # A, B swap; C stays last: 2 concordant, 1 discordant pair -> tau = 1/3; d^2 = 1 + 1 -> rho = 1 - 12/24
    assert corr["kendall_tau"] == pytest.approx(1 / 3)
    assert corr["spearman"] == pytest.approx(0.5)
    swaps = result.swaps
    assert len(swaps) == 1
    assert {swaps.iloc[0]["ahead in run_1"], swaps.iloc[0]["ahead in run_2"]} == {"A", "B"}
    # Four items: too few for either run to test the pair, which is said, not called noise
    assert swaps.iloc[0]["verdict"] == "not tested in either run (too few items)"
    assert set(result.disagreements["item_id"]) == {"i0", "i2"}
    assert list(result.disagreements["share"]) == pytest.approx([1 / 3, 1 / 3])
    ranks = result.ranks.set_index("model")
    assert ranks.loc["A", "rank change"] == -1 and ranks.loc["B", "rank change"] == 1
    names = {p.name for p in result.files}
    assert {"compare.html", "compare.md", "compare_agreement.csv", "compare_rank_correlation.csv"} <= names
    agreement = pd.read_csv(tmp_path / "out" / "compare_agreement.csv")
    assert agreement.loc[0, "cohens_kappa"] == pytest.approx(2 / 3, abs=1e-6)
    markdown = (tmp_path / "out" / "compare.md").read_text()
    assert "not tested in either run (too few items)" in markdown


def test_cli_compare_prints_a_summary_and_writes_files(tmp_path):
    one = make_checklist_run(tmp_path / "judge1", RUN_1)
    two = make_checklist_run(tmp_path / "judge2", RUN_2)
    done = subprocess.run([*HARNESS, "compare", str(one), str(two), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Kendall tau 0.333" in done.stdout and "Spearman 0.5 " in done.stdout
    assert "83.3%" in done.stdout  # percent agreement 10/12
    assert (tmp_path / "out" / "compare.html").is_file()


def test_items_only_one_run_judged_are_counted_beside_the_rankings(tmp_path):
    """The agreement rests on shared items, the rankings on each run's own: a rank change may come
    from items the other run never judged, which the notes say, with the counts."""
    one = make_checklist_run(tmp_path / "a", RUN_1)
    two = make_checklist_run(tmp_path / "b", {m: marks + "YN" for m, marks in RUN_1.items()},
                             items=("i0", "i1", "i2", "i3", "x4", "x5"))
    result = build_comparison([str(one), str(two)], out=tmp_path / "out", n_rounds=50)
    [note] = [n for n in result.notes if "each run's own" in n]
    assert "4 item(s) are shared" in note and "(b 2)" in note
    assert note in (tmp_path / "out" / "compare.md").read_text()
    same = build_comparison([str(one), str(one)], n_rounds=50)
    assert not [n for n in same.notes if "each run's own" in n]


def test_runs_without_shared_items_are_bad_input(tmp_path):
    one = make_checklist_run(tmp_path / "a", RUN_1)
    two = make_checklist_run(tmp_path / "b", RUN_2, items=("x0", "x1", "x2", "x3"))
    with pytest.raises(BadInput, match="share no judged items"):
        build_comparison([str(one), str(two)])
    done = subprocess.run([*HARNESS, "compare", str(one), str(two)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("harness: error:") and "share no judged items" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_identical_rubric_runs_agree_fully_and_different_protocols_compare_rankings_only(tmp_path):
    verdicts = [rubric_verdict(f"i{i}", m, float((i + k) % 5 + 1)) for i in range(6) for k, m in enumerate("ABC")]
    ranking = ranking_frame([("A", 1, 3.2), ("B", 2, 3.0), ("C", 3, 2.8)])
    one = write_run(tmp_path / "r1", protocol="rubric", verdicts=verdicts, ranking=ranking)
    two = write_run(tmp_path / "r2", protocol="rubric", verdicts=verdicts, ranking=ranking)
    same = build_comparison([str(one), str(two)], n_rounds=50)
    assert same.level == "interval"
    assert same.agreement.iloc[0]["percent_agreement"] == 1.0
    assert same.alpha == pytest.approx(1.0)
    assert same.correlations.iloc[0]["kendall_tau"] == pytest.approx(1.0)
    assert same.swaps.empty

    checklist = make_checklist_run(tmp_path / "ck", {"A": "YYYN", "B": "YYNN", "C": "YNNN"},
                                   items=("i0", "i1", "i2", "i3"))
    mixed = build_comparison([str(one), str(checklist)], n_rounds=50)
    assert mixed.units.empty and any("different protocols" in n for n in mixed.notes)
    # rubric ranking A > B > C and checklist ranking A > B > C agree
    assert mixed.correlations.iloc[0]["kendall_tau"] == pytest.approx(1.0)
