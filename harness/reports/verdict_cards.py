"""Sampled verdicts as browsable cards: the instruction, the answers side by side, the judge's output.

verdicts.jsonl holds no texts, so instructions and answers come from the run's dataset when it
is reachable; imported runs may carry them in verdict fields instead. Long texts are cut so one
huge answer cannot blow up the page. All text is escaped.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.models import Item
from harness.reports.page import data_values, esc, format_value
from harness.reports.rundata import verdict_models

if TYPE_CHECKING:
    from harness.reports.view import ReportView

MAX_CHARS = 3000
#: Verdict fields that hold texts an importer may have copied in.
TEXT_FIELDS = {
    "instruction": ("instruction", "prompt"),
    "answer_a": ("answer_a", "output_a", "response_a", "output_1"),
    "answer_b": ("answer_b", "output_b", "response_b", "output_2"),
    "answer": ("response", "model_output", "output_text"),
}
SKIP_FIELDS = {"request_id", "request_key", "item_id", "judge", "status", "output", "error", "reason", "data",
               *[name for names in TEXT_FIELDS.values() for name in names]}


def clip(text: Any, limit: int = MAX_CHARS) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… ({len(text) - limit} more characters not shown)"


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


def _first(record: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if _present(record.get(name)):
            return record[name]
    return None


def _block(title: str, text: Any) -> str:
    return f"<div><h4>{esc(title)}</h4><pre>{esc(clip(text))}</pre></div>"


def card(record: dict[str, Any], items: dict[str, Item], view: ReportView) -> str:
    """One verdict as a <details> card; data-* attributes feed the page's filters. The protocol's
    view picks the fields of the header line and may add text blocks."""
    item = items.get(str(record.get("item_id")))
    models = verdict_models(record)
    category = record.get("category") if _present(record.get("category")) else (item.category if item else None)
    status = str(record.get("status") or "ok")
    reason = str(record.get("reason") or "sample")
    headline = " ".join(
        f'<span class="tag">{esc(name)}: {esc(format_value(record[name]))}</span>'
        for name in view.card_headline if _present(record.get(name)) and not isinstance(record.get(name), (dict, list))
    )
    summary = (
        f'<summary><b>{esc(record.get("item_id"))}</b> · {esc(" vs ".join(models) or "–")} · '
        f'<span class="tag">{esc(status)}</span>{headline}'
        + (f'<span class="tag">{esc(reason)}</span>' if reason != "sample" else "")
        + (f'<span class="muted"> {esc(category)}</span>' if category else "")
        + "</summary>"
    )
    parts = []
    instruction = item.instruction if item else _first(record, TEXT_FIELDS["instruction"])
    if item and len(item.conversation) > 1:
        instruction = "\n\n".join(f"[{m.role}] {m.content}" for m in item.conversation)
    if instruction is not None:
        parts.append(f"<h4>instruction</h4><pre>{esc(clip(instruction))}</pre>")
    else:
        parts.append('<p class="muted">instruction not available (dataset not reachable)</p>')
    for title, text in view.card_texts(record):
        parts.append(f"<h4>{esc(title)}</h4><pre>{esc(clip(text))}</pre>")
    answers = _answers(record, item)
    if answers:
        parts.append('<div class="side">' + "".join(_block(title, text) for title, text in answers) + "</div>")
    if _present(record.get("output")):
        parts.append(f"<h4>judge output</h4><pre>{esc(clip(record['output']))}</pre>")
    if _present(record.get("error")):
        parts.append(f"<h4>error</h4><pre>{esc(clip(record['error']))}</pre>")
    fields = {k: v for k, v in record.items() if k not in SKIP_FIELDS and k not in view.card_text_fields()
              and _present(v) and not (isinstance(v, float) and math.isnan(v))}
    if fields:
        rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(clip(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else format_value(v), 400))}</td></tr>"
                       for k, v in sorted(fields.items()))
        parts.append(f'<table class="fields">{rows}</table>')
    attrs = (f'data-status="{esc(status)}" data-reason="{esc(reason)}" '
             f'data-model="{data_values(models)}" data-category="{esc(category or "")}"')
    return f'<details class="v" {attrs}>{summary}<div class="body">{"".join(parts)}</div></details>'


def _answers(record: dict[str, Any], item: Item | None) -> list[tuple[str, Any]]:
    """(title, text) for the answers this verdict judged: A and B side by side, or the one answer."""
    model_a, model_b, model = record.get("model_a"), record.get("model_b"), record.get("model")
    if _present(model_a) and _present(model_b):
        a = item.answers.get(str(model_a)) if item else _first(record, TEXT_FIELDS["answer_a"])
        b = item.answers.get(str(model_b)) if item else _first(record, TEXT_FIELDS["answer_b"])
        if a is None and b is None:
            return []
        return [(f"A: {model_a}", a if a is not None else "(not available)"),
                (f"B: {model_b}", b if b is not None else "(not available)")]
    if _present(model):
        text = item.answers.get(str(model)) if item else _first(record, TEXT_FIELDS["answer"])
        return [(f"answer: {model}", text)] if text is not None else []
    return []


def cards_section(sample: pd.DataFrame, items: dict[str, Item], total: int, view: ReportView) -> str:
    """Filter controls and the cards. Filters run on the page; nothing is loaded later."""
    records = sample.to_dict(orient="records")
    models = sorted({m for r in records for m in verdict_models(r)})
    categories = sorted({str(r["category"]) for r in records if _present(r.get("category"))})
    statuses = sorted({str(r.get("status") or "ok") for r in records})
    reasons = sorted({str(r.get("reason") or "sample") for r in records})

    def select(name: str, label: str, values: list[str]) -> str:
        options = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)
        return f'<select data-filter="{name}" aria-label="{esc(label)}"><option value="">all {esc(label)}</option>{options}</select>'

    controls = (
        '<div class="controls"><input id="verdict-filter" type="search" placeholder="filter by any text" size="30">'
        + select("model", "models", models) + select("category", "categories", categories)
        + select("status", "statuses", statuses) + select("reason", "reasons", reasons)
        + f'<span id="verdict-count" class="muted">{len(records)} of {len(records)} shown</span></div>'
    )
    note = (f'<p class="note">{len(records)} of {total} verdicts, chosen deterministically: unparsable and failed '
            "first, then ones where the judge contradicts itself or is unsure, then a spread over categories.</p>")
    return note + controls + "".join(card(r, items, view) for r in records)
