"""`harness generate` through the real CLI against a real OpenAI-compatible server on loopback
(harness.testing.OpenAIServer), with faults injected: the answers land in the dataset layout
`harness run` reads, multi-turn items are answered with the model's own earlier turns, and the
run machinery (retries, resume, cache, budgets, exit codes) holds for generation too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.datasets import load_items
from harness.models import DatasetSpec
from harness.testing import OpenAIServer, Reply

ITEMS = [
    {"id": "q1", "instruction": "Name a colour.", "category": "easy"},
    {"id": "q2", "conversation": [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": "DATASET-ANSWER"},
        {"role": "user", "content": "And a vegetable?"}]},
    {"id": "q3", "instruction": "Name a planet."},
]


def answer_to(body: dict[str, Any]) -> str:
    """The server's answer: what it was asked last, so every answer is traceable to its prompt."""
    return "answer to " + body["messages"][-1]["content"]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-secret")


def generate(dataset: Path, out: Path, url: str, *extra: str, name: str = "newbie") -> int:
    return main(["generate", str(dataset), "--model", "openai:gen", "--base-url", url, "--as", name,
                 "--out", str(out), "--no-progress", *extra])


def test_answers_land_in_the_dataset_and_multi_turn_uses_the_models_own_turns(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", [{**r, "answers": {"old": "x"}} for r in ITEMS])
    out = tmp_path / "with_answers.jsonl"
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        code = generate(dataset, out, server.base_url, "--system", "Be brief.", "--temperature", "0.3",
                        "--max-tokens", "40", "--seed", "7")
        bodies = server.requests
    assert code == 0
    items = {i.id: i for i in load_items(DatasetSpec(path=out.name), tmp_path)}
    assert set(items) == {"q1", "q2", "q3"}
    assert {m for i in items.values() for m in i.answers} == {"old", "newbie"}
    assert items["q1"].answers["newbie"] == "answer to Name a colour."
    assert items["q2"].answers["newbie"] == "answer to And a vegetable?"
    # Turn 2 was asked with the model's own turn-1 answer, never the dataset's assistant turn.
    turn2 = next(b for b in bodies if b["messages"][-1]["content"] == "And a vegetable?")
    assert [m["content"] for m in turn2["messages"]] == [
        "Be brief.", "Name a fruit.", "answer to Name a fruit.", "And a vegetable?"]
    assert all(b["temperature"] == 0.3 and b["max_tokens"] == 40 and b["seed"] == 7 for b in bodies)
    assert len(bodies) == 4
    rows = {r["id"]: r for r in read_jsonl(out)}
    assert rows["q2"]["answer_turns"]["newbie"] == ["answer to Name a fruit.", "answer to And a vegetable?"]
    assert rows["q1"]["generation"]["newbie"] == {"model": "openai:gen", "system": "Be brief.", "temperature": 0.3,
                                                   "max_tokens": 40, "seed": 7}
    assert rows["q1"]["category"] == "easy"


def test_faults_are_retried_and_counted(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    out = tmp_path / "out.jsonl"
    seen: dict[str, int] = {}

    def flaky(body: dict[str, Any]) -> Reply:
        prompt = body["messages"][-1]["content"]
        seen[prompt] = seen.get(prompt, 0) + 1
        if seen[prompt] == 1:  # every prompt fails once, each a different way
            return [Reply(status=429, retry_after="0"), Reply(status=503, retry_after="0"),
                    Reply(truncate=True)][len(seen) % 3]
        return Reply(text=answer_to(body))

    with OpenAIServer(flaky) as server:
        assert generate(dataset, out, server.base_url) == 0
        assert server.faults
    manifest = json.loads((tmp_path / "out.jsonl.newbie.generate" / "run.json").read_text())
    assert manifest["invocations"][-1]["retries"] == sum(server.faults.values()) == 4
    assert manifest["usage"]["calls"] == 8 and manifest["status"] == "finished"
    assert {r["id"]: r["answers"]["newbie"] for r in read_jsonl(out)}["q3"] == "answer to Name a planet."


def test_a_failing_item_leaves_no_output_and_a_rerun_asks_only_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    out = tmp_path / "out.jsonl"

    def down_for_planets(body: dict[str, Any]) -> Reply:
        if "planet" in body["messages"][-1]["content"]:
            return Reply(status=500, retry_after="0", error="planet service down")
        return Reply(text=answer_to(body))

    with OpenAIServer(down_for_planets) as server:
        assert generate(dataset, out, server.base_url) == 1
    assert not out.exists()
    assert "1 items have no answer" in capsys.readouterr().err
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, out, server.base_url, "--no-cache") == 0
        assert [b["messages"][-1]["content"] for b in server.requests] == ["Name a planet."]
    assert len(read_jsonl(out)) == 3


def test_a_fatal_error_stops_with_exit_1_and_the_rerun_resumes(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    out = tmp_path / "out.jsonl"
    calls = {"n": 0}

    def dies_after_two(body: dict[str, Any]) -> Reply:
        calls["n"] += 1
        return Reply(text=answer_to(body)) if calls["n"] <= 2 else Reply(status=401, error="key revoked")

    with OpenAIServer(dies_after_two) as server:
        assert generate(dataset, out, server.base_url, "--concurrency", "1") == 1
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, out, server.base_url, "--no-cache") == 0
        asked_again = len(server.requests)
    assert asked_again == 4 - 2  # the two stored answers are not asked again


def test_the_cache_serves_a_second_generation_and_is_apart_from_judge_calls(tmp_path: Path) -> None:
    from harness.generate.requests import GENERATION_VERSION
    from harness.models import JudgeRequest, JudgeSpec, Message
    from harness.running.cache import CacheKeys

    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, tmp_path / "a.jsonl", server.base_url) == 0
        first = len(server.requests)
        assert generate(dataset, tmp_path / "b.jsonl", server.base_url) == 0
        assert len(server.requests) == first  # every answer came from the cache
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    request = JudgeRequest(id="x", item_id="x", messages=(Message(role="user", content="hi"),))
    spec = JudgeSpec.parse("openai:gen")
    assert CacheKeys(spec, GENERATION_VERSION)(request) != CacheKeys(spec, "1")(request)


