"""Replayed answers read back, by each protocol's own parser, as the verdict they were made from:
every verdict form a task can ask for (text, constrained choice, JSON), with and without stored
probabilities."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest

from harness.plugins import load_plugins
from harness.registry import Registry
from harness.stats.preference import LEVELS
from harness.tasks import load_task
from harness.testing.tasks import write_task
from harness_plugins.checklist.replay import all_answers, single_answer
from harness_plugins.pairwise.replay import pairwise_answer
from harness_plugins.rubric.replay import rubric_answer

ROWS = [{"id": "q1", "instruction": "Say hi.", "answers": {"m1": "hi", "m2": "hello"},
         "checklist": ["Is it a greeting?", "Is it short?", "Is it polite?"]}]
#: A distribution with mass on every level, and one with zeros in it.
DISTRIBUTIONS = [
    {"A>>B": 0.05, "A>B": 0.1, "A=B": 0.2, "B>A": 0.4, "B>>A": 0.25},
    {"A>>B": 0.0, "A>B": 0.7, "A=B": 0.3, "B>A": 0.0, "B>>A": 0.0},
]


def task(tmp_path: Path, protocol: str, options: dict[str, Any]) -> Any:
    path = write_task(tmp_path, name="t", protocol=protocol, rows=ROWS, options={"n_bootstrap": 1, **options})
    return load_task(path, Registry.collect(load_plugins().manager)).task


SHAPES = [{"reasoning": r, "structured_output": s} for r, s in itertools.product((True, False), repeat=2)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"reasoning={s['reasoning']},json={s['structured_output']}")
@pytest.mark.parametrize("fmt", ["scale", "labels", "binary"])
def test_pairwise_levels_and_distributions_read_back(tmp_path: Path, fmt: str, shape: dict[str, bool]) -> None:
    pairwise = task(tmp_path, "pairwise", {"verdict_format": fmt, **shape})
    request = pairwise.build_requests()[0]
    for level, probs in itertools.product(LEVELS, [None, *DISTRIBUTIONS]):
        data = pairwise.parse(request, pairwise_answer(request, level, probs))
        if fmt != "binary":
            assert data["level"] == level
        else:  # a forced choice: the side that is preferred (a tie: the likelier side, A on a draw)
            side = {"A>>B": "A>>B", "A>B": "A>>B", "B>A": "B>>A", "B>>A": "B>>A"}.get(level)
            assert data["level"] == (side or data["level"])
        if fmt == "scale" and probs is not None:
            assert data["probs"] == pytest.approx(probs, abs=1e-6)
        elif fmt == "binary" and (probs is not None or level == "A=B"):
            dist = probs or {"A=B": 1.0}
            share = dist.get("A>>B", 0) + dist.get("A>B", 0) + dist.get("A=B", 0) / 2
            assert data["probs"]["A>>B"] == pytest.approx(share, abs=1e-6)
            assert data["probs"]["B>>A"] == pytest.approx(1 - share, abs=1e-6)
        else:  # labels carry no distribution; none is made up where none was stored
            assert "probs" not in data


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"reasoning={s['reasoning']},json={s['structured_output']}")
def test_rubric_scores_and_distributions_read_back(tmp_path: Path, shape: dict[str, bool]) -> None:
    rubric = task(tmp_path, "rubric", {"preset": "wb_score", **shape})
    request = rubric.build_requests()[0]
    probs = {str(s): (s / 55) for s in range(1, 11)}
    for score in (1, 7, 10):
        plain = rubric.parse(request, rubric_answer(request, score, None))
        assert plain["score"] == score and "probs" not in plain
        soft = rubric.parse(request, rubric_answer(request, score, probs))
        assert soft["score"] == score
        assert soft["probs"] == pytest.approx(probs, abs=1e-6)
        assert soft["expected"] == pytest.approx(sum(s * s / 55 for s in range(1, 11)), abs=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"reasoning={s['reasoning']},json={s['structured_output']}")
@pytest.mark.parametrize("mode", ["each", "all"])
def test_checklist_answers_read_back(tmp_path: Path, mode: str, shape: dict[str, bool]) -> None:
    checklist = task(tmp_path, "checklist", {"mode": mode, **shape})
    requests = checklist.build_requests()
    if mode == "each":
        for request, (answer, p) in zip(requests, [("YES", 0.8), ("NO", 0.1), ("YES", None)]):
            data = checklist.parse(request, single_answer(request, answer, p))
            assert data["answer"] == answer
            assert data.get("p_yes") == (None if p is None else pytest.approx(p, abs=1e-6))
    else:
        answers, p_yes = ["YES", "NO", "YES"], [0.9, 0.25, 0.6]
        data = checklist.parse(requests[0], all_answers(requests[0], answers, p_yes))
        assert data["answers"] == answers and data["p_yes"] == pytest.approx(p_yes, abs=1e-6)
        assert "p_yes" not in checklist.parse(requests[0], all_answers(requests[0], answers, None))


def test_no_logprobs_when_the_request_asks_for_none(tmp_path: Path) -> None:
    pairwise = task(tmp_path, "pairwise", {"logprobs": False})
    request = pairwise.build_requests()[0]
    response = pairwise_answer(request, "A>B", DISTRIBUTIONS[0])
    assert response.logprobs is None and "probs" not in pairwise.parse(request, response)


def test_json_answers_are_json_of_the_schema(tmp_path: Path) -> None:
    pairwise = task(tmp_path, "pairwise", {"structured_output": True, "verdict_format": "labels"})
    request = pairwise.build_requests()[0]
    body = json.loads(pairwise_answer(request, "B>A", None).text)
    assert set(body) == set(request.json_schema["properties"]) and body["verdict"] == "B>A"
    assert all(math.isfinite(t.logprob) or t.top for t in pairwise_answer(request, "B>A", DISTRIBUTIONS[1]).logprobs or ())
