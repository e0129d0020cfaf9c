"""Pydantic models shared by the core and plugins.

Everything that crosses a module boundary is one of these: they validate user input at the edge
(TaskSpec, JudgeSpec) and keep in-flight data immutable (JudgeRequest, JudgeResponse, Verdict).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    role: Role
    content: str


class Item(BaseModel):
    """One instruction with every model's answer to it.

    `conversation` holds the turns before the answer (ending with a user turn); for a single-turn
    item it is just the instruction. `answers` maps model name to that model's final reply.
    """

    model_config = ConfigDict(frozen=True)
    id: str
    conversation: tuple[Message, ...]
    answers: dict[str, str]
    reference: str | None = None
    category: str | None = None
    #: YES/NO questions a good answer satisfies (TICK / WildBench), when the dataset gives them.
    checklist: tuple[str, ...] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def instruction(self) -> str:
        """The last user turn: what the answers respond to."""
        return self.conversation[-1].content


class DatasetSpec(BaseModel):
    """Where the items come from and which columns mean what."""

    model_config = ConfigDict(extra="forbid")
    path: str
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    id_field: str = "id"
    instruction_field: str = "instruction"
    conversation_field: str = "conversation"
    reference_field: str = "reference"
    category_field: str = "category"
    checklist_field: str = "checklist"
    answers_field: str = "answers"
    model_field: str = "model"
    answer_field: str = "answer"
    models: list[str] | None = None


class JudgeSettings(BaseModel):
    """A judge in a task file written out in full: the spec plus the backend's settings."""

    model_config = ConfigDict(extra="forbid")
    spec: str
    #: One URL, or several (a list, or comma-separated) that calls are balanced across.
    base_url: str | list[str] | None = None
    concurrency: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        """Only what the task file set, so JudgeSpec keeps its defaults for the rest."""
        return self.model_dump(exclude={"spec"}, exclude_none=True, exclude_defaults=True)


class TaskSpec(BaseModel):
    """A task file after validation. `options` is checked by the protocol plugin's own model."""

    model_config = ConfigDict(extra="forbid")
    name: str
    protocol: str
    dataset: DatasetSpec
    #: `local`, `openai:gpt-4o`, ... or a mapping {spec, base_url, concurrency, timeout_s, options}.
    judge: str | JudgeSettings = "local"
    #: A panel: several of what `judge` takes, each asked every request (see harness.running.judges).
    judges: list[str | JudgeSettings] | None = None
    template: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    #: A price table (YAML/JSON: model -> {input, output} USD per 1M tokens), relative to the task file.
    prices: str | None = None
    #: Settings of `harness audit` on this task (probes, items, padding; see harness.audit.config);
    #: checked by the audit, ignored by a run.
    audit: dict[str, Any] | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\") or value.startswith("."):
            raise ValueError("must be a plain name (no slashes, not starting with '.')")
        return value

    @model_validator(mode="after")
    def _one_judge_key(self) -> TaskSpec:
        if self.judges is not None:
            if "judge" in self.model_fields_set:
                raise ValueError("give either `judge:` (one judge) or `judges:` (a panel), not both")
            if not self.judges:
                raise ValueError("judges: needs at least one judge")
        return self

    def record(self) -> dict[str, Any]:
        """The task as run.json keeps it: validated, with only the judge key the file used, and its
        judges' settings without secrets (a base_url's `user:pass@`, an extra_body `api_key`), as
        JudgeSpec.public_dict writes a judge."""
        record = self.model_dump(mode="json", exclude={"audit", "judge" if self.judges is not None else "judges"})
        for key in ("judge", "judges"):
            if key in record:
                record[key] = _without_secrets(record[key])
        return record

    @property
    def judge_entries(self) -> list[str | JudgeSettings]:
        """Every judge the task file names: the panel's, else the one `judge`."""
        return list(self.judges) if self.judges is not None else [self.judge]