def test_answers_of_the_same_name_are_never_replaced_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", [{**r, "answers": {"newbie": "theirs"}} for r in ITEMS])
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, dataset, server.base_url) == 2
        assert "already has answers" in capsys.readouterr().err
        assert server.requests == []
        assert {r["answers"]["newbie"] for r in read_jsonl(dataset)} == {"theirs"}
        other = tmp_path / "other.jsonl"
        other.write_text("keep me\n")
        assert generate(write_jsonl(tmp_path / "plain.jsonl", ITEMS), other, server.base_url) == 2
        assert other.read_text() == "keep me\n"
        assert generate(dataset, dataset, server.base_url, "--overwrite") == 0
    assert {r["id"]: r["answers"]["newbie"] for r in read_jsonl(dataset)}["q1"] == "answer to Name a colour."
    # The same command again (in place) is a resume of its own answers, not an overwrite.
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, dataset, server.base_url, "--overwrite") == 0


def test_in_place_rerun_of_a_finished_generation_is_accepted(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, dataset, server.base_url) == 0
        assert generate(dataset, dataset, server.base_url) == 0
        assert len(server.requests) == 4


@pytest.mark.parametrize("layout", ["csv_columns", "long"])
def test_other_layouts_keep_their_shape(tmp_path: Path, layout: str) -> None:
    if layout == "csv_columns":
        dataset = tmp_path / "items.csv"
        dataset.write_text("id,instruction,answer:old\nq1,Name a colour.,red\nq3,Name a planet.,Mars\n")
        out = tmp_path / "out.csv"
    else:
        dataset = write_jsonl(tmp_path / "items.jsonl", [
            {"id": "q1", "instruction": "Name a colour.", "model": "old", "answer": "red"},
            {"id": "q1", "instruction": "Name a colour.", "model": "older", "answer": "blue"},
            {"id": "q3", "instruction": "Name a planet.", "model": "old", "answer": "Mars"}])
        out = tmp_path / "out.jsonl"
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, out, server.base_url) == 0
    items = load_items(DatasetSpec(path=out.name), tmp_path)
    assert [i.answers["newbie"] for i in items] == ["answer to Name a colour.", "answer to Name a planet."]
    assert items[0].answers["old"] == "red"
    if layout == "csv_columns":
        assert "answer:newbie" in out.read_text().splitlines()[0]


def test_budget_stops_cleanly_and_the_rerun_continues(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    out = tmp_path / "out.jsonl"
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, out, server.base_url, "--max-calls", "2", "--concurrency", "1") == 1
        assert len(server.requests) == 2 and not out.exists()
        assert generate(dataset, out, server.base_url, "--no-cache") == 0
        assert len(server.requests) == 4


