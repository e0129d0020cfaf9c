"""harness.models: judge specs, secret stripping, request keys, and task spec validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from harness.models import (
    DatasetSpec,
    Item,
    JudgeRequest,
    JudgeSpec,
    Message,
    OutputChoices,
    Sampling,
    TaskSpec,
    Verdict,
    strip_url_credentials,
)

SECRET = "sk-live-Zq8SECRET4711"

# -- JudgeSpec -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "backend", "model"), [
    ("local", "local", None),
    ("  local  ", "local", None),
    ("openai:gpt-4o", "openai", "gpt-4o"),
    ("openai:org/model:tag", "openai", "org/model:tag"),
    ("vllm:meta-llama/Llama-3.1-8B-Instruct", "vllm", "meta-llama/Llama-3.1-8B-Instruct"),
    ("local:/models/judge.gguf", "local", "/models/judge.gguf"),
    ("openai:", "openai", None),
])
def test_judge_spec_parse(text: str, backend: str, model: str | None) -> None:
    spec = JudgeSpec.parse(text)
    assert (spec.backend, spec.model) == (backend, model)
    assert spec.label == (f"{backend}:{model}" if model else backend)


@pytest.mark.parametrize("text", ["", "   ", ":gpt-4o"])
def test_judge_spec_parse_needs_a_backend(text: str) -> None:
    with pytest.raises(ValueError, match="backend"):
        JudgeSpec.parse(text)


def test_judge_spec_settings_and_validation() -> None:
    spec = JudgeSpec.parse("openai:gpt-4o", base_url="http://127.0.0.1:8000/v1", concurrency=3, timeout_s=5)
    assert (spec.base_url, spec.concurrency, spec.timeout_s) == ("http://127.0.0.1:8000/v1", 3, 5.0)
    for bad in ({"concurrency": 0}, {"timeout_s": 0}, {"colour": "red"}):
        with pytest.raises(ValidationError):
            JudgeSpec.parse("openai:gpt-4o", **bad)
    with pytest.raises(ValidationError):
        spec.model = "other"  # frozen


def test_public_dict_strips_url_credentials_and_secret_options() -> None:
    spec = JudgeSpec.parse(
        "openai:gpt-4o",
        base_url=f"https://alice:{SECRET}@llm.example.com:8443/v1?api_key={SECRET}&region=eu#frag",
        options={
            "api_key": SECRET, "auth_token": SECRET, "Password": SECRET, "client_secret": SECRET,
            "Authorization": f"Bearer {SECRET}", "headers": {"X-Api-Key": SECRET, "Accept": "json"},
            "proxy": f"http://bob:{SECRET}@proxy.local:3128", "temperature": 0.2, "n_ctx": 4096,
            "max_tokens": 64, "top_k": 5,
        },
    )
    public = spec.public_dict()
    assert SECRET not in json.dumps(public)
    assert public["base_url"] == "https://llm.example.com:8443/v1?region=eu#frag"
    # counts that merely contain "token" or "k" are settings, not secrets, and are kept
    assert public["options"] == {"headers": {"Accept": "json"}, "proxy": "http://proxy.local:3128",
                                 "temperature": 0.2, "n_ctx": 4096, "max_tokens": 64, "top_k": 5}
    assert (public["backend"], public["model"], public["concurrency"]) == ("openai", "gpt-4o", 8)
    assert SECRET not in spec.label
    # the spec itself is unchanged: the backend still needs the real values
    assert spec.options["api_key"] == SECRET and SECRET in spec.base_url


def test_public_dict_without_url() -> None:
    public = JudgeSpec.parse("local").public_dict()
    assert public["base_url"] is None and public["options"] == {}


@pytest.mark.parametrize(("url", "clean"), [
    (None, None),
    ("", ""),
    ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ("http://user@host/v1", "http://host/v1"),
    ("http://u:p@w@host/v1", "http://host/v1"),
    ("https://host/v1?token=abc&model=x&Secret_Key=1", "https://host/v1?model=x"),
])
def test_strip_url_credentials(url: str | None, clean: str | None) -> None:
    assert strip_url_credentials(url) == clean


# -- JudgeRequest.key ----------------------------------------------------------------------------

MESSAGES = (Message(role="system", content="Be fair."), Message(role="user", content="Compare A and B."))


def request(**changes: object) -> JudgeRequest:
    fields: dict[str, object] = {"id": "q1::m1::m2::ab", "item_id": "q1", "messages": MESSAGES,
                                 "sampling": Sampling(), "constraint": None, "meta": {"order": "ab"}}
    fields.update(changes)
    return JudgeRequest(**fields)


def test_request_key_is_stable() -> None:
    key = request().key
    assert len(key) == 32 and all(c in "0123456789abcdef" for c in key)
    assert request().key == key
    # copies of the parts, not the same objects
    assert request(messages=tuple(Message(**m.model_dump()) for m in MESSAGES), sampling=Sampling(temperature=0.0)).key == key
    # bookkeeping that is not sent to the judge does not change the call
    assert request(meta={"order": "ba", "len_a": 3}).key == key


@pytest.mark.parametrize("contents", [
    (), ("",), ('quote " backslash \\ slash /', "tab\tnew\nline\rcr\x00nul\x1funit\x7fdel"),
    ("Sei fair — ✓ 🙂 日本語", "line\u2028separator\u2029", "\\u0041 is not A"),
])
def test_request_key_hashes_messages_as_json_dumps_writes_them(contents: tuple[str, ...]) -> None:
    """The key hashes `json.dumps` of the call with sorted keys and no ASCII escaping; the messages
    are written without it (harness.models.messages_json), so every escape must come out the same."""
    import hashlib

    messages = tuple(Message(role="user" if i % 2 else "system", content=c) for i, c in enumerate(contents))
    made = request(messages=messages)
    payload = {"id": made.id, "messages": [{"role": m.role, "content": m.content} for m in messages],
               "sampling": made.sampling.model_dump(), "constraint": None}
    expected = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]
    assert made.key == expected


def test_request_key_is_stable_across_processes() -> None:
    script = (
        "from harness.models import JudgeRequest, Message, Sampling\n"
        "r = JudgeRequest(id='q1::m1::m2::ab', item_id='q1', messages=(Message(role='system', content='Be fair.'),"
        " Message(role='user', content='Compare A and B.')), sampling=Sampling(), meta={'order': 'ab'})\n"
        "print(r.key)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == request().key


@pytest.mark.parametrize("change", [
    {"messages": (MESSAGES[0], Message(role="user", content="Compare A and B!"))},
    {"messages": (Message(role="user", content="Be fair."), MESSAGES[1])},
    {"messages": MESSAGES[1:]},
    {"messages": tuple(reversed(MESSAGES))},
    {"sampling": Sampling(temperature=0.7)},
    {"sampling": Sampling(max_tokens=16)},
    {"sampling": Sampling(logprobs=True, top_logprobs=5)},
    {"sampling": Sampling(seed=1)},
    {"sampling": Sampling(seed=None)},
    {"constraint": OutputChoices(choices=("A", "B"))},
    {"id": "q1::m1::m2::ba"},
], ids=lambda c: next(iter(c)))
def test_request_key_changes_with_the_call(change: dict[str, object]) -> None:
    assert request(**change).key != request().key


@pytest.mark.parametrize("change", [
    {"messages": MESSAGES[1:]},
    {"attempt": 1},
    {"sampling": Sampling(max_tokens=16)},
    {"id": "q1::m1::m2::ba"},
], ids=lambda c: next(iter(c)))
def test_a_changed_copy_has_the_key_of_its_own_call(change: dict[str, object]) -> None:
    """The key is remembered once computed; a copy with changes (as a re-ask is built) must not
    carry the original's key, or the cache would replay the answer being re-asked."""
    original = request()
    original_key = original.key
    copy = original.model_copy(update=change)
    assert copy.key == request(**change).key != original_key
    assert original.model_copy().key == original_key


