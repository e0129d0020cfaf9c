"""Scores per item category: the protocol's own aggregation, run again on each category's items.

One generic path for every protocol (Arena-Hard's `--category`, WildBench's task-wise scores):
the verdicts of one category's items go through `task.aggregate`, so a category's score and its
item-bootstrap interval mean what the overall ones mean. Every model of the task gets a row in
every category (n = 0 and no score where it has no verdict there). A category with fewer than
`MIN_ITEMS` items says so in `note`: its interval is rough and no significance is claimed from it
(the regression gate, harness.check, does not test it); zero-width intervals are blanked as
everywhere (harness.stats.intervals).

Which item is in which category is recorded in run.json (`item_categories`, category -> item ids)
when a run is judged, so `harness aggregate` (whose items are rebuilt from the stored verdicts)
and an imported run (whose verdicts carry `category`) give the same table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

    from harness.models import Item, Verdict
    from harness.protocol import Task
    from harness.store import RunDirectory

SCORES_BY_CATEGORY_FILE = "scores_by_category.csv"
#: run.json key: category -> the ids of its items.
MANIFEST_KEY = "item_categories"
COLUMNS = ["category", "model", "score", "ci_low", "ci_high", "n", "items", "note"]
#: Fewest items for a significance claim: harness.stats.significance.MIN_ITEMS (checked by a test;
#: not imported, so loading a task file does not load the statistics).
MIN_ITEMS = 20
FEW_ITEMS = "fewer than {min} items ({items}): a rough interval, no significance claimed"
#: run.json key: the categories a run or an aggregate was restricted to (`--category`).
FILTER_KEY = "category_filter"
NO_VERDICT = "no valid verdict of this model in this category"


def categories_of_items(items: Iterable[Item]) -> dict[str, str]:
    """item id -> category, for the items that have one."""
    return {item.id: item.category for item in items if item.category}


def item_categories(task: Task, manifest: dict[str, Any], verdicts: Iterable[Verdict]) -> dict[str, str]:
    """item id -> category: from the task's items when they came from the dataset, else from
    run.json (`harness aggregate`), else from the verdicts' own `category` (an import)."""
    if not getattr(task, "items_from_store", False):
        found = categories_of_items(task.items)
        if found:
            return found
    return recorded_categories(manifest, verdicts)


def recorded_categories(manifest: dict[str, Any], verdicts: Iterable[Verdict]) -> dict[str, str]:
    """item id -> category of a stored run: run.json's record, else the verdicts' `category`."""
    recorded = manifest.get(MANIFEST_KEY)
    if isinstance(recorded, dict) and recorded:
        return {str(i): str(c) for c, ids in recorded.items() if isinstance(ids, list) for i in ids}
    if isinstance(verdicts, list):  # the verdicts' gathered columns, when shared (a million: one pass less)
        from harness.protocol.verdict_columns import MISSING, kept_columns

        table = kept_columns(verdicts, "item_id", "category")
        if table is not None:
            return {item: str(category) for item, category in zip(table.item_id, table.category)
                    if category not in (None, "", MISSING)}
    return {v.item_id: str(v.data["category"]) for v in verdicts if v.data.get("category") not in (None, "")}


def record(manifest: dict[str, Any], categories: dict[str, str]) -> None:
    """Put `category -> item ids` into run.json (nothing when no item has a category)."""
    if not categories:
        manifest.pop(MANIFEST_KEY, None)
        return
    grouped: dict[str, list[str]] = {}
    for item_id, category in sorted(categories.items()):
        grouped.setdefault(category, []).append(item_id)
    manifest[MANIFEST_KEY] = dict(sorted(grouped.items()))


def restrict_items(items: list[Item], wanted: Sequence[str]) -> list[Item]:
    """The items of the categories `wanted` (`--category`); an unknown category is bad input."""
    if not wanted:
        return items
    known = sorted({item.category for item in items if item.category})
    unknown = [c for c in wanted if c not in known]
    if unknown:
        listed = ", ".join(known) if known else "none: the dataset has no category column"
        raise BadInput(f"--category {unknown[0]!r}: no item has this category (categories: {listed})")
    return [item for item in items if item.category in set(wanted)]


def record_filter(manifest: dict[str, Any], wanted: Sequence[str]) -> None:
    """run.json's `category_filter`: the categories a run judged (`harness run --category`)."""
    if wanted:
        manifest[FILTER_KEY] = sorted(set(wanted))
    else:
        manifest.pop(FILTER_KEY, None)


