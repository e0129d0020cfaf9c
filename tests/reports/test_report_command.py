"""`harness report`: numbers against values derived by hand, escaping, size bound, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.reports.report import build_report
from tests.reports.synth import (
    large_pairwise_run,
    pairwise_verdict,
    ranking_frame,
    rubric_verdict,
    write_run,
)

HARNESS = [sys.executable, "-m", "harness.cli"]
MODELS = ("good", "mid", "bad")


def rubric_scores(item: int) -> dict[str, float]:
    """good 9 everywhere; mid 5 on category x (items 0-9), 7 on y; bad 1, except 3 on item 0."""
    return {"good": 9.0, "mid": 5.0 if item < 10 else 7.0, "bad": 3.0 if item == 0 else 1.0}


def make_rubric_run(directory: Path) -> Path:
    verdicts, items = [], []
    for i in range(20):
        category = "x" if i < 10 else "y"
        scores = rubric_scores(i)
        verdicts += [rubric_verdict(f"i{i:02d}", m, scores[m], category=category, output=f"Score: {scores[m]:.0f}")
                     for m in MODELS]
        # answer length follows the score, so the longer answer always scores higher
        items.append({"id": f"i{i:02d}", "instruction": f"question {i}", "category": category,
                      "answers": {m: "w" * int(scores[m] * 10) for m in MODELS}})
    ranking = ranking_frame([("good", 1, 9.0), ("mid", 2, 6.0), ("bad", 3, 1.1)])
    return write_run(directory, protocol="rubric", verdicts=verdicts, items=items, ranking=ranking,
                     scores=ranking.drop(columns="rank"))


def test_rubric_report_numbers_match_hand_derived_values(tmp_path):
    run = make_rubric_run(tmp_path / "run")
    result = build_report(run, out=tmp_path / "out", n_rounds=300)
    names = {p.name for p in result.files}
    assert {"report.html", "report.md", "report_ranking.csv", "report_pairs.csv", "report_categories.csv"} <= names

    ranking = pd.read_csv(tmp_path / "out" / "report_ranking.csv")
    assert list(ranking["model"]) == ["good", "mid", "bad"]
    assert list(ranking["rank"]) == [1, 2, 3]

    categories = pd.read_csv(tmp_path / "out" / "report_categories.csv").set_index(["category", "model"])["score"]
    # x: bad = (3 + 9 * 1) / 10 = 1.2; y: bad 1; mid 5 on x and 7 on y; good 9 on both
    assert categories[("x", "bad")] == pytest.approx(1.2)
    assert categories[("y", "bad")] == pytest.approx(1.0)
    assert categories[("x", "mid")] == pytest.approx(5.0)
    assert categories[("y", "mid")] == pytest.approx(7.0)
    assert categories[("y", "good")] == pytest.approx(9.0)

    pairs = pd.read_csv(tmp_path / "out" / "report_pairs.csv").set_index(["model_1", "model_2"])
    # mean per-item differences: good-bad (6 + 19 * 8) / 20 = 7.9; mid-bad (2 + 9*4 + 10*6) / 20 = 4.9;
    # good-mid (10*4 + 10*2) / 20 = 3.0; each item agrees in sign, so each pair is significant
    assert pairs.loc[("good", "bad"), "diff"] == pytest.approx(7.9)
    assert pairs.loc[("mid", "bad"), "diff"] == pytest.approx(4.9)
    assert pairs.loc[("good", "mid"), "diff"] == pytest.approx(3.0)
    assert pairs["significant"].all()

    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "good > bad (p" in markdown and "mid > bad (p" in markdown and "good > mid (p" in markdown
    diagnostics = pd.read_csv(tmp_path / "out" / "report_diagnostics.csv").set_index("metric")
    # 3 answers per item, all of different length and score: 3 pairs x 20 items, the longer always higher
    assert float(diagnostics.loc["P(longer answer scores higher)", "value"]) == pytest.approx(1.0)
    assert int(diagnostics.loc["P(longer answer scores higher)", "n"]) == 60
    html = (tmp_path / "out" / "report.html").read_text()
    assert "question 7" in html  # instructions come from the dataset the task file points to
    assert "http://" not in html and "https://" not in html and "<link" not in html  # nothing to fetch


def make_pairwise_run(directory: Path) -> Path:
    """X (100 chars) and Y (50 chars) on three items, both orders, plus one invalid and one failed call.

    i1: X wins in both orders, but 'slightly' then 'much' (winner-consistent, not exactly);
    i2: the first position wins both times (inconsistent); i3: tie both times (consistent).
    """
    v = [
        pairwise_verdict("i1", "X", "Y", "A>B", "ab", len_a=100, len_b=50),
        pairwise_verdict("i1", "Y", "X", "B>>A", "ba", len_a=50, len_b=100),
        pairwise_verdict("i2", "X", "Y", "A>>B", "ab", len_a=100, len_b=50),
        pairwise_verdict("i2", "Y", "X", "A>>B", "ba", len_a=50, len_b=100),
        pairwise_verdict("i3", "X", "Y", "A=B", "ab", len_a=100, len_b=50),
        pairwise_verdict("i3", "Y", "X", "A=B", "ba", len_a=50, len_b=100),
        {**pairwise_verdict("i4", "X", "Y", "A>B", "ab"), "status": "invalid", "output": "I cannot decide"},
        {**pairwise_verdict("i4", "Y", "X", "A>B", "ba"), "status": "failed", "error": "HTTP 500"},
    ]
    manifest = {
        "invocations": [{"calls": 5, "retries": 2, "errors": {"http_500": 1}}, {"calls": 3, "retries": 3}],
        "cache": {"hits": 7, "misses": 1}, "cost": {"usd": 0.25}, "tokens": {"in": 100, "out": 20},
    }
    return write_run(directory, protocol="pairwise", verdicts=v, manifest=manifest)


def test_pairwise_diagnostics_match_hand_counts(tmp_path):
    build_report(make_pairwise_run(tmp_path / "run"), n_rounds=100, formats=("csv", "md"))
    frame = pd.read_csv(tmp_path / "run" / "report_diagnostics.csv")
    value = dict(zip(frame["metric"], frame["value"]))
    n = dict(zip(frame["metric"], frame["n"]))
    assert float(value["ok"]) == 6 and float(value["invalid"]) == 1 and float(value["failed"]) == 1
    # first position wins: i1 ab, i2 ab, i2 ba = 3 of 6 parsed verdicts; ties 2 of 6
    assert float(value["first-position win rate"]) == pytest.approx(3 / 6)
    assert float(value["tie rate"]) == pytest.approx(2 / 6)
    # exact agreement after swapping: only i3; same winner: i1 and i3
    assert float(value["position consistency"]) == pytest.approx(1 / 3)
    assert float(value["winner consistency"]) == pytest.approx(2 / 3)
    assert int(n["position consistency"]) == 3
    # decisive verdicts: i1 twice (X, the longer, wins), i2 ab (X wins), i2 ba (Y, the shorter, wins)
    assert float(value["P(longer answer wins)"]) == pytest.approx(3 / 4)
    assert int(n["P(longer answer wins)"]) == 4
    assert float(value["retries"]) == 5 and float(value["calls"]) == 8 and float(value["errors: http_500"]) == 1
    assert float(value["cache.hits"]) == 7 and float(value["cost.usd"]) == 0.25 and float(value["tokens.in"]) == 100
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "| position | winner consistency | 0.667 | 3 |" in markdown


XSS = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


def make_hostile_run(directory: Path) -> Path:
    """Every text a user, a model or a judge controls carries markup that would run if not escaped."""
    verdicts, items = [], []
    models = ("safe", f"evil{XSS}")
    for i in range(6):
        item = f"i{i}{XSS}" if i == 0 else f"i{i}"
        category = f"cat{XSS}"
        for k, m in enumerate(models):
            verdicts.append(rubric_verdict(item, m, 3.0 + k + (i % 2), category=category, output=f"judge says {XSS}"))
        items.append({"id": item, "instruction": f"Do this {XSS}", "category": category,
                      "answers": {m: f"answer of {m} </pre></details>{XSS}" for m in models}})
    verdicts.append({**rubric_verdict("i1", "safe", 1.0), "status": "invalid", "output": f"</summary>{XSS}"})
    return write_run(directory, protocol="rubric", verdicts=verdicts, items=items)


def test_untrusted_text_is_escaped_in_html_and_markdown(tmp_path):
    build_report(make_hostile_run(tmp_path / "run"), n_rounds=100)
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<script>window.pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the page's own script
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "<script" not in markdown and "<img" not in markdown
    assert "&lt;script>" in markdown


def test_100k_verdicts_give_a_small_page_with_a_bounded_sample(tmp_path):
    run = large_pairwise_run(tmp_path / "big")
    assert sum(1 for _ in (run / "verdicts.jsonl").open()) == 100_000
    result = build_report(run, n_rounds=50, sample=200)
    html = (run / "report.html").read_text()
    size = (run / "report.html").stat().st_size
    assert size < 20 * 1024 * 1024, size
    assert html.count('<details class="v"') == 200
    # invalid verdicts come first (a third of the sample), and their 20,000-character outputs are cut
    assert html.count('<details class="v" data-status="invalid"') == 200 // 3
    assert "more characters not shown" in html
    # the planted strengths m3 > m2 > m1 > m0 come out as the ranking
    assert list(result.analysis.ranking["model"]) == ["m3", "m2", "m1", "m0"]


def test_sample_is_deterministic(tmp_path):
    run = make_pairwise_run(tmp_path / "run")
    build_report(run, out=tmp_path / "a", n_rounds=50, sample=3, formats=("html",))
    build_report(run, out=tmp_path / "b", n_rounds=50, sample=3, formats=("html",))
    assert (tmp_path / "a" / "report.html").read_bytes() == (tmp_path / "b" / "report.html").read_bytes()
    html = (tmp_path / "a" / "report.html").read_text()
    assert html.count('<details class="v"') == 3
    assert '<details class="v" data-status="invalid"' in html  # problems first


def test_report_works_on_a_run_with_only_verdicts(tmp_path):
    """An imported run may have no ranking, no scores, no dataset, no categories."""
    run = tmp_path / "imported"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"source": "somewhere"}))
    rows = [{"item_id": f"q{i}", "data": {"model_a": "p", "model_b": "q", "score_a": 0.9 if i % 4 else 0.3}}
            for i in range(12)]
    (run / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = build_report(run, n_rounds=50)
    assert result.run.protocol == "pairwise"
    assert list(result.analysis.ranking["model"]) == ["p", "q"]
    # win rate of p over q: 9 of 12 battles at 0.9 and 3 at 0.3 -> (9 * 0.9 + 3 * 0.3) / 12 = 0.75
    assert result.analysis.win_rates.loc["p", "q"] == pytest.approx(0.75)
    assert (run / "report.html").stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report", "{missing}"], "not a run directory"),
        (["report", "{run}", "--sample", "-1"], "--sample"),
        (["report", "{run}", "--format", "pdf"], "--format"),
        (["compare", "{run}"], "at least two"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, argv, message):
    run = make_pairwise_run(tmp_path / "run")
    args = [a.format(run=run, missing=tmp_path / "nope") for a in argv]
    done = subprocess.run([*HARNESS, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("harness: error:") or lines[-1].startswith("usage:") or "error:" in lines[-1]
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_report_writes_the_files(tmp_path):
    run = make_rubric_run(tmp_path / "run")
    done = subprocess.run([*HARNESS, "report", str(run), "--out", str(tmp_path / "out"), "--format", "md"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "report.md").is_file()
    assert not (tmp_path / "out" / "report.html").exists()
    assert "good > bad" in done.stdout


def test_usage_fields_of_invocations_are_summed_but_prices_are_not(tmp_path):
    invocations = [
        {"calls": 4, "tokens": {"in": 30, "out": 3}, "cost": {"usd": 0.1, "usd_per_1m_input": 2.5},
         "cache": {"hits": 3, "misses": 4}},
        {"calls": 2, "tokens": {"in": 40, "out": 5}, "cost": {"usd": 0.2, "usd_per_1m_input": 2.5},
         "cache": {"hits": 4, "misses": 0}},
    ]
    run = write_run(tmp_path / "run", protocol="rubric", manifest={"invocations": invocations},
                    verdicts=[rubric_verdict("i0", "m", 5.0), rubric_verdict("i0", "n", 4.0)])
    build_report(run, n_rounds=20, formats=("csv",))
    frame = pd.read_csv(run / "report_diagnostics.csv")
    value = {m: float(v) for m, v in zip(frame["metric"], frame["value"])}
    assert value["calls"] == 6
    assert value["tokens.in"] == 70 and value["tokens.out"] == 8
    assert value["cost.usd"] == pytest.approx(0.3)
    assert value["cost.usd_per_1m_input"] == 2.5
    assert value["cache.hits"] == 7 and value["cache.misses"] == 4


def test_length_bias_from_lengths_the_verdicts_carry(tmp_path):
    """No dataset, but each verdict has the answer's `length` (as the WildBench importer writes)."""
    verdicts = [
        {**rubric_verdict("i0", "m1", 3.0), "data": {"model": "m1", "score": 3.0, "length": 10}},
        {**rubric_verdict("i0", "m2", 5.0), "data": {"model": "m2", "score": 5.0, "length": 20}},
        {**rubric_verdict("i0", "m3", 5.0), "data": {"model": "m3", "score": 5.0, "length": 5}},
    ]
    run = write_run(tmp_path / "run", protocol="rubric", verdicts=verdicts)
    build_report(run, n_rounds=20, formats=("csv",))
    frame = pd.read_csv(run / "report_diagnostics.csv").set_index("metric")
    # m2 (longer) beats m1: yes; m3 (shorter) beats m1: the longer lost; m2 vs m3 tie: left out
    assert float(frame.loc["P(longer answer scores higher)", "value"]) == pytest.approx(0.5)
    assert int(frame.loc["P(longer answer scores higher)", "n"]) == 2


