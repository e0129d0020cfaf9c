"""The shared judgment cache: what makes two calls the same, several writers, nothing failed kept."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from harness.models import JudgeRequest, JudgeResponse, JudgeSpec, Message, OutputChoices, Sampling, TokenLogprob
from harness.running.cache import JudgmentCache, cache_key
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.running.runner import RetryPolicy
from harness.testing import OpenAIServer, Reply
from harness.testing.tasks import write_task

SPEC = JudgeSpec.parse("openai:judge-1", base_url="http://127.0.0.1:9/v1")
REQUEST = JudgeRequest(id="q1::a::b::ab", item_id="q1", messages=(Message(role="user", content="Which is better?"),))


def test_round_trip_keeps_text_logprobs_and_choice_distribution(tmp_path: Path) -> None:
    cache = JudgmentCache(tmp_path / "c.sqlite")
    response = JudgeResponse(
        text="A", logprobs=(TokenLogprob(token="A", logprob=-0.1, top={"A": -0.1, "B": -2.4}),),
        choice_logprobs={"A": -0.1, "B": -2.4}, tokens_in=40, tokens_out=1,
    )
    key = cache_key(SPEC, REQUEST, "1")
    assert cache.get(key) is None
    cache.put(key, response)
    assert cache.get(key) == response
    assert (cache.hits, cache.misses) == (1, 1)
    cache.close()
    assert JudgmentCache(tmp_path / "c.sqlite").get(key) == response  # on disk, across processes' lifetimes


def test_the_key_covers_what_changes_an_answer_and_nothing_else() -> None:
    key = cache_key(SPEC, REQUEST, "1")
    changed = [
        cache_key(JudgeSpec.parse("openai:judge-2", base_url=SPEC.base_url), REQUEST, "1"),
        cache_key(JudgeSpec.parse("openai:judge-1", base_url="http://127.0.0.1:10/v1"), REQUEST, "1"),
        cache_key(SPEC, REQUEST.model_copy(update={"messages": (Message(role="user", content="Which is worse?"),)}), "1"),
        cache_key(SPEC, REQUEST.model_copy(update={"sampling": Sampling(temperature=0.7)}), "1"),
        cache_key(SPEC, REQUEST.model_copy(update={"constraint": OutputChoices(choices=("A", "B"))}), "1"),
        cache_key(SPEC, REQUEST, "2"),
        cache_key(SPEC, REQUEST.model_copy(update={"json_schema": {"type": "object"}}), "1"),
        cache_key(SPEC, REQUEST.model_copy(update={"attempt": 1}), "1"),  # a re-ask is never a replay
        cache_key(JudgeSpec.parse("openai:judge-1", base_url=SPEC.base_url, options={"extra_body": {"top_k": 1}}),
                  REQUEST, "1"),
    ]
    assert len({key, *changed}) == len(changed) + 1
    same = [
        cache_key(JudgeSpec.parse("openai:judge-1", base_url=SPEC.base_url, concurrency=64, timeout_s=5), REQUEST, "1"),
        cache_key(JudgeSpec.parse("openai:judge-1", base_url="http://user:secret@127.0.0.1:9/v1"), REQUEST, "1"),
        # how calls are scheduled never changes an answer
        cache_key(JudgeSpec.parse("openai:judge-1", base_url=SPEC.base_url, options={
            "rpm": 60, "tpm": 1000, "transport": "aiohttp", "max_retry_wait_s": 5, "max_attempts": 2}), REQUEST, "1"),
    ]
    assert set(same) == {key}


def test_refresh_reads_nothing_but_writes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    old = JudgmentCache(path)
    old.put("k", JudgeResponse(text="old"))
    old.close()  # answers are written in groups: flush or close writes them
    fresh = JudgmentCache(path, refresh=True)
    assert fresh.get("k") is None and fresh.misses == 1
    fresh.put("k", JudgeResponse(text="new"))
    fresh.flush()
    assert JudgmentCache(path).get("k").text == "new"


def _write_many(path: str, writer: int, count: int) -> None:
    cache = JudgmentCache(Path(path))
    for i in range(count):
        cache.put(f"{writer}-{i}", JudgeResponse(text=f"{writer}:{i}"))
    cache.close()


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    JudgmentCache(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_many, args=(str(path), w, 150)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    cache = JudgmentCache(path)
    assert all(cache.get(f"{w}-{i}").text == f"{w}:{i}" for w in range(4) for i in range(150))


def test_failed_calls_are_never_cached_and_answers_are_shared_across_runs(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"yes {i}", "b": f"no {i}"}} for i in range(3)]
    task = write_task(tmp_path, name="cached", protocol="pairwise", rows=rows,
                      options={"n_bootstrap": 10, "verdict_format": "binary", "reasoning": False})
    broken = {"q1"}

    def responder(body: dict) -> Reply:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        if "question 1" in user and broken:
            return Reply(status=500, error="down")
        return Reply(text="A")

    options = {"judge": "openai:judge", "progress": False, "cache_path": tmp_path / "cache.sqlite",
                   "retry": RetryPolicy(max_attempts=2, initial_wait_s=0.001, max_wait_s=0.002)}
    with OpenAIServer(responder) as server:
        first = run_task(task, RunOptions(base_url=server.base_url, out=tmp_path / "r1", **options))
        assert first.manifest["counts"] == {"ok": 4, "invalid": 0, "failed": 2, "pending": 0}
        served_after_first = len(server.requests)
        broken.clear()
        second = run_task(task, RunOptions(base_url=server.base_url, out=tmp_path / "r2", **options))
        # the 4 answers come from the cache; only the 2 failed calls are made again
        assert len(server.requests) - served_after_first == 2
        assert second.manifest["counts"]["ok"] == 6
        assert second.manifest["invocations"][-1]["cache"]["hits"] == 4
    verdicts = [json.loads(line) for line in (tmp_path / "r2" / "verdicts.jsonl").read_text().splitlines()]
    assert {v["status"] for v in verdicts} == {"ok"}


def test_a_queued_answer_is_found_before_it_is_written_and_close_writes_it(tmp_path: Path) -> None:
    cache = JudgmentCache(tmp_path / "c.sqlite")
    key = cache_key(SPEC, REQUEST, "1")
    cache.put(key, JudgeResponse(text="first"))
    cache.put(key, JudgeResponse(text="second"))  # the later answer wins, as with one commit per put
    assert cache.get(key) == JudgeResponse(text="second")
    cache.close()
    assert JudgmentCache(tmp_path / "c.sqlite").get(key) == JudgeResponse(text="second")


def test_every_stored_verdict_has_its_answer_cached_when_it_reaches_the_disk(tmp_path: Path, monkeypatch) -> None:
    """Answers are written in groups, but never after the verdicts they made: a run killed
    between the two would otherwise pay again for answers whose verdicts it had counted."""
    import sqlite3

    from harness.store import RunDirectory

    rows = [{"id": f"q{i}", "instruction": f"question {i}", "answers": {"a": f"yes {i}", "b": f"no {i}"}} for i in range(20)]
    task = write_task(tmp_path, name="cached", protocol="pairwise", rows=rows,
                      options={"n_bootstrap": 10, "verdict_format": "binary", "reasoning": False})
    cache_path = tmp_path / "cache.sqlite"
    seen: list[tuple[int, int]] = []  # (verdict lines on disk after this write, answers in the cache file)
    write = RunDirectory._write

    def checked_write(self: RunDirectory, text: str) -> None:
        write(self, text)
        lines = (self.path / "store.jsonl").read_text().count("\n")
        with sqlite3.connect(cache_path) as db:
            seen.append((lines, db.execute("SELECT count(*) FROM judgments").fetchone()[0]))

    monkeypatch.setattr(RunDirectory, "_write", checked_write)
    with OpenAIServer(lambda body: Reply(text="A")) as server:
        run_task(task, RunOptions(judge="openai:judge", base_url=server.base_url, out=tmp_path / "run",
                                  progress=False, cache_path=cache_path, concurrency=8))
    assert seen and seen[-1][0] == 40
    assert all(answers >= lines for lines, answers in seen), seen


def test_keys_hash_the_same_json_as_before_so_old_caches_and_runs_stay_valid() -> None:
    """Both keys are put together from JSON encoded once per request: they must stay the sha256 of
    the whole object written by json.dumps(sort_keys=True, ensure_ascii=False), or every cache
    and run directory written before would be missed."""
    import hashlib

    spec = JudgeSpec(backend="openai", model="m", base_url="http://localhost:1/v1", options={"rpm": 5, "top_k": 3})
    fixed = {"judge": {"backend": "openai", "model": "m", "base_url": "http://localhost:1/v1"},
             "judge_options": {"top_k": 3}, "protocol_version": "7"}
    requests = [
        JudgeRequest(id="q1::a::b", item_id="q1", messages=(Message(role="user", content="Compare A and B."),)),
        JudgeRequest(id="q2::ä::b", item_id="q2",
                     messages=(Message(role="system", content="Sei fair — ✓"), Message(role="user", content='"x"\n')),
                     sampling=Sampling(temperature=0.7, logprobs=True, top_logprobs=5, seed=None),
                     constraint=OutputChoices(choices=("A", "B")), attempt=2,
                     json_schema={"type": "object", "properties": {"z": {"type": "string"}, "a": {"enum": [1, 2.5]}}}),
    ]
    for request in requests:
        payload = request.call_payload()
        expected_request_key = hashlib.sha256(json.dumps({"id": request.id, **payload}, sort_keys=True,
                                                         ensure_ascii=False).encode()).hexdigest()[:32]
        expected_cache_key = hashlib.sha256(json.dumps({**fixed, **payload}, sort_keys=True,
                                                       ensure_ascii=False).encode()).hexdigest()
        assert request.key == expected_request_key
        assert cache_key(spec, request, "7") == expected_cache_key
        copy = request.model_copy(update={"attempt": 3})
        assert copy.key != request.key
        assert cache_key(spec, copy, "7") == hashlib.sha256(json.dumps(
            {**fixed, **copy.call_payload()}, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def test_prefetched_keys_answer_as_the_file_does_and_an_answer_put_later_is_found(tmp_path: Path) -> None:
    """`prefetch` looks many keys up at once; `get` then answers from what it found: a stored
    answer is still read, an absent key is a miss, and an answer put after the prefetch (another
    request with the same call, earlier in the run) is found, queued or written."""
    path = tmp_path / "c.sqlite"
    requests = [REQUEST.model_copy(update={"messages": (Message(role="user", content=f"Question {i}?"),)})
                for i in range(1200)]  # more keys than one prefetch query takes
    keys = [cache_key(SPEC, r, "1") for r in requests]
    writer = JudgmentCache(path)
    for key in keys[::3]:
        writer.put(key, JudgeResponse(text=f"stored {key}"))
    writer.close()

    cache = JudgmentCache(path)
    cache.prefetch(keys)
    assert [cache.get(key) for key in keys[:6]] == [JudgeResponse(text=f"stored {keys[0]}"), None, None,
                                                    JudgeResponse(text=f"stored {keys[3]}"), None, None]
    assert cache.get(keys[-2]) is None and cache.get(keys[-3]) == JudgeResponse(text=f"stored {keys[-3]}")
    cache.put(keys[7], JudgeResponse(text="paid now"))
    assert cache.get(keys[7]) == JudgeResponse(text="paid now")  # queued
    cache.flush()
    assert cache.get(keys[7]) == JudgeResponse(text="paid now")  # written
    cache.put(keys[8], JudgeResponse(text="paid too"))
    cache.flush()
    assert cache.get(keys[8]) == JudgeResponse(text="paid too")  # written before it was asked
    other = JudgmentCache(path)
    other.put(keys[10], JudgeResponse(text="another process"))
    other.close()
    cache.prefetch(keys[9:12])  # looked up again: what is stored now is found
    assert cache.get(keys[10]) == JudgeResponse(text="another process")
    assert (cache.hits, cache.misses) == (7, 5)
    cache.close()