def restrict_verdicts(task: Task, manifest: dict[str, Any], verdicts: list[Verdict],
                      wanted: Sequence[str]) -> list[Verdict]:
    """`harness aggregate --category`: the verdicts of those categories' items, the restriction
    recorded in run.json (`category_filter`) and lifted by an aggregate without --category."""
    record_filter(manifest, wanted)
    if not wanted:
        return verdicts
    categories = item_categories(task, manifest, verdicts)
    known = sorted(set(categories.values()))
    unknown = [c for c in wanted if c not in known]
    if unknown:
        listed = ", ".join(known) if known else "none: the run's items have no category"
        raise BadInput(f"--category {unknown[0]!r}: no item of the run has this category (categories: {listed})")
    return [v for v in verdicts if categories.get(v.item_id) in set(wanted)]


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    """What the run's printed summary says about categories."""
    lines = []
    if manifest.get(FILTER_KEY):
        lines.append(f"restricted to category {', '.join(manifest[FILTER_KEY])}: the numbers cover only its items")
    facts = manifest.get("by_category")
    if isinstance(facts, dict):
        few = facts.get("few_items") or []
        count = facts.get("categories")
        lines.append(f"per category: {count} {'category' if count == 1 else 'categories'} in {facts.get('file')}"
                     + (f"; {len(few)} with fewer than {facts.get('min_items')} items ({', '.join(few)}): "
                        "rough intervals, no significance claimed" if few else ""))
    return lines


def scores_by_category(task: Task, verdicts: list[Verdict], categories: dict[str, str],
                       models: Sequence[str]) -> pd.DataFrame:
    """One row per (category, model): the protocol's score, its interval and n on that
    category's items; `items` counts the category's items, `note` says what the row lacks."""
    import pandas as pd

    from harness.protocol.verdict_columns import kept_columns, subset_of
    from harness.stats.intervals import blank_zero_width

    rows = []
    positions: dict[str, list[int]] = {category: [] for category in sorted(set(categories.values()))}
    table = kept_columns(verdicts, "item_id")  # gathered once for the aggregation, when shared
    item_ids = table.item_id if table is not None else [v.item_id for v in verdicts]
    for position, item in enumerate(item_ids):  # one pass, not one per category
        category = categories.get(item)
        if category is not None:
            positions[category].append(position)
    for category, at in positions.items():
        with subset_of(verdicts, at) as subset:  # with its columns, when the whole list's are shared
            table, why_none = _category_scores(task, subset)
        table = table.set_index("model").reindex(list(dict.fromkeys([*models, *table["model"]]))).reset_index()
        table["n"] = pd.to_numeric(table["n"], errors="coerce").fillna(0).astype(int)
        table = table.assign(category=category, items=len(set(map(item_ids.__getitem__, at))))
        few = table["items"] < MIN_ITEMS
        table["note"] = [
            (why_none or NO_VERDICT) if pd.isna(score) else FEW_ITEMS.format(min=MIN_ITEMS, items=n_items) if is_few else ""
            for score, n_items, is_few in zip(table["score"], table["items"], few)
        ]
        rows.append(table)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat(rows, ignore_index=True)[COLUMNS]
    return blank_zero_width(frame, note="ci_note")


def write_scores_by_category(task: Task, store: RunDirectory, manifest: dict[str, Any], verdicts: list[Verdict],
                              models: Sequence[str]) -> None:
    """scores_by_category.csv and run.json's `item_categories` and `by_category` facts, when items
    have categories; a stale file from an earlier aggregation is removed when none has."""
    categories = item_categories(task, manifest, verdicts)
    record(manifest, categories)
    if manifest.get(FILTER_KEY):
        categories = {i: c for i, c in categories.items() if c in set(manifest[FILTER_KEY])}
    path = store.path / SCORES_BY_CATEGORY_FILE
    if not categories:
        manifest.pop("by_category", None)
        path.unlink(missing_ok=True)
        return
    table = scores_by_category(task, verdicts, categories, models)
    store.write_frames({SCORES_BY_CATEGORY_FILE: table})
    sizes = table.groupby("category")["items"].first()
    manifest["by_category"] = {
        "file": SCORES_BY_CATEGORY_FILE, "categories": int(sizes.size),
        "few_items": sorted(str(c) for c, n in sizes.items() if n < MIN_ITEMS), "min_items": MIN_ITEMS,
    }


def _category_scores(task: Task, verdicts: list[Verdict]) -> tuple[pd.DataFrame, str | None]:
    """model, score, ci_low, ci_high, n from the protocol's aggregation of these verdicts, and why
    there are none when the statistic could not be computed on this category's verdicts."""
    import pandas as pd

    from harness.stats.errors import StatsInputError

    empty = pd.DataFrame(columns=["model", "score", "ci_low", "ci_high", "n"])
    if not any(v.status == "ok" for v in verdicts):
        return empty, None
    try:
        scores = task.category_scores(verdicts)
    except StatsInputError as exc:  # the statistic cannot be computed on this category's verdicts
        return empty, f"no score in this category: {exc}"
    return scores[[c for c in empty.columns if c in scores.columns]].reindex(columns=empty.columns), None
