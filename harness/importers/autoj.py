"""Auto-J pairwise test set with human labels (prometheus-eval's `autoj_pairwise.jsonl`).

Each line: `prompt`, `response 1`, `response 2`, `label` (0 = response 1 better, 1 = response 2
better, 2 = tie), `scenario`. Imported as a pairwise run judged by `human` (position A =
response 1; a human preference has no "slightly", so a win counts once in Bradley-Terry), and
the same items are written as a harness dataset (`dataset.jsonl`, wide format, models
`response_1` and `response_2`) with a task file (`judge_task.yaml`), so a model can judge the
same pairs and `harness compare` can set its verdicts against the human ones.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import BadInput
from harness.importers.common import ImportedRun, pairwise_verdict, read_jsonl, require, text_field
from harness.importers.item_texts import ItemTexts
from harness.models import Verdict

LABELS = {0: "A>>B", 1: "B>>A", 2: "A=B"}
MODELS = ("response_1", "response_2")


def import_autoj(paths: list[Path], baseline: str | None = None, *, judge: str | None = None) -> ImportedRun:
    """`judge`: who gave the labels (default `human`, as the benchmark's are)."""
    if baseline is not None:
        raise BadInput("--baseline: autoj pairs two responses with no baseline")
    judge = (judge or "").strip() or "human"
    verdicts: list[Verdict] = []
    texts = ItemTexts(description="the Auto-J pairwise items, to judge with a model and compare with the human labels")
    for path in paths:
        for number, record in read_jsonl(path):
            where = f"{path}:{number}"
            require(record, ("prompt", "response 1", "response 2", "label"), where)
            label = record["label"]
            if isinstance(label, bool) or not isinstance(label, int) or label not in LABELS:
                raise BadInput(f"{where}: label {label!r} is not 0, 1 or 2")
            item_id = f"autoj-{len(verdicts):04d}"
            first, second = text_field(record, "response 1", where), text_field(record, "response 2", where)
            prompt = text_field(record, "prompt", where)
            verdicts.append(pairwise_verdict(
                "autoj", item_id=item_id, model=MODELS[0], opponent=MODELS[1], model_is_a=True, level=LABELS[label],
                judge=judge, len_model=len(first), len_opponent=len(second), category=record.get("scenario"),
                output=f"label {label}",
            ))
            texts.add(item_id, instruction=prompt, category=record.get("scenario"),
                      answers={MODELS[0]: first, MODELS[1]: second})
    if not verdicts:
        raise BadInput(f"{paths[0]}: no items")
    return ImportedRun(
        format="autoj", name="autoj_pairwise", protocol="pairwise", config={"strong_weight": 1.0, "length_k": -1},
        judge=judge, verdicts=verdicts, sources=[str(p.resolve()) for p in paths],
        notes=["human labels: 0 = response 1 better, 1 = response 2 better, 2 = tie"], texts=texts,
    )
