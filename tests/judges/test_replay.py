"""`replay:RUN_DIR` against runs judged over HTTP: the replay stores what the source run stored
(levels, scores, answers and their logprob distributions), mirrors an answer order the source did
not judge, fails (exit 1) where nothing was stored, and never touches the judgment cache."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.models import TokenLogprob
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task
from tests.importers.helpers import harness_cli

MODELS = ("alpha", "beta", "gamma")
ROWS = [
    {"id": f"q{i}", "instruction": f"Question {i}?", "checklist": ["Is it right?", "Is it brief?"],
     "answers": {m: f"{m} answers question {i} " + "at length " * (i * j) for j, m in enumerate(MODELS)}}
    for i in range(5)
]


def _weights(body: dict[str, Any], n: int) -> list[float]:
    """A distribution over n symbols fixed by the prompt: what the planted judge believes."""
    digest = hashlib.sha256(json.dumps(body["messages"]).encode()).digest()
    weights = [digest[i] + 1 for i in range(n)]
    return [w / sum(weights) for w in weights]


def planted_judge(body: dict[str, Any]) -> Reply:
    """Answers every protocol's request with a verdict token whose top logprobs are `_weights`."""
    prompt = body["messages"][-1]["content"]
    if "evaluation checklists" in body["messages"][0]["content"]:  # checklist generation: 2 or 3 questions
        count = 2 + int(_weights(body, 2)[0] > 0.5)
        return Reply(text="".join(f"{i + 1}. Does it meet need {i}?\n" for i in range(count)))
    if '"N. YES"' in prompt:  # checklist `all` mode: one YES/NO line per question, each word a token
        tokens: list[TokenLogprob] = []
        for i in range(prompt.count("Does it meet need") or prompt.count("Is it ")):
            p_yes = _weights({"messages": [*body["messages"], {"question": i}]}, 2)[0]
            word = "YES" if p_yes >= 0.5 else "NO"
            top = {"YES": math.log(p_yes), "NO": math.log(1 - p_yes)}
            tokens += [TokenLogprob(token=f"{i + 1}. ", logprob=0.0), TokenLogprob(token=word, logprob=top[word], top=top),
                       TokenLogprob(token="\n", logprob=0.0)]
        return Reply(text="".join(t.token for t in tokens), logprobs=tokens)
    if "[[1]]" in prompt or "Assistant B" in prompt or "answer B" in prompt.lower():
        symbols = ["1", "2", "3", "4", "5"]
    elif "YES" in prompt:
        symbols = ["YES", "NO"]
    else:
        symbols = [str(s) for s in range(1, 11)]
    probs = _weights(body, len(symbols))
    chosen = symbols[max(range(len(symbols)), key=probs.__getitem__)]
    top = {s: math.log(p) for s, p in zip(symbols, probs)}
    head, tail = ("Fine.\n", "") if symbols[0] == "YES" else ("Because.\n[[", "]]")
    tokens = [TokenLogprob(token=head, logprob=0.0), TokenLogprob(token=chosen, logprob=top[chosen], top=top)]
    if tail:
        tokens.append(TokenLogprob(token=tail, logprob=0.0))
    return Reply(text=head + chosen + tail, logprobs=tokens)


def judged(tmp_path: Path, protocol: str, options: dict[str, Any], rows: list[dict[str, Any]] = ROWS) -> tuple[Path, Path]:
    """A task file and the run of it by the planted judge over HTTP."""
    task = write_task(tmp_path, name=f"{protocol}-src", protocol=protocol, rows=rows,
                      options={"n_bootstrap": 50, **options})
    with OpenAIServer(planted_judge) as server:
        run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=tmp_path / "source",
                                  progress=False, cache=False))
    return task, tmp_path / "source"


def replay(task: Path, source: Path, out: Path, **options: Any) -> Path:
    run_task(task, RunOptions(judge=f"replay:{source}", out=out, progress=False, cache=False, **options))
    return out


def verdicts(run: Path) -> dict[str, dict[str, Any]]:
    lines = (run / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    return {v["request_id"]: v for v in map(json.loads, lines)}


def protocol_data(verdict: dict[str, Any]) -> dict[str, Any]:
    """What the protocol made of the answer (not the output text, tokens or judge name)."""
    return {k: v for k, v in verdict["data"].items() if k not in ("reasks", "feedback")}


def same(left: Any, right: Any) -> bool:
    """Equal, numbers to 1e-5: a stored distribution is rounded to 6 places, so an expected
    score computed again from it may move in the sixth."""
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, float) or isinstance(right, float):
        return isinstance(left, (int, float)) and isinstance(right, (int, float)) and math.isclose(left, right, abs_tol=1e-5)
    return left == right