class JudgeSpec(BaseModel):
    """Which judge to ask: `backend[:model]` plus the settings a backend needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    backend: str
    model: str | None = None
    base_url: str | None = None
    concurrency: int = Field(default=8, ge=1)
    timeout_s: float = Field(default=120.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("base_url", mode="before")
    @classmethod
    def _join_base_urls(cls, value: Any) -> Any:
        """Several endpoints (a list) are kept as one comma-separated string; see `base_urls`."""
        if isinstance(value, (list, tuple)):
            return ",".join(str(v).strip() for v in value if str(v).strip()) or None
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_urls(cls, value: str | None) -> str | None:
        """Each URL must be http(s) with a host and a valid port: a typo is bad input at once,
        not a run that spends its retries on a server that cannot exist."""
        for url in split_base_urls(value):
            problem = url_problem(url)
            if problem:
                raise ValueError(f"{strip_url_credentials(url)!r} is not a usable server URL ({problem}; "
                                 "expected e.g. http://127.0.0.1:8000/v1)")
        return value

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every endpoint: a comma only separates URLs where the next one starts with a scheme."""
        return split_base_urls(self.base_url)

    @classmethod
    def parse(cls, spec: str, **settings: Any) -> JudgeSpec:
        """`local`, `openai:gpt-4o`, `vllm:meta-llama/...`: the backend name, then its model."""
        backend, _, model = spec.strip().partition(":")
        if not backend:
            raise ValueError(f"judge spec {spec!r} has no backend name")
        return cls(backend=backend, model=model or None, **settings)

    @property
    def label(self) -> str:
        """The spec as a user writes it; never carries a key or URL credentials."""
        return f"{self.backend}:{self.model}" if self.model else self.backend

    def public_dict(self) -> dict[str, Any]:
        """What may be written to a run directory: no secrets, no credentials in URLs."""
        data = self.model_dump()
        data["base_url"] = ",".join(strip_url_credentials(u) or "" for u in self.base_urls) or None
        data["options"] = _without_secrets(self.options)
        return data


