"""Whether a run's numbers are complete, and the one-line statements that say where they are not.

Every command that finishes a run (`harness run`, `harness aggregate`) records the facts in
run.json's `completeness`; every command that reads one (`harness report`, `harness compare`, the
Python API) states them from there, so a partial run never looks finished anywhere.

The rule (docs/statistics.md, "When the numbers are incomplete"):

- partial: requests without a verdict (failed after their retries, or not sent yet because of
  `--max-calls`, `--max-cost` or an interruption): the numbers leave them out; exit 1.
- unusable verdicts: a model of the task with no valid verdict (it has no score), or more than
  INVALID_SHARE_LIMIT of the verdicts invalid (the judge's answers did not parse in the task's
  verdict format): the numbers cannot stand; exit 1.
- a model of the task with no request at all (a `budget` too small, answers missing) has no score
  either: exit 1, with the cause.
- answers missing from the dataset (an item without one model's answer) are counted; the
  comparisons they would need are not made. A note, not an error: the rest is complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Item, Verdict
    from harness.protocol import Aggregate

#: Above this share of invalid verdicts (of those with a verdict) the numbers cannot stand: what
#: the judge could not answer in the format is unlikely to be a random sample of the comparisons.
INVALID_SHARE_LIMIT = 0.2

#: What to try when the judge's answers do not parse.
INVALID_FIX = ("the judge's answers did not parse in the task's verdict format: try "
               "`--set options.structured_output=true`, a simpler `options.verdict_format`, or a stronger judge")


#: The same, for imported judgments: another tool's judge gave them, and no option of ours re-asks it.
IMPORTED_INVALID = ("the imported judge gave no verdict the format reads there (no rating, an unknown label): "
                    "the numbers would rest on the rest; judge the items again, or leave those judgments out of the files")


def task_models(manifest: dict[str, Any], verdicts: Iterable[Verdict] = ()) -> list[str]:
    """The models of the task: those of the dataset (run.json), else those the verdicts name."""
    models = (manifest.get("dataset") or {}).get("models")
    if isinstance(models, list) and models:
        return [str(m) for m in models]
    named = {v.data.get(k) for v in verdicts for k in ("model", "model_a", "model_b")}
    return sorted(str(m) for m in named if isinstance(m, str))


def missing_answers(items: Sequence[Item]) -> dict[str, int]:
    """Per model, the items of the dataset without its answer (missing or null)."""
    models = {m for item in items for m in item.answers}
    counts = {m: sum(m not in item.answers for item in items) for m in sorted(models)}
    return {m: n for m, n in counts.items() if n}


def with_every_model(aggregate: Aggregate, models: Sequence[str]) -> Aggregate:
    """The aggregate with a row for every model of the task in scores and ranking: a model the
    numbers do not cover gets n = 0, zero counts and no score (never left out silently)."""
    from dataclasses import replace

    return replace(aggregate, scores=with_model_rows(aggregate.scores, models),
                   ranking=with_model_rows(aggregate.ranking, models))


def with_model_rows(frame: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """`frame` (one row per model) with a row for each of `models` it lacks: n = 0, no score."""
    import pandas as pd

    if "model" not in frame.columns:
        return frame
    absent = [m for m in models if m not in set(frame["model"].astype(str))]
    if not absent:
        return frame
    counts = [c for c in frame.columns if c == "n" or (c != "rank" and pd.api.types.is_integer_dtype(frame[c]))]
    rows = pd.DataFrame({"model": absent, **dict.fromkeys(counts, 0)})
    if "rank" in frame.columns:
        frame = frame.assign(rank=frame["rank"].astype("Int64"))
        rows["rank"] = pd.array([pd.NA] * len(absent), dtype="Int64")
    return pd.concat([frame, rows], ignore_index=True)


def assess(manifest: dict[str, Any], scores: pd.DataFrame, models: Sequence[str],
           verdicts: Iterable[Verdict] = ()) -> dict[str, Any]:
    """run.json's `completeness`: counts, the models without a score (and which of them had only
    invalid verdicts), and whether it is complete."""
    counts = manifest.get("counts") or {}
    ok, invalid = int(counts.get("ok", 0)), int(counts.get("invalid", 0))
    failed, pending = int(counts.get("failed", 0)), int(counts.get("pending", 0))
    scored = set()
    if "model" in scores.columns and "score" in scores.columns:
        from harness.stats.intervals import finite_number

        scored = {str(r.model) for r in scores.itertuples() if finite_number(getattr(r, "score", None))}
    invalid_by_model = _invalid_by_model(verdicts)
    record: dict[str, Any] = {
        "requests": int(manifest.get("requests") or 0), "ok": ok, "invalid": invalid, "failed": failed,
        "pending": pending,
        "invalid_share": round(invalid / (ok + invalid), 4) if ok + invalid else None,
        "models_without_score": [m for m in models if m not in scored],
        "models_only_invalid": [m for m in models if m not in scored and invalid_by_model.get(m, 0) > 0],
        "missing_answers": dict((manifest.get("dataset") or {}).get("missing_answers") or {}),
        "reasoning_traces": manifest.get("reasoning_traces"),
        # an import's verdicts are another tool's judge's: what to try differs from a run's
        "imported": ((manifest.get("judge") or {}).get("spec") or {}).get("backend") == "imported",
    }
    if isinstance(verdicts, Sequence):
        record["items_judged"] = judged_items(verdicts)
    record["problems"] = problems(record)
    record["complete"] = not record["problems"]
    return record


def problems(record: dict[str, Any]) -> list[str]:
    """One line per reason the numbers are partial or cannot stand (empty: complete)."""
    lines = []
    failed, pending, requests = int(record.get("failed", 0)), int(record.get("pending", 0)), record.get("requests")
    if failed or pending:
        lines.append(f"partial: {failed + pending} of {requests} requests have no verdict ({pending} pending, "
                     f"{failed} failed); the numbers leave them out")
    ok, invalid = int(record.get("ok", 0)), int(record.get("invalid", 0))
    share = invalid / (ok + invalid) if ok + invalid else 0.0
    only_invalid = list(record.get("models_only_invalid") or [])
    imported = bool(record.get("imported"))
    fix = IMPORTED_INVALID if imported else INVALID_FIX
    if ok == 0 and invalid:
        lines.append(f"no usable verdict: all {invalid} verdicts are invalid; {fix}")
    elif share > INVALID_SHARE_LIMIT or only_invalid:
        above = f" ({share:.0%}, above {INVALID_SHARE_LIMIT:.0%})" if share > INVALID_SHARE_LIMIT else ""
        who = f" (no valid verdict for {', '.join(only_invalid)})" if only_invalid else ""
        lines.append(f"unusable verdicts: {invalid} of {ok + invalid} verdicts are invalid{above}{who}; {fix}")
    unasked = [m for m in record.get("models_without_score") or [] if m not in only_invalid]
    if unasked and not ok and not invalid and not failed and not pending:
        # nothing was asked (a plugin's modify_requests left no request, a design of no pairs):
        # no model has a number, which is no complete result
        lines.append(f"no verdict: the run has {requests or 0} request(s), so no model has a score; "
                     "the tables list every model with n = 0, unranked")
    if unasked and ok:
        them = "it" if len(unasked) == 1 else "them"
        why = ("the files hold no kept judgment of it" if imported
               else "a larger `options.budget`, or the answers, would give one")
        lines.append(f"no score for {', '.join(unasked)}: no valid verdict about {them} ({why}); "
                     f"the tables list {them} with n = 0, unranked")
    return lines


def notes(record: dict[str, Any]) -> list[str]:
    """What was left out or changed without making the numbers partial: answers missing from the
    dataset, reasoning traces stripped from answers (or left in)."""
    from harness.reasoning_traces import note

    said = [line] if (line := note(record.get("reasoning_traces"))) else []
    missing = record.get("missing_answers") or {}
    if not missing:
        return said
    listed = ", ".join(f"{m} {n}" for m, n in sorted(missing.items()))
    total = sum(missing.values())
    return [f"{total} answer{'s' if total != 1 else ''} missing from the dataset ({listed}): the "
            "comparisons that need them were not made", *said]


def of_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """run.json's `completeness`, or (for a run written before it was recorded) what its counts say."""
    recorded = manifest.get("completeness")
    if isinstance(recorded, dict) and "problems" in recorded:
        return recorded
    counts = manifest.get("counts") or {}
    record = {"requests": manifest.get("requests"), **{k: int(counts.get(k, 0) or 0)
                                                        for k in ("ok", "invalid", "failed", "pending")}}
    record["problems"] = problems(record)
    record["complete"] = not record["problems"]
    return record


def judged_items(verdicts: Sequence[Verdict]) -> int:
    """The items with an ok verdict: what the numbers rest on, which a partial or budgeted run has
    fewer of than its dataset (the significance minimum counts these, as `harness report` does)."""
    from harness.protocol.verdict_columns import kept_columns

    table = kept_columns(verdicts, "status", "item_id")  # the aggregation's, when still held
    if table is not None:
        return len({item for status, item in zip(table.status, table.item_id) if status == "ok"})
    return len({v.item_id for v in verdicts if v.status == "ok"})


def _invalid_by_model(verdicts: Iterable[Verdict]) -> dict[str, int]:
    """Invalid verdicts per model they are about, whatever the protocol's verdict fields."""
    counts: dict[str, int] = {}
    for v in verdicts:
        if v.status == "invalid":
            for name in models_named(v.data):
                counts[name] = counts.get(name, 0) + 1
    return counts


def models_named(data: dict[str, Any]) -> list[str]:
    """The models a verdict's data is about, whatever the protocol calls them (`model`; `model_a`
    and `model_b`; a list `models`)."""
    named = [data.get(key) for key in ("model", "model_a", "model_b")] + list(data.get("models") or ())
    return [name for name in named if isinstance(name, str)]
