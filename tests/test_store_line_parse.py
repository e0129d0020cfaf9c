"""A stored line becomes the Verdict pydantic's validation makes of it (harness.store.parse_verdict_line):
the lines store_line writes take a shorter path, and every other line, odd or broken, must come
out exactly as `Verdict.model_validate_json` gives it, or be refused as it refuses it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.models import Verdict
from harness.store import parse_verdict_line, store_line

LINE = ('{"request_id":"r","request_key":"k","item_id":"i","judge":"j","status":"ok","data":%s,"output":%s,'
        '"error":null,"tokens_in":%s,"tokens_out":0}')

ODD_LINES = [
    LINE % ('{"a":1.5}', '"o"', "3"),
    LINE % ('{"a":NaN,"b":-Infinity}', '"o"', "3"),  # pydantic reads them; orjson would refuse
    LINE % (f'{{"a":{2**70}}}', '"o"', "3"),  # beyond 64 bits: exact (orjson would make a float)
    LINE % ("{}", '"o"', "5.0"),  # pydantic converts a whole float
    LINE % ("{}", '"o"', "true"),
    LINE % ("{}", '"o"', '"7"'),
    LINE % ("{}", '"\\ud800"', "1"),  # a lone surrogate
    LINE % ('{"x":1e400}', "null", "1"),
    LINE % ("{}", "null", str(2**63)),
    LINE % ('{"s":"\\u00e9\\n","n":[1,{"b":null}]}', '"\\"q\\""', "-7"),
    LINE.replace('"status":"ok"', '"status":"weird"') % ("{}", "null", "1"),
    LINE.replace('"status":"ok"', '"status":1') % ("{}", "null", "1"),
    LINE.replace('"item_id":"i"', '"item_id":3') % ("{}", "null", "1"),
    LINE.replace('"error":null', '"error":null,"extra":1') % ("{}", "null", "1"),
    LINE.replace(',"error":null', "") % ("{}", "null", "1"),  # a field left to its default
    LINE.replace('"status":"ok"', '"status":"ok","status":"failed"') % ("{}", "null", "1"),
    LINE % ("[]", "null", "1"),
    LINE % ("null", "null", "1"),
    # another writer's key order (json.dumps with sort_keys): read, and written back in field order
    '{"data":{},"error":null,"item_id":"i","judge":"j","output":null,"request_id":"r","request_key":"k",'
    '"status":"ok","tokens_in":0,"tokens_out":0}',
    SORTED := ('{"data":{"z":1,"a":{"y":2,"b":3}},"error":null,"item_id":"i","judge":"j","output":"o",'
               '"request_id":"r","request_key":"k","status":"invalid","tokens_in":4,"tokens_out":5}'),
    SORTED.replace('"tokens_in":4', '"tokens_in":"4"'),  # out of order and a value pydantic converts
    SORTED.replace('"error":null', '"errors":null'),  # as many fields, one of them not Verdict's
    SORTED.replace('"error":null,', ""),  # one missing
    SORTED.replace('"error":null,', '"error":null,"error":"e",'),  # a duplicate key, out of order
    "[1,2]",
    "nonsense",
    '{"request_id":"r"',
]


def outcome(parse: Any, raw: bytes) -> tuple[Any, ...]:
    try:
        verdict = parse(raw)
    except ValueError as exc:
        return ("refused", type(exc).__name__)
    return ("read", repr(verdict), verdict.model_fields_set, verdict.model_dump_json(), verdict.__pydantic_extra__,
            verdict.__pydantic_private__, type(verdict))


@pytest.mark.parametrize("line", ODD_LINES)
def test_any_line_reads_as_pydantic_reads_it(line: str) -> None:
    raw = line.encode()
    assert outcome(parse_verdict_line, raw) == outcome(Verdict.model_validate_json, raw)


def test_lines_in_another_key_order_take_the_short_path_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores older versions wrote (keys sorted) are read without pydantic's validation as well."""
    expected = Verdict.model_validate_json(SORTED)

    def refuse(*args: Any, **kwargs: Any) -> Verdict:
        raise AssertionError("validated")

    monkeypatch.setattr(Verdict, "model_validate_json", refuse)
    read = parse_verdict_line(SORTED.encode())
    assert read == expected and read.model_dump_json() == expected.model_dump_json()
    assert list(read.__dict__) == list(Verdict.model_fields)


def test_written_lines_read_back_as_the_verdicts_that_were_written() -> None:
    rng = random.Random(5)
    for i in range(300):
        data: dict[str, Any] = {"model_a": f"m{rng.randint(0, 3)}", "len_a": rng.randint(0, 10**6),
                                "probs": {"A>B": rng.random(), "B>A": rng.random()}, "nested": [i, None, "é"]}
        verdict = Verdict(request_id=f"q{i}::a::b", request_key=f"{i:032x}", item_id=f"q{i}", judge="judge",
                          status=rng.choice(["ok", "invalid", "failed"]), data=data,
                          output=rng.choice([None, f"verdict {rng.random()}"]), error=rng.choice([None, "HTTP 500"]),
                          tokens_in=rng.randint(0, 5000), tokens_out=rng.randint(0, 500))
        raw = store_line(verdict).encode()
        read = parse_verdict_line(raw)
        assert read == verdict and read.model_fields_set == verdict.model_fields_set
        assert store_line(read) == store_line(verdict)
        assert outcome(parse_verdict_line, raw) == outcome(Verdict.model_validate_json, raw)
        with pytest.raises(Exception, match="frozen"):
            read.status = "ok"
