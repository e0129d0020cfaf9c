"""The generic human-label format (`harness import labels PATH... --out DIR`).

JSON Lines, a JSON array or CSV/TSV with a header; every row is one human judgment:
- pairwise: `item_id`, `model_a`, `model_b`, `winner` (`model_a`, `model_b` or `tie`), optionally
  `annotator`, `instruction`, `answer_a`, `answer_b`, `category`;
- rubric: `item_id`, `model`, `score` (a number), optionally `annotator`, `instruction`, `answer`,
  `category`.
One file set holds one kind. The run's judge is `human`, or the name given with `--judge NAME`
(verdicts of an LLM judge kept as labels), or a row's own `judge` field; a row with an annotator is
judged by `JUDGE:ANNOTATOR` (`human:ANNOTATOR`), so one annotator's labels can be told apart and
several annotators may label the same pair. A rubric run's scale is the integers from the lowest to the highest score given.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import ImportedRun
from harness.importers.human import (
    PAIRWISE_CONFIG,
    WINNER_LEVELS,
    HumanLabels,
    at_record,
    pairwise_task,
    read_rows,
    required_text,
    text_or_none,
)


def import_labels(paths: list[Path], baseline: str | None = None, *, judge: str | None = None) -> ImportedRun:
    rows = [(f"{path}:{number}", record) for path in paths for number, record in read_rows(path)]
    if not rows:
        raise BadInput(f"{paths[0]}: no labels")
    pairwise = "winner" in rows[0][1] or "model_a" in rows[0][1]
    labels = HumanLabels("labels", judge)
    for where, record in rows:
        with at_record(where):
            if ("model_a" in record or "winner" in record) != pairwise:
                raise BadInput(
                    f"{where}: mixes pairwise rows (model_a, model_b, winner) and rubric rows "
                    "(model, score); import them separately"
                )
            (_pair_row if pairwise else _score_row)(labels, record, where)
    if pairwise:
        config = {**PAIRWISE_CONFIG, "baselines": [baseline] if baseline else []}
        return labels.run(name="human_labels", protocol="pairwise", config=config, paths=paths, task=pairwise_task())
    if baseline is not None:
        raise BadInput("--baseline: rubric labels score each answer on its own; there is no baseline")
    scores = [float(v.data["score"]) for v in labels.verdicts]
    rubric = scale_rubric(min(scores), max(scores))
    return labels.run(
        name="human_scores",
        protocol="rubric",
        config={"rubric": rubric},
        paths=paths,
        task={"protocol": "rubric", "options": {"rubric": rubric}},
        notes=(f"scale {min(rubric['scores'])}-{max(rubric['scores'])} (lowest to highest score given)",),
    )


def _pair_row(labels: HumanLabels, record: dict[str, Any], where: str) -> None:
    item_id = required_text(record, "item_id", where)
    model_a, model_b = required_text(record, "model_a", where), required_text(record, "model_b", where)
    winner = required_text(record, "winner", where)
    if winner not in WINNER_LEVELS:
        raise BadInput(f"{where}: winner: {winner!r} is not model_a, model_b or tie")
    answer_a, answer_b = text_or_none(record.get("answer_a")), text_or_none(record.get("answer_b"))
    category = text_or_none(record.get("category"))
    labels.texts.add(
        where,
        item_id,
        text_or_none(record.get("instruction")),
        {model_a: answer_a, model_b: answer_b},
        category,
        field_names={model_a: "answer_a", model_b: "answer_b"},
    )
    labels.pair(
        where,
        item_id=item_id,
        model_a=model_a,
        model_b=model_b,
        level=WINNER_LEVELS[winner],
        annotator=record.get("annotator"),
        category=category,
        len_a=len(answer_a) if answer_a is not None else None,
        len_b=len(answer_b) if answer_b is not None else None,
        output=f"winner {winner}",
        judge=text_or_none(record.get("judge")),
    )


def _score_row(labels: HumanLabels, record: dict[str, Any], where: str) -> None:
    item_id = required_text(record, "item_id", where)
    model = required_text(record, "model", where)
    raw = required_text(record, "score", where)
    try:
        score = float(raw)
    except ValueError:
        raise BadInput(f"{where}: score: {raw!r} is not a number") from None
    if not math.isfinite(score) or not 0 <= score <= 100:
        raise BadInput(f"{where}: score: {raw!r} must be a number from 0 to 100")
    answer = text_or_none(record.get("answer"))
    category = text_or_none(record.get("category"))
    labels.texts.add(where, item_id, text_or_none(record.get("instruction")), {model: answer}, category)
    labels.score(
        where,
        item_id=item_id,
        model=model,
        score=score,
        annotator=record.get("annotator"),
        category=category,
        length=len(answer) if answer is not None else None,
        judge=text_or_none(record.get("judge")),
    )


def scale_rubric(lowest: float, highest: float) -> dict[str, Any]:
    """An inline rubric over the integers lowest..highest (at least two), for human scores."""
    low = math.floor(lowest)
    high = max(math.ceil(highest), low + 1)
    return {
        "criterion": "the human annotators' rating of the answer",
        "scores": {score: f"rated {score} by the annotators" for score in range(low, high + 1)},
    }