def test_cost_is_accounted_with_the_price_table(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    prices = tmp_path / "prices.yaml"
    prices.write_text("gen: {input: 1000000, output: 2000000}\n")  # 1 and 2 USD per token: easy sums
    with OpenAIServer(lambda body: Reply(text="two words", prompt_tokens=5)) as server:
        assert generate(dataset, tmp_path / "out.jsonl", server.base_url, "--prices", str(prices)) == 0
    usage = json.loads((tmp_path / "out.jsonl.newbie.generate" / "run.json").read_text())["usage"]
    assert (usage["tokens_in"], usage["tokens_out"]) == (4 * 5, 4 * 2)
    assert usage["cost"]["usd"] == pytest.approx(4 * 5 * 1 + 4 * 2 * 2)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    assert main(["generate", str(dataset), "--model", "nosuchbackend", "--as", "x",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert main(["generate", str(tmp_path / "missing.jsonl"), "--model", "openai:gen", "--as", "x",
                 "--out", str(tmp_path / "o.jsonl")]) == 2
    assert generate(dataset, tmp_path / "o.jsonl", "http://127.0.0.1:9/v1", name="") == 2
    assert generate(dataset, tmp_path / "o.jsonl", "http://127.0.0.1:9/v1", name=" padded ") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("harness: error:") for line in err)
    assert "--as ''" in err[2] and not (tmp_path / "o.jsonl..generate").exists()


def test_the_models_max_attempts_option_bounds_its_retries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", [ITEMS[0], ITEMS[2]])
    with OpenAIServer(lambda body: Reply(status=500, retry_after="0", error="down")) as server:
        assert generate(dataset, tmp_path / "o.jsonl", server.base_url, "--model-option", "max_attempts=2") == 1
        asked = len(server.requests)
    assert asked == 2 * 2  # two items, two attempts each (the default is four)
    assert "after 2 attempts" in capsys.readouterr().err


def test_empty_answers_are_kept_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", ITEMS)
    out = tmp_path / "out.jsonl"
    with OpenAIServer(lambda body: Reply(text="" if "colour" in body["messages"][-1]["content"] else answer_to(body))) \
            as server:
        assert generate(dataset, out, server.base_url) == 0
    printed = capsys.readouterr().out
    assert "warning: 1 of 3 answers are empty" in printed
    assert {r["id"]: r["answers"]["newbie"] for r in read_jsonl(out)}["q1"] == ""
    manifest = json.loads((tmp_path / "out.jsonl.newbie.generate" / "run.json").read_text())
    assert manifest["empty_answers"] == 1


def test_a_reasoning_models_trace_is_kept_in_the_dataset_but_not_in_its_next_turns_history(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", [ITEMS[1]])
    out = tmp_path / "out.jsonl"

    def thinker(body: dict[str, Any]) -> Reply:
        return Reply(text="<think>pondering</think>" + answer_to(body))

    with OpenAIServer(thinker) as server:
        assert generate(dataset, out, server.base_url) == 0
        turn2 = server.requests[-1]["messages"]
    assert [m["content"] for m in turn2] == ["Name a fruit.", "answer to Name a fruit.", "And a vegetable?"]
    row = read_jsonl(out)[0]
    assert row["answers"]["newbie"] == "<think>pondering</think>answer to And a vegetable?"


def test_limit_answers_the_first_items_and_keeps_every_row(tmp_path: Path) -> None:
    dataset = write_jsonl(tmp_path / "items.jsonl", [{**r, "answers": {"old": "x"}} for r in ITEMS])
    with OpenAIServer(lambda body: Reply(text=answer_to(body))) as server:
        assert generate(dataset, dataset, server.base_url, "--limit", "1") == 0
    rows = read_jsonl(dataset)
    assert [r["id"] for r in rows] == ["q1", "q2", "q3"]
    assert [sorted(r["answers"]) for r in rows] == [["newbie", "old"], ["old"], ["old"]]


def test_a_run_resumed_after_a_model_is_generated_into_its_dataset_judges_the_new_model(tmp_path: Path) -> None:
    """Generating a model into a dataset in place adds answers, not new items: the run directory
    that judged the dataset before takes the new model (a changed item would be refused)."""
    from harness.testing.tasks import write_task

    task = write_task(tmp_path, name="grow", protocol="pairwise", rows=[{**r, "answers": {"base": "b"}} for r in ITEMS],
                      options={"baselines": ["base"], "verdict_format": "labels", "n_bootstrap": 20, "reask": 0})
    dataset = tmp_path / "data.jsonl"
    with OpenAIServer(lambda body: Reply(text="[[A=B]]" if "<answer_" in json.dumps(body) else answer_to(body))) as server:
        assert generate(dataset, dataset, server.base_url, name="first") == 0
        judge = ["run", str(task), "--judge", "openai:judge", "--base-url", server.base_url, "--out",
                 str(tmp_path / "run"), "--no-progress"]
        assert main(judge) == 0
        assert generate(dataset, dataset, server.base_url, name="second") == 0
        assert main(judge) == 0
    scores = (tmp_path / "run" / "scores.csv").read_text()
    assert "first" in scores and "second" in scores
