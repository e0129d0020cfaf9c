"""Checklist numbers: pass rate per response and per model (item-bootstrap CI), expected pass rate
from P(YES), per-question pass rates across models, and per-category means.

Invalid and failed calls are counted, never scored. A failed or unreadable checklist generation
leaves its item unjudged; it is counted once against every model that answered the item.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.models import Item, Verdict
from harness.protocol import Aggregate
from harness.stats.bootstrap import model_score_frame
from harness.stats.bradley_terry import interval_ranks
from harness_plugins.checklist.config import ChecklistConfig

SCORE_COLUMNS = [
    "model", "score", "ci_low", "ci_high", "n", "pass_rate", "expected_pass_rate", "invalid", "failed",
]
RANKING_COLUMNS = ["model", "rank", "score", "ci_low", "ci_high", "n"]
ANSWER_COLUMNS = ["item_id", "model", "question_index", "question", "yes", "p_yes"]


def answered_questions(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per question answered in an `ok` judge verdict (both modes)."""
    rows: list[dict[str, Any]] = []
    for v in verdicts:
        if v.status != "ok" or v.data.get("stage") != "judge":
            continue
        d = v.data
        if "answers" in d:  # mode all: every question in one verdict
            p_yes = d.get("p_yes") or [None] * len(d["answers"])
            for index, (question, answer, p) in enumerate(zip(d["questions"], d["answers"], p_yes)):
                rows.append(_row(v.item_id, d["model"], index, question, answer, p))
        else:
            rows.append(_row(v.item_id, d["model"], d["question_index"], d["question"], d["answer"], d.get("p_yes")))
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def _row(item_id: str, model: str, index: int, question: str, answer: str, p: float | None) -> dict[str, Any]:
    return {"item_id": item_id, "model": model, "question_index": index, "question": question,
            "yes": 1.0 if answer == "YES" else 0.0, "p_yes": np.nan if p is None else float(p)}


def response_pass_rates(answers: pd.DataFrame) -> pd.DataFrame:
    """Per (item, model): fraction of YES over its answered questions, and the mean P(YES)
    (NaN unless every answered question has one). Columns item_id, model, pass_rate,
    expected_pass_rate, questions; rates on 0-100."""
    columns = ["item_id", "model", "pass_rate", "expected_pass_rate", "questions"]
    if answers.empty:
        return pd.DataFrame(columns=columns)
    grouped = answers.groupby(["item_id", "model"], sort=True)
    out = pd.DataFrame({
        "pass_rate": 100.0 * grouped["yes"].mean(),
        "expected_pass_rate": 100.0 * grouped["p_yes"].agg(lambda s: s.mean() if s.notna().all() else np.nan),
        "questions": grouped.size(),
    }).reset_index()
    return out[columns]


def question_pass_rates(answers: pd.DataFrame, items: list[Item]) -> list[dict[str, Any]]:
    """Per question of each item, the share of models whose answer passed it (0-100)."""
    if answers.empty:
        return []
    order = {item.id: i for i, item in enumerate(items)}
    grouped = answers.groupby(["item_id", "question_index", "question"], sort=False)["yes"].agg(["mean", "size"])
    rows = [
        {"item_id": item_id, "question_index": int(index) + 1, "question": question,
         "pass_rate": round(100.0 * float(mean), 4), "n": int(size)}
        for (item_id, index, question), (mean, size) in grouped.iterrows()
    ]
    return sorted(rows, key=lambda r: (order.get(r["item_id"], len(order)), r["item_id"], r["question_index"]))


def problem_counts(verdicts: list[Verdict], items: list[Item], status: str) -> pd.Series:
    """Judge calls with `status` per model, plus checklist generations with `status` counted once
    against every model that answered the item."""
    answered = {item.id: list(item.answers) for item in items}
    models: list[str] = []
    for v in verdicts:
        if v.status != status:
            continue
        if v.data.get("stage") == "generate":  # its own record of the models, else the items' (older runs)
            models.extend(v.data.get("models") or answered.get(v.item_id, []))
        elif "model" in v.data:
            models.append(v.data["model"])
    return pd.Series(models, dtype=object).value_counts()