def many_model_run(directory: Path, models: int, items: int = 24) -> Path:
    """`models` models in a chain (each against the next, both orders) with strengths rising
    along it, so the ranking is the chain and every pair has a Bradley-Terry difference."""
    import random

    rng = random.Random(3)
    names = [f"model-{k:03d}" for k in range(models)]
    verdicts = []
    for i in range(items):
        for k in range(models - 1):
            weak, strong = names[k], names[k + 1]
            for order in ("ab", "ba"):
                a, b = (weak, strong) if order == "ab" else (strong, weak)
                strong_wins = rng.random() < 0.8
                level = ("B>A" if order == "ab" else "A>B") if strong_wins else ("A>B" if order == "ab" else "B>A")
                verdicts.append(pairwise_verdict(f"i{i}", a, b, level, order, category=f"c{i % 3}"))
    return write_run(directory, protocol="pairwise", verdicts=verdicts)


def test_a_hundred_models_make_a_page_under_a_megabyte_with_every_model(tmp_path):
    """4,950 pairs and a 100 x 100 matrix: the page lists each model against the next in the
    ranking and draws the matrix as one image, and says where every pair and value is."""
    from harness.reports.report import PAGE_PAIRS

    run = many_model_run(tmp_path / "run", 100)
    result = build_report(run, n_rounds=30, sample=50)
    html = (run / "report.html").read_text()
    assert (run / "report.html").stat().st_size < 1_000_000
    pairs = pd.read_csv(run / "report_pairs.csv")
    assert len(pairs) == 100 * 99 // 2 > PAGE_PAIRS
    shown = html.split('<section id="pairs">', 1)[1].split("</section>", 1)[0]
    assert shown.count("<tr") == 1 + 99  # the header, then each model against the next
    assert "99 of 4,950 pairs shown" in shown and "report_pairs.csv" in shown
    order = list(result.analysis.ranking.sort_values("score", ascending=False)["model"])
    for upper, lower in zip(order, order[1:]):
        assert f"<td>{upper}</td><td>{lower}</td>" in shown or f"<td>{lower}</td><td>{upper}</td>" in shown
    matrix = html.split('<section id="win-rates">', 1)[1].split("</section>", 1)[0]
    assert "data:image/png;base64," in matrix and "report_win_rates.csv" in matrix
    for name in order:  # every model named in the ranking and along the matrix
        assert matrix.count(f">{name}</text>") == 2
        assert f"<td>{name}</td>" in html.split('<section id="ranking">', 1)[1].split("</section>", 1)[0]
    markdown = (run / "report.md").read_text()
    assert "99 of 4,950 pairs shown" in markdown and "report_win_rates.csv" in markdown