def test_requests_are_equal_whether_or_not_their_key_was_computed() -> None:
    used = request()
    used.key  # noqa: B018 - computes and remembers it
    assert used == request()
    assert used != request(attempt=1)


def test_request_key_distinguishes_constraints() -> None:
    ab = request(constraint=OutputChoices(choices=("A", "B"))).key
    ba = request(constraint=OutputChoices(choices=("B", "A"))).key
    abc = request(constraint=OutputChoices(choices=("A", "B", "C"))).key
    assert len({ab, ba, abc, request().key}) == 4


# -- TaskSpec and friends ------------------------------------------------------------------------


def task(**changes: object) -> dict[str, object]:
    return {"name": "demo", "protocol": "pairwise", "dataset": {"path": "d.jsonl"}, **changes}


@pytest.mark.parametrize("name", ["a/b", "../up", "a\\b", ".hidden", ""])
def test_task_spec_rejects_unsafe_names(name: str) -> None:
    with pytest.raises(ValidationError) as info:
        TaskSpec.model_validate(task(name=name))
    assert info.value.errors()[0]["loc"] == ("name",)


@pytest.mark.parametrize("name", ["demo", "demo-v2", "wild_bench.hard", "ünïcode"])
def test_task_spec_accepts_plain_names(name: str) -> None:
    assert TaskSpec.model_validate(task(name=name)).name == name


def test_task_spec_defaults_and_strictness() -> None:
    spec = TaskSpec.model_validate(task())
    assert (spec.judge, spec.template, spec.options, spec.description) == ("local", None, {}, "")
    assert spec.dataset == DatasetSpec(path="d.jsonl")
    assert spec.dataset.format == "auto" and spec.dataset.models is None
    with pytest.raises(ValidationError):
        TaskSpec.model_validate(task(extra_field=1))
    with pytest.raises(ValidationError):
        TaskSpec.model_validate(task(dataset={"path": "d.jsonl", "format": "xlsx"}))
    with pytest.raises(ValidationError):
        TaskSpec.model_validate({"name": "demo", "protocol": "pairwise"})


def test_item_instruction_is_last_user_turn() -> None:
    item = Item(id="c1", conversation=(Message(role="user", content="first"), Message(role="assistant", content="ok"),
                                       Message(role="user", content="second")), answers={"m": "x"})
    assert item.instruction == "second"
    with pytest.raises(ValidationError):
        Message(role="tool", content="x")


def test_verdict_is_frozen() -> None:
    v = Verdict(request_id="r", request_key="k", item_id="i", judge="local", status="ok", data={"level": "A>B"})
    with pytest.raises(ValidationError):
        v.status = "failed"
    with pytest.raises(ValidationError):
        Verdict(request_id="r", request_key="k", item_id="i", judge="local", status="maybe")