def aggregate_checklist(verdicts: list[Verdict], items: list[Item], config: ChecklistConfig) -> Aggregate:
    answers = answered_questions(verdicts)
    responses = response_pass_rates(answers)
    models = sorted({m for item in items for m in item.answers} | set(responses["model"]))
    scores = model_score_frame(
        responses, models, value="pass_rate", n_rounds=config.n_bootstrap, seed=config.seed
    )
    scores["pass_rate"] = scores["score"]
    if responses.empty:
        scores["expected_pass_rate"] = np.nan
    else:
        scores["expected_pass_rate"] = responses.groupby("model")["expected_pass_rate"].mean()
    scores["invalid"] = problem_counts(verdicts, items, "invalid")
    scores["failed"] = problem_counts(verdicts, items, "failed")
    scores[["n", "invalid", "failed"]] = scores[["n", "invalid", "failed"]].fillna(0).astype(int)
    scores = scores.reset_index().sort_values(["score", "model"], ascending=[False, True], na_position="last")
    scores = scores[SCORE_COLUMNS].reset_index(drop=True)

    ranked = scores[scores["n"] > 0].copy()
    low, high = ranked["ci_low"].fillna(ranked["score"]), ranked["ci_high"].fillna(ranked["score"])  # no interval: the point
    ranked["rank"] = interval_ranks(low.to_numpy(float), high.to_numpy(float)) if len(ranked) else []
    ranking = ranked.sort_values(["rank", "score", "model"], ascending=[True, False, True])[RANKING_COLUMNS]
    ranking = ranking.reset_index(drop=True)
    ranking["rank"] = ranking["rank"].astype(int)

    return Aggregate(
        scores=scores, ranking=ranking, summary=_summary(verdicts, items, responses, answers, config),
        title="ranking by checklist pass rate (95% bootstrap CI over items)", rank_label="pass rate",
        columns={"expected pass rate": "expected_pass_rate"},
    )


def _summary(
    verdicts: list[Verdict], items: list[Item], responses: pd.DataFrame, answers: pd.DataFrame,
    config: ChecklistConfig,
) -> dict[str, Any]:
    def counts(stage: str) -> dict[str, int]:
        chosen = [v for v in verdicts if v.data.get("stage") == stage]
        return {s: sum(v.status == s for v in chosen) for s in ("ok", "invalid", "failed")}

    generated = {v.item_id: v for v in verdicts if v.data.get("stage") == "generate"}
    lengths = [len(item.checklist) for item in items if item.checklist]
    lengths += [len(v.data["questions"]) for v in generated.values() if v.status == "ok"]
    categories: dict[str, dict[str, float]] = {}
    category_of = {item.id: item.category for item in items}
    if not responses.empty and any(category_of.values()):
        frame = responses.assign(category=responses["item_id"].map(category_of)).dropna(subset=["category"])
        for (category, model), rate in frame.groupby(["category", "model"])["pass_rate"].mean().items():
            categories.setdefault(str(category), {})[str(model)] = round(float(rate), 4)
    return {
        "verdicts": {s: sum(v.status == s for v in verdicts) for s in ("ok", "invalid", "failed")},
        "generation": counts("generate"),
        "judging": counts("judge"),
        "mode": config.mode,
        "checklists": {
            "from_dataset": sum(1 for item in items if item.checklist),
            "generated": sum(1 for v in generated.values() if v.status == "ok"),
            "not_available": sum(1 for item in items if not item.checklist
                                 and (item.id not in generated or generated[item.id].status != "ok")),
            "mean_questions": round(float(np.mean(lengths)), 3) if lengths else None,
        },
        "responses_scored": int(len(responses)),
        "questions_answered": int(len(answers)),
        "score_note": ("score: pass rate, % of checklist questions answered YES per response, averaged over "
                       "each model's responses, 95% bootstrap CI over items; expected_pass_rate: the same "
                       "from the judge's P(YES) when it gave logprobs"),
        "questions": question_pass_rates(answers, items),
        "categories": categories,
    }