class Sampling(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    temperature: float = 0.0
    max_tokens: int = 512
    logprobs: bool = False
    top_logprobs: int = 0
    seed: int | None = 0


class OutputChoices(BaseModel):
    """Restrict the judge's output to one of these exact strings, where the backend can.

    A backend that cannot enforce it ignores it; the protocol's parser still checks the text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    choices: tuple[str, ...]


class JudgeRequest(BaseModel):
    """One judge call. `key` is a content hash, so the same call is recognised across runs."""

    model_config = ConfigDict(frozen=True)
    id: str
    item_id: str
    messages: tuple[Message, ...]
    sampling: Sampling = Sampling()
    constraint: OutputChoices | None = None
    #: JSON Schema the output must match, where the backend supports structured output
    #: (OpenAI `response_format`, llama.cpp `json_schema`, vLLM structured outputs).
    json_schema: dict[str, Any] | None = None
    #: 0 for the first ask; n for the n-th re-ask after an unparseable answer, so each re-ask is a
    #: new call with its own cache key instead of a replay of the same bad answer.
    attempt: int = 0
    meta: dict[str, Any] = Field(default_factory=dict)

    def call_payload(self) -> dict[str, Any]:
        """What the judge is asked, as hashed into the request key and the judgment cache key
        (`payload_json` writes the same members as JSON without building this dict)."""
        payload: dict[str, Any] = {
            "messages": [m.model_dump() for m in self.messages],
            "sampling": self.sampling.model_dump(),
            "constraint": self.constraint.model_dump() if self.constraint else None,
        }
        # Only when set, so keys (and caches) from before these fields existed stay valid.
        if self.json_schema is not None:
            payload["json_schema"] = self.json_schema
        if self.attempt:
            payload["attempt"] = self.attempt
        return payload

    #: `key`, computed on first use: the run looks a request up by key several times, and hashing
    #: the rendered prompt each time was a tenth of the CPU of a judge call.
    _key: str | None = PrivateAttr(default=None)
    #: `call_payload` as JSON, member by member (see `payload_json`), computed on first use.
    _payload_json: dict[str, bytes] | None = PrivateAttr(default=None)

    # Both are read from the private-attribute dict itself: `self._key` goes through pydantic's
    # `__getattr__` fallback (3 us a read), and a run reads each request's key several times
    # (pending, twice; its verdict; the verdicts at the end), a twentieth of a judge call's CPU.
    @property
    def key(self) -> str:
        private = self.__pydantic_private__
        key = private["_key"]  # type: ignore[index]
        if key is None:
            digest = sha256_of_members({**_id_member(self.id), **self.payload_json()})
            key = private["_key"] = digest.hexdigest()[:32]  # type: ignore[index]
        return key

    def payload_json(self) -> dict[str, bytes]:
        """Each member of `call_payload` as its `"name": value` piece of the object that
        `json.dumps(payload, sort_keys=True, ensure_ascii=False)` writes, in UTF-8: the request key
        and the judgment cache key both hash the payload, and encoding the rendered prompt once for
        both halves that work (`sha256_of_members` puts the pieces together)."""
        private = self.__pydantic_private__
        payload = private["_payload_json"]  # type: ignore[index]
        if payload is None:
            members = {"messages": messages_json(self.messages), "sampling": _part_json(self.sampling),
                       "constraint": _part_json(self.constraint)}
            if self.json_schema is not None:
                members["json_schema"] = SORTED_JSON.encode(self.json_schema)
            if self.attempt:
                members["attempt"] = SORTED_JSON.encode(self.attempt)
            payload = private["_payload_json"] = json_members(members)  # type: ignore[index]
        return payload

    def __eq__(self, other: object) -> bool:
        """Equal when the fields are (whether or not either has computed its key yet)."""
        if not isinstance(other, BaseModel):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> JudgeRequest:
        """A copy; with `update` its key is computed afresh (the copied one would be stale)."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            copy._key = None
            copy._payload_json = None
        return copy


def json_members(members: dict[str, str]) -> dict[str, bytes]:
    """Members whose values are already JSON, each as its `"name": value` piece of an object, in
    UTF-8 (for `sha256_of_members`)."""
    return {name: (_json_name(name) + ": " + value).encode() for name, value in members.items()}


def sha256_of_members(members: dict[str, bytes]) -> Any:
    """sha256 of the object made of these pieces (`json_members`), its bytes exactly as
    `json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()` writes them, so keys hashed
    from it do not change; the pieces are encoded once, not the whole object for every key."""
    return hashlib.sha256(b"{" + b", ".join([members[name] for name in sorted(members)]) + b"}")


def _id_member(request_id: str) -> dict[str, bytes]:
    return {"id": b'"id": ' + SORTED_JSON.encode(request_id).encode()}


def messages_json(messages: tuple[Message, ...]) -> str:
    """`SORTED_JSON.encode([m.model_dump() for m in messages])`, the same text written directly
    (a message is two strings): half the CPU of a request's key, most of it the dumps and the
    encoder's walk, not the prompt's text."""
    return "[" + ", ".join(['{"content": ' + _json_string(m.content) + ', "role": ' + _json_string(m.role) + "}"
                            for m in messages]) + "]"


def _part_json(part: Sampling | OutputChoices | None) -> str:
    """`SORTED_JSON.encode(part.model_dump())` (None: `null`), remembered for the object itself:
    a protocol gives all its requests the same sampling and constraint objects, and dumping and
    encoding them for every request cost a sixth of its key. By identity, not equality, so two
    equal parts that would write differently (0.0 and -0.0) never share a text."""
    if part is None:
        return "null"
    known = _PART_JSON.get(id(part))
    if known is not None and known[0] is part:
        return known[1]
    if len(_PART_JSON) >= 64:
        _PART_JSON.clear()
    text = SORTED_JSON.encode(part.model_dump())
    _PART_JSON[id(part)] = (part, text)  # the object is kept, so its id is not reused meanwhile
    return text


_PART_JSON: dict[int, tuple[BaseModel, str]] = {}


#: A string as `SORTED_JSON` writes it (no ASCII escaping): the C function its encoder calls.
_json_string = json.encoder.encode_basestring


#: `json.dumps(value, sort_keys=True, ensure_ascii=False)`, with the encoder built once (json.dumps
#: builds one per call when given options, which cost as much as encoding a short prompt): the
#: request and cache keys (the store's and verdicts.jsonl's lines are pydantic's: harness.store.store_line).
SORTED_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _json_name(name: str) -> str:
    """A member name as JSON: the same dozen names every call, so encoded once."""
    return SORTED_JSON.encode(name)


class TokenLogprob(BaseModel):
    """One generated token with its log-probability and the top alternatives at that position.

    -inf (a token with no chance, e.g. masked by a choice constraint) is written to JSON as
    `-Infinity`, which reads back as -inf; JSON's default, null, would not read back as a float.
    Null alternatives that older caches hold are dropped on reading."""

    model_config = ConfigDict(frozen=True, ser_json_inf_nan="constants")
    token: str
    logprob: float
    top: dict[str, float] = Field(default_factory=dict)

    @field_validator("top", mode="before")
    @classmethod
    def _drop_null_alternatives(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {token: logprob for token, logprob in value.items() if logprob is not None}
        return value


class JudgeResponse(BaseModel):
    model_config = ConfigDict(frozen=True)
    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    #: With OutputChoices, where the backend can score them: log P(choice) for every choice.
    choice_logprobs: dict[str, float] | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    model: str | None = None
    latency_s: float = 0.0


VerdictStatus = Literal["ok", "invalid", "failed"]


class Verdict(BaseModel):
    """What a protocol made of one judge call.

    `ok`: a parsed verdict. `invalid`: the judge answered but the output did not parse; it is
    counted, never scored. `failed`: the call itself failed after retries; it is retried on the
    next run and never scored. Protocol-specific fields live in `data`.
    """

    model_config = ConfigDict(frozen=True)
    request_id: str
    request_key: str
    item_id: str
    judge: str
    status: VerdictStatus
    data: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0


#: Names of settings that hold credentials: `api_key`, `auth_token`, `Authorization`, `secret`...
#: but not counts such as `max_tokens` or `top_k`.
_SECRET_NAME = re.compile(r"(^|[_\-])(api_?key|key|token|password|passwd|credentials?)$|authorization|cookie|secret")


def _looks_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.lower()))


def _without_secrets(value: Any) -> Any:
    """Drop secret-looking keys at any depth (`headers: {Authorization: ...}`) and URL credentials."""
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items() if not (isinstance(k, str) and _looks_secret(k))}
    if isinstance(value, (list, tuple)):
        return [_without_secrets(v) for v in value]
    if isinstance(value, str) and "://" in value:  # one URL, or several joined by commas (a base_url)
        return ",".join(strip_url_credentials(url) or "" for url in split_base_urls(value))
    return value


def split_base_urls(value: str | None) -> tuple[str, ...]:
    """`http://a/v1,http://b/v1` -> both URLs; a comma inside one URL (a query) stays in it."""
    if not value:
        return ()
    return tuple(u.strip() for u in re.split(r",\s*(?=[A-Za-z][A-Za-z0-9+.\-]*://)", value) if u.strip())


def url_problem(url: str) -> str | None:
    """What makes `url` unusable as an HTTP server address, or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    if any(c.isspace() for c in url):
        return "it contains spaces"
    return None


def strip_url_credentials(url: str | None) -> str | None:
    """Drop `user:pass@` and secret-looking query parameters from a URL before it is stored."""
    if not url:
        return url
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if not _looks_secret(k)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