def test_a_few_models_keep_every_pair_and_the_labelled_matrix(tmp_path):
    run = many_model_run(tmp_path / "run", 6)
    build_report(run, n_rounds=30, sample=10)
    html = (run / "report.html").read_text()
    shown = html.split('<section id="pairs">', 1)[1].split("</section>", 1)[0]
    assert shown.count("<tr") == 1 + 15 and "pairs shown" not in shown
    assert "data:image/png" not in html and "<rect" in html


def test_png_holds_the_pixels_it_was_given():
    import struct
    import zlib

    from harness.reports.svg import png

    pixels = [[(255, 0, 0), (0, 128, 255)], [(1, 2, 3), (250, 250, 250)], [(0, 0, 0), (9, 9, 9)]]
    data = png(pixels)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        assert struct.unpack(">I", data[at + 8 + length:at + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = body
        at += 12 + length
    assert struct.unpack(">IIBBBBB", chunks[b"IHDR"]) == (2, 3, 8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[r * 7:(r + 1) * 7] for r in range(3)]
    assert all(row[0] == 0 for row in rows)  # filter type none
    assert [[tuple(row[1 + 3 * c:4 + 3 * c]) for c in range(2)] for row in rows] == pixels


@pytest.mark.parametrize(("models", "unresolvable"), [(10, False), (11, True)])
def test_a_test_that_cannot_call_any_pair_significant_says_so(tmp_path, models, unresolvable):
    """1,000 rounds resolve p-values down to 1/1,001; Holm over m pairs needs 0.05 / m for the
    first: 45 pairs (10 models) can still get there, 55 (11 models) cannot, whatever the data."""
    run = many_model_run(tmp_path / "run", models)
    result = build_report(run, n_rounds=1000, sample=5)
    pairs = models * (models - 1) // 2
    warned = [n for n in result.analysis.notes if "no pair can be called significant" in n]
    markdown = (run / "report.md").read_text()
    if unresolvable:
        assert len(warned) == 1 and f"{pairs} pairs tested with 1,000 bootstrap rounds" in warned[0]
        assert "no difference can be called significant" in markdown
        assert not result.analysis.pairs["significant"].astype(bool).any()
    else:
        assert not warned and "no difference can be called significant" not in markdown


def test_models_named_like_the_tables_columns_are_reported(tmp_path):
    """Model names are the dataset's: a model called `model` clashed with the win-rate table's
    row labels (the report died with an internal error in its Markdown and CSV formats)."""
    verdicts = [pairwise_verdict(f"i{i}", a, b, "A>B", "ab") for i in range(3) for a, b in (("model", "rank"),)]
    run = write_run(tmp_path / "run", protocol="pairwise", verdicts=verdicts)
    result = build_report(run, out=tmp_path / "out", n_rounds=20)
    assert {p.name for p in result.files} >= {"report.md", "report_win_rates.csv"}
    rates = pd.read_csv(tmp_path / "out" / "report_win_rates.csv").set_index("row model")
    assert rates.loc["model", "rank"] == 1.0 and rates.loc["rank", "model"] == 0.0


def test_a_metric_column_named_reward_keeps_its_values_beside_the_ranking(tmp_path):
    """The pairwise ranking shows scores.csv's score as `reward`: a plugin metric's own `reward`
    column made two of one name, and every report of the run died with an internal error."""
    run = make_pairwise_run(tmp_path / "run")  # verdicts only: its scores.csv is written here
    pd.DataFrame({"model": ["X", "Y"], "score": [50.0, -50.0], "n": [6, 6], "reward": 12345.0}).to_csv(
        run / "scores.csv", index=False)
    result = build_report(run, out=tmp_path / "out", n_rounds=20, formats=("md",))
    assert "reward (metric)" in result.analysis.ranking.columns
    assert set(result.analysis.ranking["reward (metric)"]) == {12345.0}


def test_an_output_name_taken_by_a_directory_is_bad_input(tmp_path):
    """--out holding a directory (or a dangling link) where report.md goes: one line, exit 2 (an
    internal error before, after some files were written)."""
    run = make_pairwise_run(tmp_path / "run")
    out = tmp_path / "out"
    (out / "report.md").mkdir(parents=True)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(run), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        f"harness: error: --out {out}: cannot write report.md (Is a directory)"], done.stderr