@pytest.mark.parametrize("protocol,options", [
    ("pairwise", {}),
    ("pairwise", {"baselines": ["beta"], "soft": True}),
    ("rubric", {"preset": "wb_score"}),
    ("checklist", {"mode": "each"}),
    ("checklist", {"mode": "all"}),
    ("checklist", {"mode": "all", "generate": True}),
])
def test_replay_stores_what_the_source_run_stored(tmp_path: Path, protocol: str, options: dict[str, Any]) -> None:
    rows = ROWS
    if options.get("generate"):  # no checklists in the data: the judge writes them first (stage 1)
        rows = [{k: v for k, v in row.items() if k != "checklist"} for row in ROWS]
    task, source = judged(tmp_path, protocol, options, rows)
    original = verdicts(source)
    assert original and all(v["status"] == "ok" for v in original.values())
    judged_ones = [v for v in original.values() if v["data"].get("stage") != "generate"]
    assert (len(judged_ones) < len(original)) == bool(options.get("generate"))
    with_probs = [v for v in judged_ones if v["data"].get("probs") or v["data"].get("p_yes") is not None]
    assert len(with_probs) == len(judged_ones)  # the planted distributions were read: replaying them means something
    replayed = verdicts(replay(task, source, tmp_path / "replay"))
    assert replayed.keys() == original.keys()
    for request_id, verdict in original.items():
        assert replayed[request_id]["status"] == "ok"
        assert same(protocol_data(replayed[request_id]), protocol_data(verdict)), request_id
        assert replayed[request_id]["judge"] == f"replay:{source}"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "replay" / "scores.csv"), pd.read_csv(source / "scores.csv"),
                                  atol=1e-5)


def test_an_order_that_was_not_stored_is_the_other_order_mirrored(tmp_path: Path) -> None:
    task, source = judged(tmp_path, "pairwise", {})
    only_ab = tmp_path / "only_ab"
    only_ab.mkdir()
    kept = [v for v in verdicts(source).values() if v["data"]["order"] == "ab"]
    (only_ab / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in kept), encoding="utf-8")
    replayed = verdicts(replay(task, only_ab, tmp_path / "replay"))
    mirror = dict(zip(["A>>B", "A>B", "A=B", "B>A", "B>>A"], ["B>>A", "B>A", "A=B", "A>B", "A>>B"]))
    assert len(replayed) == 2 * len(kept)
    for stored in kept:
        same = replayed[stored["request_id"]]["data"]
        other = replayed[stored["request_id"].replace("::ab", "::ba")]["data"]
        assert same["level"] == stored["data"]["level"]
        assert other["level"] == mirror[stored["data"]["level"]]
        assert (other["model_a"], other["model_b"]) == (stored["data"]["model_b"], stored["data"]["model_a"])
        assert other["probs"] == {mirror[k]: p for k, p in stored["data"]["probs"].items()}
    manifest = json.loads((tmp_path / "replay" / "run.json").read_text())
    assert any("mirrored" in notice for notice in manifest["judge_notices"])


def test_requests_without_a_stored_verdict_fail_with_the_reason_and_exit_1(tmp_path: Path) -> None:
    task, source = judged(tmp_path, "rubric", {"preset": "wb_score"})
    partial = tmp_path / "partial"
    partial.mkdir()
    kept = [v for v in verdicts(source).values() if v["data"]["model"] != "gamma"]
    (partial / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in kept), encoding="utf-8")
    out = tmp_path / "replay"
    result = harness_cli("run", task, "--judge", f"replay:{partial}", "--out", out, "--no-progress")
    assert result.returncode == 1, result.stderr
    assert "harness: incomplete: 5 of " in result.stderr and " requests failed (most common error: " in result.stderr
    replayed = verdicts(out)
    failed = {k: v for k, v in replayed.items() if v["status"] == "failed"}
    assert sorted(failed) == sorted(f"q{i}::gamma" for i in range(5))
    assert all("no stored verdict for item" in v["error"] and "'gamma'" in v["error"] for v in failed.values())
    assert sum(v["status"] == "ok" for v in replayed.values()) == len(kept)


def test_an_invalid_stored_verdict_replays_as_invalid(tmp_path: Path) -> None:
    task, source = judged(tmp_path, "rubric", {"preset": "wb_score"})
    edited = tmp_path / "edited"
    shutil.copytree(source, edited)
    records = list(verdicts(source).values())
    records[0] = {**records[0], "status": "invalid", "error": "no score", "data": {"model": records[0]["data"]["model"]}}
    (edited / "verdicts.jsonl").write_text("".join(json.dumps(v) + "\n" for v in records), encoding="utf-8")
    replayed = verdicts(replay(task, edited, tmp_path / "replay"))
    assert replayed[records[0]["request_id"]]["status"] == "invalid"
    assert sum(v["status"] == "ok" for v in replayed.values()) == len(records) - 1


def test_replay_neither_reads_nor_writes_the_judgment_cache(tmp_path: Path) -> None:
    task, source = judged(tmp_path, "pairwise", {})
    cache = tmp_path / "cache" / "judgments.sqlite"
    run_task(task, RunOptions(judge=f"replay:{source}", out=tmp_path / "replay", progress=False, cache=True,
                              cache_path=cache))
    assert not cache.exists()
    manifest = json.loads((tmp_path / "replay" / "run.json").read_text())
    assert manifest["usage"]["tokens_in"] == manifest["usage"]["tokens_out"] == 0
    assert manifest["judge"]["replayed_run"] == str(source.resolve())


