"""Auto-J pairwise items with human labels: imported as a `human` judge's run, plus a dataset and
a task file for judging the same pairs with a model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.importers.helpers import harness_cli, read_scores, shared_data


def test_human_labels_become_a_pairwise_run_and_a_dataset(tmp_path: Path) -> None:
    source = shared_data("prometheus_eval", "autoj_pairwise.jsonl")
    labels = Counter(json.loads(line)["label"] for line in source.read_text(encoding="utf-8").splitlines() if line.strip())
    out = tmp_path / "autoj"
    result = harness_cli("import", "autoj", source, "--out", out)
    assert result.returncode == 0, result.stderr
    first = read_scores(out)["response_1"]
    assert (int(first["win_much"]), int(first["lose_much"]), int(first["tie"])) == (labels[0], labels[1], labels[2])
    total = sum(labels.values())
    assert float(first["win_rate"]) == pytest.approx(100 * (labels[0] + 0.5 * labels[2]) / total, abs=1e-6)
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["judge"]["original"] == "human" and manifest["dataset"]["items"] == total

    # the written task file loads (dataset, protocol, options) as `harness run` would load it
    from harness.plugins import load_plugins
    from harness.registry import Registry
    from harness.tasks import load_task

    loaded = load_task(out / "judge_task.yaml", Registry.collect(load_plugins().manager))
    assert len(loaded.items) == total and set(loaded.items[0].answers) == {"response_1", "response_2"}
    ids = {json.loads(x)["request_id"].rsplit("::", 1)[0] for x in (out / "verdicts.jsonl").read_text().splitlines()}
    built = {r.id.rsplit("::", 1)[0] for r in loaded.task.build_requests()}
    assert ids == built  # a model's verdicts land on the same pairs as the human ones


def test_bad_label_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response 1": "a", "response 2": "b", "label": 3}) + "\n", encoding="utf-8")
    result = harness_cli("import", "autoj", path, "--out", tmp_path / "run")
    assert result.returncode == 2 and f"{path}:1: label 3 is not 0, 1 or 2" in result.stderr


def test_a_model_judges_the_same_pairs_and_compares_with_the_humans(tmp_path: Path, harness_judge_server) -> None:
    """Import a few labelled pairs, judge them over real HTTP with the written task file, compare."""
    rows = [  # response 1 is better in the first two (label 0), response 2 in the last two (label 1)
        {"scenario": "qa", "prompt": f"question {i}", "response 1": f"first answer {i}",
         "response 2": f"second answer {i}", "label": 0 if i < 2 else 1}
        for i in range(4)
    ]
    source = tmp_path / "autoj.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    human = tmp_path / "human"
    assert harness_cli("import", "autoj", source, "--out", human).returncode == 0

    # the judge always prefers the answer saying "first" (response 1), in both orders: it agrees
    # with the humans on pairs 0 and 1 and disagrees on 2 and 3
    harness_judge_server.when("[[", lambda prompt: "[[1]]" if prompt.index("first answer") < prompt.index("second answer") else "[[5]]")
    harness_judge_server.otherwise("[[3]]")
    model = tmp_path / "model"
    result = harness_cli("run", human / "judge_task.yaml", "--judge", harness_judge_server.judge,
                         "--base-url", harness_judge_server.base_url, "--out", model, "--no-progress", "--no-cache")
    assert result.returncode == 0, result.stderr
    first = read_scores(model)["response_1"]
    assert int(first["win_much"]) == 8 and int(first["n"]) == 8

    compared = harness_cli("compare", human, model)
    assert compared.returncode == 0, compared.stderr
    assert "response_1" in compared.stdout
    assert "50.0%" in compared.stdout  # agreement on 2 of the 4 pairs, as planted
