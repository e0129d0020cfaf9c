"""WildBench v2: WB-Score reproduced from the real score files, WB-Reward checked against the
published pairwise tables, and the pairwise importer with its length rule on a synthetic file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.importers.common import pairwise_verdict
from harness_plugins.pairwise.aggregate import aggregate_pairwise
from harness_plugins.pairwise.config import PairwiseConfig
from tests.importers.helpers import harness_cli, read_scores, shared_data

OUTCOMES = ("win_much", "win", "tie", "lose", "lose_much")


def test_wb_score_reproduces_the_leaderboard(tmp_path: Path) -> None:
    root = shared_data("wildbench")
    files = sorted(root.glob("score.v2.eval=*.json"))
    board = json.loads((root / "leaderboard_score.json").read_text(encoding="utf-8"))
    out = tmp_path / "wb"
    result = harness_cli("import", "wildbench", *files, "--out", out)
    assert result.returncode == 0, result.stderr
    scores = read_scores(out)
    assert len(files) == 3 and set(scores) == {f.name.split(".", 3)[-1].removesuffix(".json") for f in files}
    for model, row in scores.items():
        published = board[model]
        # scores.csv keeps six decimals
        assert float(row["wb_score"]) == pytest.approx(published["score"], abs=5e-7)
        assert float(row["wb_score_adjusted"]) == pytest.approx(published["adjusted_score"], abs=5e-7)
        assert int(row["n"]) == published["total"]
    # and exactly, in memory, through the same recompute `harness aggregate` runs
    from harness.running.recompute import recompute

    table = recompute(out).aggregate.scores.set_index("model")
    for model in scores:
        assert table.loc[model, "wb_score"] == pytest.approx(board[model]["score"], rel=1e-12)
        assert table.loc[model, "wb_score_adjusted"] == pytest.approx(board[model]["adjusted_score"], rel=1e-12)


def test_wildbench_repository_layout_names_models_and_judge_by_path(tmp_path: Path) -> None:
    """WildBench's repository keeps score files as score.v2/eval=JUDGE/MODEL.json: the model is the
    file's stem and the judge the folder's (the entries' model_test, a Hugging Face path two result
    files may share, once merged two models into one and dropped the other as repeats)."""
    root = shared_data("wildbench")
    board = json.loads((root / "leaderboard_score.json").read_text(encoding="utf-8"))
    folder = tmp_path / "score.v2" / "eval=gpt-4o-2024-05-13"
    folder.mkdir(parents=True)
    for source in sorted(root.glob("score.v2.eval=*.json")):
        model = source.name.split(".", 3)[-1].removesuffix(".json")
        (folder / f"{model}.json").write_bytes(source.read_bytes())
        entries = json.loads(source.read_text(encoding="utf-8"))
    # a second result file of the last model's base model, as Qwen1.5-72B-Chat-greedy is upstream
    (folder / f"{model}-greedy.json").write_text(json.dumps([dict(e, score="9") for e in entries]), encoding="utf-8")
    out = tmp_path / "wb"
    result = harness_cli("import", "wildbench", *sorted(folder.glob("*.json")), "--out", out)
    assert result.returncode == 0, result.stderr
    scores = read_scores(out)
    assert set(scores) == {p.stem for p in folder.glob("*.json")} and float(scores[f"{model}-greedy"]["wb_score"]) == 9
    assert float(scores[model]["wb_score"]) == pytest.approx(board[model]["score"], abs=5e-7)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["judge"]["original"] == "gpt-4o-2024-05-13"


def test_score_files_of_two_judges_or_one_model_twice_are_bad_input(tmp_path: Path) -> None:
    source = sorted(shared_data("wildbench").glob("score.v2.eval=gpt-4o-2024-05-13.*.json"))[0]
    other_judge = tmp_path / source.name.replace("gpt-4o-2024-05-13", "gpt-4-turbo-2024-04-09")
    other_judge.write_bytes(source.read_bytes())
    result = harness_cli("import", "wildbench", source, other_judge, "--out", tmp_path / "two")
    assert result.returncode == 2 and "of 2 judges" in result.stderr and not (tmp_path / "two").exists()
    entries = json.loads(source.read_text(encoding="utf-8"))
    for name in ("a.json", "b.json"):  # no name to go by: both files fall back to the same model_test
        (tmp_path / name).write_text(json.dumps([dict(e, model_test="org/same") for e in entries]), encoding="utf-8")
    result = harness_cli("import", "wildbench", tmp_path / "a.json", tmp_path / "b.json", "--out", tmp_path / "same")
    assert result.returncode == 2 and "model 'org/same' is also" in result.stderr


@pytest.mark.parametrize("k", ["500", "-1"])
def test_wb_reward_formula_matches_the_published_tables(k: str) -> None:
    table = json.loads(shared_data("wildbench", f"leaderboard_pairwise-gpt4t-K={k}.json").read_text(encoding="utf-8"))
    assert len(table) > 40
    levels = {"win_much": "A>>B", "win": "A>B", "tie": "A=B", "lose": "B>A", "lose_much": "B>>A"}
    baseline = "gpt-4-turbo-2024-04-09"
    # our verdicts, as the pairwise protocol stores them, with each model's published outcome counts
    verdicts = [
        pairwise_verdict("test", item_id=f"{outcome}{i}", model=model, opponent=baseline, model_is_a=True,
                         level=levels[outcome], judge="j", len_model=1, len_opponent=1)
        for model, row in table.items() for outcome in OUTCOMES for i in range(row[outcome])
    ]
    ours = aggregate_pairwise(verdicts, PairwiseConfig(baselines=[baseline], n_bootstrap=1)).scores.set_index("model")
    for model, row in table.items():
        counts = {o: row[o] for o in OUTCOMES}
        judged = sum(counts.values())
        mine = ours.loc[model]
        assert {o: int(mine[o]) for o in OUTCOMES} == counts
        by_hand = (100 * counts["win_much"] + 50 * counts["win"] - 50 * counts["lose"] - 100 * counts["lose_much"]) / judged
        assert mine["wb_reward"] == pytest.approx(by_hand, abs=1e-9)
        # WildBench divides by every session (`total`), unjudged ones counting 0; we average the judged
        assert mine["wb_reward"] * judged / row["total"] / 100 == pytest.approx(row["reward"], abs=1e-12), model


def wildbench_pairwise_file(path: Path) -> None:
    """Four sessions of model `m` against baseline `ref`, `m` shown as A or B, with lengths."""
    def entry(sid: str, a: str, b: str, len_a: int, len_b: int, choice: str | None) -> dict:
        return {"session_id": sid, "model_A": a, "model_B": b,
                "model_outputs": {a: "x" * len_a, b: "y" * len_b},
                "parsed_result": {"analysis of A": "...", "choice": choice}, "primary_tag": "Coding & Debugging"}
    path.write_text(json.dumps([
        entry("s1", "m", "ref", 1500, 400, "A+"),    # m slightly better, 1100 chars longer
        entry("s2", "ref", "m", 300, 350, "B++"),    # m much better
        entry("s3", "ref", "m", 2000, 100, "A+"),    # ref slightly better, 1900 chars longer
        entry("s4", "m", "ref", 200, 210, "B+"),     # ref slightly better, 10 chars longer
        entry("s5", "m", "ref", 200, 210, "maybe"),  # no verdict: invalid
    ]), encoding="utf-8")


def test_pairwise_import_and_length_rule_at_aggregation(tmp_path: Path) -> None:
    source = tmp_path / "m.json"
    wildbench_pairwise_file(source)
    out = tmp_path / "run"
    result = harness_cli("import", "wildbench", source, "--out", out)
    assert result.returncode == 0, result.stderr
    m = read_scores(out)["m"]
    # K off: +50 +100 -50 -50 over four judged sessions
    assert float(m["wb_reward"]) == pytest.approx((50 + 100 - 50 - 50) / 4)
    assert (int(m["win_much"]), int(m["win"]), int(m["lose"]), int(m["invalid"])) == (1, 1, 2, 1)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["protocol"]["config"]["baselines"] == ["ref"]  # the model every entry shares

    result = harness_cli("aggregate", out, "--set", "options.length_k=500")
    assert result.returncode == 0, result.stderr
    m = read_scores(out)["m"]
    # K=500: s1's slight win (winner 1100 longer) and s3's slight loss (winner 1900 longer) become ties
    assert float(m["wb_reward"]) == pytest.approx((0 + 100 + 0 - 50) / 4)
    assert (int(m["win_much"]), int(m["win"]), int(m["tie"]), int(m["lose"])) == (1, 0, 2, 1)
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["protocol"]["config"]["length_k"] == 500


def test_a_session_without_its_answers_is_said_to_leave_length_control_out(tmp_path: Path) -> None:
    """One verdict whose answer lengths are unknown: the length-controlled win rate (which needs
    every length) is not computed, and the K rule is not applied to it; both are said."""
    source = tmp_path / "m.json"
    wildbench_pairwise_file(source)
    entries = json.loads(source.read_text(encoding="utf-8"))
    entries[0]["model_outputs"] = {}  # s1: m's slight win, lengths unknown
    source.write_text(json.dumps(entries), encoding="utf-8")
    out = tmp_path / "run"
    assert harness_cli("import", "wildbench", source, "--out", out).returncode == 0
    result = harness_cli("aggregate", out, "--set", "options.length_k=500")
    assert result.returncode == 0, result.stderr
    assert "length-controlled win rate: not computed: the answer lengths of 1 of 4 verdicts are unknown" in result.stderr
    assert "length_k 500: not applied to the 1 of 4 verdicts whose answer lengths are unknown" in result.stderr
    m = read_scores(out)["m"]
    assert "length_controlled_win_rate" not in m
    assert float(m["wb_reward"]) == pytest.approx((50 + 100 + 0 - 50) / 4)  # s1 kept, s3 a tie


def test_wrong_choice_shape_names_the_entry(tmp_path: Path) -> None:
    source = tmp_path / "m.json"
    source.write_text(json.dumps([{"session_id": "s", "model_A": "m", "model_B": "ref"}]), encoding="utf-8")
    result = harness_cli("import", "wildbench", source, "--out", tmp_path / "run")
    assert result.returncode == 2 and "entry 0: missing field 'model_outputs'" in result.stderr
