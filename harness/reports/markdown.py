"""Markdown helpers: tables whose cells cannot break the table or smuggle in HTML.

Markdown renderers pass raw HTML through, so `<` and `&` become entities (`>` alone opens no
tag, so "A > B" stays readable); `|` and newlines
would end a cell, so they are escaped or folded to spaces.
"""

from __future__ import annotations

import pandas as pd

from harness.reports.page import format_value, formatted_rows


def md_text(value: object) -> str:
    text = format_value(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")
    return " ".join(text.split())


def md_table(frame: pd.DataFrame, digits: int = 3) -> str:
    if frame.empty:
        return "_nothing to show_\n"
    header = "| " + " | ".join(md_text(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(md_text(text) for text in row) + " |" for row in formatted_rows(frame, digits)]
    return "\n".join([header, rule, *rows]) + "\n"


def md_list(lines: list[str]) -> str:
    return "".join(f"- {md_text(line)}\n" for line in lines) if lines else "_none_\n"
