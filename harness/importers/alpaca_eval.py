"""AlpacaEval 2.0 annotations (`<model>/annotations.json`) as a pairwise run against the baseline.

Each annotation compares `output_1` (the baseline, `generator_1`) with `output_2` (the model,
`generator_2`); `preference` in [1, 2] is the judge's soft preference (2 = the model wins),
from the logprobs of its one-token answer. Stored as the pairwise protocol stores a binary
verdict: output_1 in position A, a distribution {A>>B: 2 - preference, B>>A: preference - 1}
(exactly 1.5: a tie), the lengths of both outputs (for the length-controlled win rate) and
`soft: true`, so the win rate is 100 * mean(preference - 1), AlpacaEval's published number.
AlpacaEval randomises which output the judge saw first; the file does not say, so position
statistics of an imported run describe file order, not what the judge saw. The instructions and
both outputs are written as `dataset.jsonl` with `judge_task.yaml` (see harness.importers.item_texts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import (
    ImportedRun,
    name_field,
    pairwise_verdict,
    read_json,
    require,
    text_field,
    text_id,
)
from harness.importers.item_texts import ItemTexts
from harness.models import Verdict

#: (generator, output) field pairs: the baseline's and the model's answer.
GENERATORS = (("generator_1", "output_1"), ("generator_2", "output_2"))
FIELDS = ("instruction", "output_1", "generator_1", "output_2", "generator_2", "preference")


def import_alpaca_eval(paths: list[Path], baseline: str | None = None) -> ImportedRun:
    verdicts: list[Verdict] = []
    baselines: set[str] = set()
    judges: set[str] = set()
    texts = ItemTexts()
    item_ids: dict[str, str] = {}  # each instruction's id, hashed once: every model's file repeats them
    for path in paths:
        records = read_json(path)
        if not isinstance(records, list):
            raise BadInput(f"{path}: expected a JSON list of annotations")
        seen: dict[str, int] = {}
        prefix = f"{path}: annotation "
        for index, record in enumerate(records):
            where = f"{prefix}{index}"
            if not isinstance(record, dict):
                raise BadInput(f"{where}: expected an object")
            require(record, FIELDS, where)
            verdicts.append(_verdict(record, where, seen, item_ids))
            texts.add(verdicts[-1].item_id, instruction=text_field(record, "instruction", where),
                      category=record.get("dataset"),
                      answers={name_field(record, g, where): text_field(record, o, where) for g, o in GENERATORS})
            baselines.add(record["generator_1"])
            judges.add(str(record.get("annotator") or "alpaca_eval"))
    if not verdicts:
        raise BadInput(f"{paths[0]}: no annotations")
    if len(baselines) != 1:
        raise BadInput(f"the files have several baselines ({', '.join(sorted(baselines))}); they cannot be one run")
    if baseline is not None and baseline not in baselines:  # the records say whom each model was judged against
        raise BadInput(f"--baseline {baseline}: the files' baseline (generator_1) is {next(iter(baselines))}")
    baseline = baselines.pop()
    return ImportedRun(
        format="alpaca_eval", name="alpaca_eval", protocol="pairwise",
        config={"baselines": [baseline], "soft": True, "verdict_format": "binary", "strong_weight": 1.0,
                "length_k": -1, "alpaca_eval_lc": True},
        judge=", ".join(sorted(judges)), verdicts=verdicts, sources=[str(p.resolve()) for p in paths],
        notes=["position A = output_1 (the baseline) as stored in the file; the judge saw a random order"],
        texts=texts,
    )


def _verdict(record: dict[str, Any], where: str, seen: dict[str, int], item_ids: dict[str, str]) -> Verdict:
    preference = record["preference"]
    try:
        preference = float(preference) if preference is not None else None
    except (TypeError, ValueError):
        raise BadInput(f"{where}: preference {preference!r} is not a number") from None
    if preference is not None and not 1.0 <= preference <= 2.0:
        raise BadInput(f"{where}: preference {preference} is outside [1, 2]")
    instruction = text_field(record, "instruction", where)
    model, baseline = name_field(record, "generator_2", where), name_field(record, "generator_1", where)
    output_1, output_2 = text_field(record, "output_1", where), text_field(record, "output_2", where)
    item_id = item_ids.get(instruction)
    if item_id is None:
        item_id = item_ids[instruction] = text_id("ae", instruction)
    seen[item_id] = seen.get(item_id, 0) + 1
    if seen[item_id] > 1:
        item_id = f"{item_id}-{seen[item_id]}"  # the same instruction twice in one file
    level = probs = None
    if preference is not None:
        p_model = preference - 1.0
        if preference == 1.5:
            level, probs = "A=B", {"A=B": 1.0}
        else:
            level = "B>>A" if p_model > 0.5 else "A>>B"
            probs = {"A>>B": 1.0 - p_model, "B>>A": p_model}
    return pairwise_verdict(
        "alpaca_eval", item_id=item_id, model=model, opponent=baseline, model_is_a=False, level=level,
        judge=str(record.get("annotator") or "alpaca_eval"), len_model=len(output_2),
        len_opponent=len(output_1), probs=probs, category=record.get("dataset"),
        output=None if preference is None else f"preference {preference}",
        error="no preference in the annotation",
    )
