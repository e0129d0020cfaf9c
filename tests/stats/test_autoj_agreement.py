"""bench/autoj_agreement.py: judge-vs-human machinery on Auto-J pairs, with the real embedded judge."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from harness.api import LoadedRun

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data" / "prometheus_eval" / "autoj_pairwise.jsonl"


def load_bench():
    spec = importlib.util.spec_from_file_location("autoj_agreement", REPO / "bench" / "autoj_agreement.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def verdict(item: str, first: str, second: str, order: str, p_first: float) -> dict:
    return {
        "item_id": item, "status": "ok", "judge": "local", "model_a": first, "model_b": second, "order": order,
        "level": "A>>B" if p_first >= 0.5 else "B>>A", "len_a": 10 if first == "response_1" else 30,
        "len_b": 30 if first == "response_1" else 10, "probs": {"A>>B": p_first, "B>>A": 1 - p_first},
    }


def test_pair_probabilities_and_labels_by_hand(tmp_path: Path) -> None:
    bench = load_bench()
    rows = [
        # q0: response 1 shown first gets .8; shown second, the judge gives the first (response 2)
        # .4, so response 1 .6: P = (.8 + .6) / 2 = .7, picked in both orders -> label 0.
        verdict("q0", "response_1", "response_2", "ab", 0.8),
        verdict("q0", "response_2", "response_1", "ba", 0.4),
        # q1: first position wins both times -> the orders disagree -> judge tie (2); P = (.9+.1)/2.
        verdict("q1", "response_1", "response_2", "ab", 0.9),
        verdict("q1", "response_2", "response_1", "ba", 0.9),
        # q2: only one order judged -> dropped.
        verdict("q2", "response_1", "response_2", "ab", 0.2),
    ]
    run = LoadedRun(directory=tmp_path, manifest={}, verdicts=pd.DataFrame(rows), scores=pd.DataFrame(), ranking=pd.DataFrame())
    pairs = [{"id": "q0", "label": 0}, {"id": "q1", "label": 1}, {"id": "q2", "label": 2}]
    frame = bench.judged_pairs(run, pairs).set_index("item_id")
    assert list(frame.index) == ["q0", "q1"]
    assert frame.loc["q0", "p_response1"] == pytest.approx(0.7)
    assert frame.loc["q1", "p_response1"] == pytest.approx(0.5)
    assert frame["judge_label"].tolist() == [0, 2]
    assert frame["human_outcome"].tolist() == [1.0, 0.0]
    report = bench.evaluate(frame.reset_index(), run, folds=2)
    # q0 exact (1), q1 judge tie vs human win (0.5).
    assert report["agreement"]["accuracy"] == pytest.approx(0.75)
    assert report["position"]["first_position_win_rate"]["n"] == 5
    assert report["calibration"]["method"].tolist() == ["raw", "isotonic", "platt"]


@pytest.mark.slow
def test_embedded_judge_on_four_autoj_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not DATA.is_file():
        pytest.skip(f"Auto-J human labels not found at {DATA} (the shared data folder is absent)")
    bench = load_bench()
    pairs = bench.load_pairs(DATA, limit=4, max_chars=1500)
    assert len(pairs) == 4 and all(len(p["prompt"]) + len(p["response 1"]) + len(p["response 2"]) <= 1500 for p in pairs)
    run = bench.judge_autoj(pairs, tmp_path)
    assert (tmp_path / "run" / "run.json").is_file()
    ok = run.verdicts[run.verdicts["status"] == "ok"]
    assert len(ok) == 8  # 4 pairs x 2 orders
    frame = bench.judged_pairs(run, pairs)
    assert len(frame) == 4
    assert frame[["p_ab", "p_ba", "p_response1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert set(frame["judge_label"]) <= {0, 1, 2}
    human = {p["id"]: p["label"] for p in pairs}
    assert frame.set_index("item_id")["human_label"].to_dict() == human
    report = bench.evaluate(frame, run, folds=2)
    assert report["agreement"]["n"] == 4
    assert 0 <= report["agreement"]["accuracy"] <= 1
    assert report["position"]["n"] == 8 and report["length"]["longer_wins"]["n"] <= 8
    if "calibration" in report:
        cal = report["calibration"]
        assert cal[["ece", "brier"]].apply(lambda c: c.between(0, 1)).all().all()
    bench.print_report(report, 1.0, 8)
    assert "Cohen's kappa" in capsys.readouterr().out
    json.dumps(report["agreement"])  # plain numbers, serialisable
