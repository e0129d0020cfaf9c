"""Style control in the pairwise protocol: a judge swayed by bold text, found out.

The judge below prefers whichever answer uses bold; only when both or neither do, it prefers
the better-written one (`solid`). `shiny` (named to be as long as `solid`, so length says nothing) bolds 80% of its answers, `solid` 34%, so the plain
rating puts shiny first; with markdown held fixed the rating must put solid first, and the
fitted bold coefficient must be clearly positive.
"""

from __future__ import annotations

import re

import pytest

N_ITEMS = 100


def _answer(model: str, i: int, bold: bool) -> str:
    word = f"{model.upper()}-{i}"
    return f"The answer is **{word}** here." if bold else f"The answer is --{word}-- here."


def _rows() -> list[dict]:
    rows = []
    for i in range(N_ITEMS):
        rows.append({"id": f"q{i}", "instruction": f"Question {i}?", "answers": {
            "shiny": _answer("shiny", i, bold=i % 5 != 0),  # 80% bold
            "solid": _answer("solid", i, bold=i % 3 == 0),  # 34% bold
        }})
    return rows


def _judge(prompt: str) -> str:
    first = re.search(r"(SHINY|SOLID)-(\d+)", prompt)
    assert first, "the answers should be in the prompt"
    model_a, i = first.group(1), int(first.group(2))
    bold = {m: f"**{m}-{i}**" in prompt for m in ("SHINY", "SOLID")}
    if bold["SHINY"] != bold["SOLID"]:
        winner = "SHINY" if bold["SHINY"] else "SOLID"
        if i % 7 == 3:  # a little noise, so style does not separate the outcomes perfectly
            winner = "SOLID" if winner == "SHINY" else "SHINY"
    else:
        winner = "SHINY" if i % 4 == 1 else "SOLID"  # quality decides, with a little noise
    return "[[A>B]]" if winner == model_a else "[[B>A]]"


@pytest.fixture
def run(harness_judge_server, harness_run_task):
    harness_judge_server.otherwise(_judge)
    return harness_run_task("pairwise", _rows(), options={
        "verdict_format": "labels", "baselines": ["solid"], "n_bootstrap": 200,
    })


def test_style_control_undoes_the_judges_taste_for_bold(run) -> None:
    scores = run.scores.set_index("model")
    # plain Bradley-Terry: solid is the anchor at 1000, shiny wins most battles and sits above
    assert scores.loc["shiny", "win_rate"] > 55
    ranking = run.ranking.set_index("model")
    assert ranking.loc["shiny", "score"] > ranking.loc["solid", "score"]
    # style held fixed: solid (the anchor, still 1000) is above shiny
    assert scores.loc["solid", "style_controlled_rating"] == pytest.approx(1000.0)
    assert scores.loc["shiny", "style_controlled_rating"] < 1000.0
    assert scores.loc["shiny", "sc_ci_high"] < 1000.0  # and clearly so (plain: 1056 [986, 1131])
    bold = run.manifest["summary"]["style_coefficients"]["bold"]
    assert bold["ci_low"] > 0.5  # log-odds per SD of the bold difference
    # bold varies within each model, so style control is estimable here: shown, with no withheld note
    assert "sc_note" not in scores.columns and "style_control" not in run.manifest["summary"]


def test_verdicts_carry_the_answers_markdown_counts(run) -> None:
    verdict = run.verdicts.iloc[0]
    i = int(verdict["item_id"][1:])
    expected = {"shiny": int(i % 5 != 0), "solid": int(i % 3 == 0)}
    assert verdict["style_a"] == {"headers": 0, "lists": 0, "bold": expected[verdict["model_a"]]}
    assert verdict["style_b"] == {"headers": 0, "lists": 0, "bold": expected[verdict["model_b"]]}


def test_style_control_can_be_turned_off(harness_judge_server, harness_run_task) -> None:
    harness_judge_server.otherwise(_judge)
    run = harness_run_task("pairwise", _rows()[:10], options={
        "verdict_format": "labels", "baselines": ["solid"], "n_bootstrap": 50, "style_control": False,
    })
    assert "style_controlled_rating" not in run.scores.columns
    assert "style_coefficients" not in run.manifest["summary"]


def test_too_few_items_withhold_the_style_controlled_rating(harness_judge_server, harness_run_task) -> None:
    harness_judge_server.otherwise(_judge)
    run = harness_run_task("pairwise", _rows()[:10], options={
        "verdict_format": "labels", "baselines": ["solid"], "n_bootstrap": 50,
    })
    scores = run.scores.set_index("model")
    assert scores[["style_controlled_rating", "sc_ci_low", "sc_ci_high"]].isna().all().all()
    assert scores["sc_note"].str.contains("10 item").all()
    assert "style_coefficients" not in run.manifest["summary"]
    assert "not estimable" in run.manifest["summary"]["style_control"]


def test_the_printed_table_shows_a_style_controlled_rating_with_its_interval(run, capsys) -> None:
    from harness.cli import main

    assert main(["aggregate", str(run.directory)]) == 0
    out = capsys.readouterr().out
    assert "SC rating [CI]" in out
    row = next(line for line in out.splitlines() if " shiny " in line)
    sc = run.scores.set_index("model").loc["shiny"]
    # the SC cell: rating and interval, as scores.csv holds them (one decimal)
    assert f"{sc.style_controlled_rating:.1f} [{sc.sc_ci_low:.1f}, {sc.sc_ci_high:.1f}]" in row


def test_the_note_names_only_the_verdicts_that_lack_style_counts() -> None:
    """A run whose later verdicts lack the answers' counts (judged before style control): the
    note counts those verdicts among all judged, and names only their models."""
    from harness.models import Verdict
    from harness_plugins.pairwise.aggregate import judged_battles, style_controlled
    from harness_plugins.pairwise.config import PairwiseConfig

    counts = {"headers": 0, "lists": 1, "bold": 2}
    verdicts = []
    for i in range(30):
        second = "old" if i < 20 else "new"  # the last 10 judge `new`, and lack the counts
        data = {"model_a": "base", "model_b": second, "order": "ab", "len_a": 90, "len_b": 110, "level": "A>B"}
        if i < 20:
            data |= {"style_a": counts, "style_b": counts}
        elif i == 29:
            data |= {"style_a": counts}  # one side only: lacking too
        verdicts.append(Verdict(request_id=f"q{i}::{second}", request_key=f"k{i}", item_id=f"q{i}", judge="j",
                                status="ok", data=data))
    verdicts.append(Verdict(request_id="q30::new", request_key="k30", item_id="q30", judge="j", status="failed",
                            data={"model_a": "base", "model_b": "new"}))
    config = PairwiseConfig(n_bootstrap=20)
    result = style_controlled(verdicts, judged_battles(verdicts, config), config)
    assert result is not None and not result.shown
    assert result.withheld.startswith("not shown: 10 of 30 judged verdicts (base, new) carry no style features")
