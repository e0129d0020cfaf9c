"""A run's result tables read back (scores.csv, ranking.csv, scores_by_category.csv and the other
CSVs an aggregation writes), by every command that reads them: report, compare, check,
leaderboard and `harness.load_run`.

Users open these files in spreadsheets, and other tools write files of the same names. One reader
checks what the commands rely on, so that a damaged or hand-edited table fails as one BadInput. The
message names the file and what is wrong, and says how to rebuild it. The checks are: the file is
CSV text, the required columns are there, the contract's number columns hold numbers, and each
model (or each key) has one row. Without them the file failed later, as a parser's exception or
an arithmetic error (text minus a float) deep inside a report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd

#: Columns that hold numbers wherever a result table has them (DESIGN.md's contracts: scores.csv's
#: score, ci_low, ci_high, n; ranking.csv's rank; scores_by_category.csv's items).
NUMBER_COLUMNS = ("score", "ci_low", "ci_high", "n", "rank", "items")
#: Interval ends (`ci_low`, `lc_ci_high`, `calibrated_ci_low`, ...): numbers too.
INTERVAL_ENDS = ("ci_low", "ci_high")
REBUILD = "rebuild it with `harness aggregate`"
#: Columns that name things (models, categories, judges, items): read as text, whatever they spell.
TEXT_COLUMNS = ("model", "category", "judge", "item_id", "model_a", "model_b", "task")
#: What a spreadsheet or pandas writes for a missing number: read as missing in number columns.
MISSING_NUMBER = frozenset({"nan", "NaN", "NA", "N/A", "n/a", "#N/A", "NULL", "null", "None", "-nan", "<NA>"})


def read_result_table(path: Path, *, required: Sequence[str] = (), key: Sequence[str] = ("model",)) -> pd.DataFrame:
    """The table at `path`: empty when there is no such file, else checked. `required`: columns
    it must have (an empty file has none). `key`: columns that name a row, each combination at
    most once (checked when the table has them all)."""
    import pandas as pd

    from harness.stats.intervals import blank_every_zero_width

    if not path.is_file():
        return pd.DataFrame()
    try:
        # names as written: a model or category called NA, null, None or 001 is that text (pandas'
        # default would make it a missing value or the number 1); only an empty cell is missing
        table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=dict.fromkeys(TEXT_COLUMNS, str))
    except pd.errors.EmptyDataError:
        table = pd.DataFrame()
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError is a ValueError
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BadInput(f"{path}: not a readable CSV ({reason}); {REBUILD}") from None
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise BadInput(f"{path}: no {missing[0]!r} column; {REBUILD}")
    for column in table.columns:
        if (column in NUMBER_COLUMNS or str(column).endswith(INTERVAL_ENDS)) \
                and not pd.api.types.is_numeric_dtype(table[column]):
            table[column] = _numbers(table[column], path, column)
    if key and set(key) <= set(table.columns):
        repeated = table[table.duplicated(list(key), keep=False)]
        if len(repeated):
            named = ", ".join(f"{column} {repeated.iloc[0][column]!r}" for column in key)
            raise BadInput(f"{path}: {named} has {len(repeated)} rows, not one; {REBUILD}")
    # as the writer blanks them, with a reason naming the file: a file written before that rule,
    # or by another tool, shows no interval [x, x] (the writer's own files come back unchanged)
    return blank_every_zero_width(table, reason=f"no interval: {path.name} gives a point (zero width)")


def _numbers(values: pd.Series, path: Path, column: str) -> pd.Series:
    """The column as numbers; BadInput naming the first cell that is text rather than a number."""
    import pandas as pd

    values = values.where(~values.isin(MISSING_NUMBER))
    converted = pd.to_numeric(values, errors="coerce")
    text = values[converted.isna() & values.notna()]
    if len(text):
        raise BadInput(f"{path}: column {column!r} holds {text.iloc[0]!r}, not a number; {REBUILD}")
    return converted
