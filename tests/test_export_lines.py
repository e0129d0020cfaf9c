"""verdicts.jsonl (and an import's store) is written with one shared JSON encoder; its text must
be what json.dumps(record, ensure_ascii=False, sort_keys=True) gave line by line."""

from __future__ import annotations

import json

from harness.models import Verdict
from harness.store import export_lines


def test_export_lines_are_json_dumps_of_each_record() -> None:
    awkward = {"z": "é ü 中 \u2028 \x01 \t \"q\" \\", "a": [1e16, 1.5e-7, -0.0, float("nan"), float("inf"), 2**70],
               "m": {"b": None, "a": True}}
    verdicts = [Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id="i", judge="j", status="ok",
                        data={**awkward, "i": i}, output="ünïcode\n", tokens_in=i) for i in range(3)]
    expected = "".join(json.dumps(v.model_dump(mode="json"), ensure_ascii=False, sort_keys=True) + "\n"
                       for v in verdicts)
    assert export_lines(verdicts) == expected
    assert export_lines([]) == ""
