"""verdicts.jsonl (and an import's store) is written line by line with the serializer a run's store
uses, so an export of the store's own records is the store's bytes, and every line reads back as
the verdict it was written from."""

from __future__ import annotations

import json
import math

from harness.models import Verdict
from harness.store import RunDirectory, export_lines, stored_verdicts


def awkward_verdicts() -> list[Verdict]:
    awkward = {"z": "é ü 中 \u2028 \x01 \t \"q\" \\", "a": [1e16, 1.5e-7, -0.0, float("nan"), float("inf"), 2**70],
               "m": {"b": None, "a": True}}
    return [Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id="i", judge="j", status="ok",
                    data={**awkward, "i": i}, output="ünïcode\n", tokens_in=i) for i in range(3)]


def test_an_export_is_the_lines_a_run_store_holds(tmp_path) -> None:
    verdicts = awkward_verdicts()
    with RunDirectory(tmp_path) as run:
        for verdict in verdicts:
            run.append(verdict)
    assert (tmp_path / "store.jsonl").read_text(encoding="utf-8") == export_lines(verdicts)
    assert export_lines([]) == ""


def test_every_line_reads_back_as_its_verdict(tmp_path) -> None:
    verdicts = awkward_verdicts()
    text = export_lines(verdicts)
    assert text.count("\n") == len(verdicts)  # the answer's line break and U+2028 stay escaped or inside
    for verdict, line in zip(verdicts, text.split("\n")):
        record = json.loads(line)
        assert record["output"] == "ünïcode\n"
        assert record["data"]["z"] == verdict.data["z"]
        assert record["data"]["a"][:3] == [1e16, 1.5e-7, 0.0] and math.copysign(1, record["data"]["a"][2]) < 0
        assert record["data"]["a"][3:] == [None, None, 2**70]  # JSON has no NaN: null, as a run's store writes it
        assert record["data"]["m"] == {"b": None, "a": True} and record["data"]["i"] == verdict.data["i"]
    path = tmp_path / "store.jsonl"
    path.write_text(text, encoding="utf-8")
    assert [v.request_id for v in stored_verdicts(path)] == ["r0", "r1", "r2"]


def test_the_bulk_export_writes_the_bytes_of_the_lines(tmp_path) -> None:
    """write_export (verdicts.jsonl, an import's store) joins the serializer's bytes: the same
    bytes as export_lines, in chunks of any size, also for a verdict of a subclass."""
    import io

    from harness.store import write_export

    class Annotated(Verdict):
        note: str = "kept"

    verdicts = [*awkward_verdicts(), Annotated(request_id="s", request_key="ks", item_id="i", judge="j", status="failed",
                                               data={}, error="HTTP 500")]
    for chunk in (1, 2, 10_000):
        written = io.BytesIO()
        write_export(written, verdicts, chunk=chunk)
        assert written.getvalue() == export_lines(verdicts).encode("utf-8")
    assert b'"note":"kept"' in written.getvalue()
    empty = io.BytesIO()
    write_export(empty, [])
    assert empty.getvalue() == b""