@pytest.mark.parametrize("args,message", [
    (["--judge", "replay:{tmp}/nowhere"], "not a run directory"),
    (["--judge", "replay"], "name the run directory"),
    (["--judge", "replay:{source}", "--judge-option", "colour=blue"], "judge option colour"),
    (["--judge", "replay:{source}", "--judge-option", "judge=someone"], "has no verdicts there"),
    (["--judge", "replay:{broken}"], "broken/verdicts.jsonl:2: data must be an object"),
    (["--judge", "replay:{notjson}"], "notjson/verdicts.jsonl:3: not a verdict record"),
    (["--judge", "replay:{latin}"], "cannot read verdicts.jsonl (UnicodeDecodeError)"),
])
def test_bad_replay_specs_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    task = write_task(tmp_path, name="t", protocol="rubric", rows=ROWS, options={"preset": "wb_score"})
    source = tmp_path / "source"
    source.mkdir()
    (source / "verdicts.jsonl").write_text(json.dumps({
        "request_id": "q0::alpha", "request_key": "k", "item_id": "q0", "judge": "openai:judge", "status": "ok",
        "data": {"model": "alpha", "score": 5}}) + "\n", encoding="utf-8")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "verdicts.jsonl").write_text((source / "verdicts.jsonl").read_text(encoding="utf-8") + json.dumps({
        "request_id": "q1::alpha", "item_id": "q1", "judge": "openai:judge", "status": "ok", "data": [5]}) + "\n",
        encoding="utf-8")
    first = (source / "verdicts.jsonl").read_bytes()
    notjson = tmp_path / "notjson"
    notjson.mkdir()
    (notjson / "verdicts.jsonl").write_bytes(first + b"\n" + b'{"request_id": "q1::alpha",\n')  # line 2 blank
    latin = tmp_path / "latin"
    latin.mkdir()
    (latin / "verdicts.jsonl").write_bytes(first + first.replace(b"alpha", b"alph\xe9"))
    args = [a.format(tmp=tmp_path, source=source, broken=broken, notjson=notjson, latin=latin) for a in args]
    result = harness_cli("run", task, *args, "--out", tmp_path / "out", "--no-progress")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("source_mode,replay_mode", [("each", "all"), ("all", "each")])
def test_checklist_answers_replay_across_modes(tmp_path: Path, source_mode: str, replay_mode: str) -> None:
    """One question's answer is read out of an `all` verdict; an `all` request is put together
    from `each` answers: same YES/NO and P(YES) per (item, model, question)."""
    task, source = judged(tmp_path, "checklist", {"mode": source_mode})

    def by_question(run: dict[str, dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, float]]:
        answers = {}
        for v in run.values():
            d = v["data"]
            if "question" in d:
                answers[(v["item_id"], d["model"], d["question"])] = (d["answer"], d["p_yes"])
            else:
                for question, answer, p in zip(d["questions"], d["answers"], d["p_yes"], strict=True):
                    answers[(v["item_id"], d["model"], question)] = (answer, p)
        return answers

    replayed = verdicts(replay(task, source, tmp_path / "replay", overrides=(f"options.mode={replay_mode}",)))
    assert all(v["status"] == "ok" for v in replayed.values())
    assert all(("question" in v["data"]) == (replay_mode == "each") for v in replayed.values())
    expected = by_question(verdicts(source))
    assert len(expected) == len(ROWS) * len(MODELS) * 2
    assert by_question(replayed) == expected


def test_a_run_stopped_before_its_export_replays_from_its_store(tmp_path: Path) -> None:
    """verdicts.jsonl is rewritten when a run ends; a store written after it holds the newer verdicts."""
    task, source = judged(tmp_path, "rubric", {"preset": "wb_score"})
    stopped = tmp_path / "stopped"
    shutil.copytree(source, stopped)
    export = stopped / "verdicts.jsonl"
    export.write_text("".join(export.read_text(encoding="utf-8").splitlines(keepends=True)[:3]), encoding="utf-8")
    (stopped / "store.jsonl").touch()  # judged on after the (now partial) export was written
    os.utime(export, (1, 1))
    replayed = verdicts(replay(task, stopped, tmp_path / "replay"))
    assert len(replayed) == len(ROWS) * len(MODELS) and all(v["status"] == "ok" for v in replayed.values())


def test_the_export_is_read_a_line_at_a_time_as_json_lines_splits_it(tmp_path: Path) -> None:
    """Lines end at "\\n" only: a line break JSON allows raw inside a string (U+2028) keeps its
    record whole, a "\\r" before the "\\n" is whitespace, blank lines are skipped."""
    from harness.judges.replay_source import ReplaySource

    records = [{"request_id": f"q{i}::alpha", "request_key": f"k{i}", "item_id": f"q{i}", "judge": "openai:judge",
                "status": "ok", "data": {"model": "alpha", "score": i, "note": "one\u2028two\u0085three"}}
               for i in range(3)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (tmp_path / "verdicts.jsonl").write_bytes(
        (lines[0] + "\r\n\n" + lines[1] + "\n" + lines[2]).encode("utf-8"))  # no final newline
    source = ReplaySource.load(tmp_path)
    assert source.records == records
