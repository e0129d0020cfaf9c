"""The HTML page shell and table rendering shared by `report` and `compare`.

Self-contained on purpose: style and script are inline, charts are inline SVG, nothing is
fetched, so a report opens offline, from an e-mail attachment, or years later. Every value that
reaches the page goes through `esc` (user, model and judge text is untrusted), and the only
script is static: it filters and sorts what is already on the page, never building HTML from data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable
from html import escape
from numbers import Number

import pandas as pd

from harness.stats.intervals import apart_digits

STYLE = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1d; background: #fafafa; }
header { background: #204a87; color: #fff; padding: 14px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: .9; }
nav { padding: 6px 28px; background: #e8eef7; position: sticky; top: 0; z-index: 2; font-size: 13px; }
nav a { margin-right: 14px; color: #204a87; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 4px 18px 14px; margin: 16px 0; }
h2 { font-size: 18px; margin: 14px 0 8px; }
p.note { color: #555; margin: 4px 0 10px; font-size: 13px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 3px 10px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.sig td { background: #eef6e9; }
ul.statements li { margin: 2px 0; }
.hists { display: flex; flex-wrap: wrap; gap: 8px; }
.hists figure { margin: 0; text-align: center; }
.controls { display: flex; gap: 8px; flex-wrap: wrap; margin: 8px 0; }
.controls input, .controls select { font: inherit; padding: 3px 6px; }
details.v { border: 1px solid #ddd; border-radius: 5px; margin: 6px 0; background: #fff; }
details.v > summary { padding: 5px 10px; cursor: pointer; background: #f6f6f6; }
details.v[data-status="invalid"] > summary, details.v[data-status="failed"] > summary { background: #fde8e8; }
details.v[data-reason="disagreement"] > summary { background: #fff4d6; }
.v .body { padding: 6px 12px 10px; }
.side { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; }
.side > div { border: 1px solid #e3e3e3; border-radius: 4px; padding: 4px 8px; background: #fcfcfc; min-width: 0; }
.side h4, .v h4 { margin: 4px 0; font-size: 13px; color: #204a87; }
pre { white-space: pre-wrap; word-break: break-word; margin: 2px 0; font: 12.5px/1.4 ui-monospace, Menlo, Consolas, monospace; max-height: 24em; overflow: auto; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #e8eef7; margin-right: 4px; }
.muted { color: #777; }
.warning { background: #fde8e8; border-left: 4px solid #c00; padding: 6px 10px; }
.wide { overflow-x: auto; }
"""

SCRIPT = """
(function () {
  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) return "";
    var raw = cell.getAttribute("data-v");
    if (raw !== null && raw !== "" && !isNaN(Number(raw))) return Number(raw);
    return cell.textContent.trim().toLowerCase();
  }
  document.querySelectorAll("table.sortable th").forEach(function (th, index) {
    th.addEventListener("click", function () {
      var table = th.closest("table"), body = table.tBodies[0];
      var ascending = th.getAttribute("data-order") !== "asc";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-order"); });
      th.setAttribute("data-order", ascending ? "asc" : "desc");
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = cellValue(a, th.cellIndex), y = cellValue(b, th.cellIndex);
        if (x === y) return 0;
        return (x < y ? -1 : 1) * (ascending ? 1 : -1);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  var box = document.getElementById("verdict-filter");
  if (!box) return;
  var selects = document.querySelectorAll("select[data-filter]");
  function apply() {
    var text = box.value.trim().toLowerCase(), shown = 0, cards = document.querySelectorAll("details.v");
    cards.forEach(function (card) {
      var ok = !text || card.textContent.toLowerCase().indexOf(text) >= 0;
      selects.forEach(function (s) {
        if (!s.value) return;
        var name = s.getAttribute("data-filter"), raw = card.getAttribute("data-" + name) || "";
        var values = name === "model" ? JSON.parse(raw || "[]") : [raw];
        if (values.indexOf(s.value) < 0) ok = false;
      });
      card.style.display = ok ? "" : "none";
      if (ok) shown += 1;
    });
    document.getElementById("verdict-count").textContent = shown + " of " + cards.length + " shown";
  }
  box.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  apply();
})();
"""

#: Only this exact script may run (Content-Security-Policy): even if escaping ever failed, an
#: injected <script> or onerror= attribute would be blocked, and nothing may be fetched.
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")

def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def data_values(values: list[str]) -> str:
    """A data-* attribute value holding a list (a verdict is about two models), as escaped JSON."""
    return esc(json.dumps([str(v) for v in values], ensure_ascii=False))


def format_value(value: object, digits: int = 3) -> str:
    """Numbers compactly, missing values as a dash (pandas' NA of an integer column too: it printed
    `<NA>`), everything else as text."""
    if value is None or value.__class__.__name__ in ("NAType", "NaTType"):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Number):
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number):
            return "–"
        if number.is_integer() and abs(number) < 1e15:
            return f"{int(number)}"
        if 0 < abs(number) < 10 ** -digits:
            return f"{number:.2g}"
        shown = f"{number:.{_decimals(number, digits)}f}"
        return shown.rstrip("0").rstrip(".") if abs(number) < 1000 else shown
    return str(value)


def _decimals(number: float, digits: int) -> int:
    """The decimals format_value gives a number: `digits` below 1000, one from there."""
    return digits if abs(number) < 1000 else 1


def interval_ends(low: object, high: object, digits: int = 3) -> tuple[str, str]:
    """Both ends of an interval as format_value shows numbers, with the decimals it takes to tell
    them apart: a narrow interval that is not a point ([69.99995, 70.0]) is never shown as 70 | 70."""
    _, low_text, high_text = interval_texts(None, low, high, digits)
    return low_text, high_text


def interval_texts(value: object, low: object, high: object, digits: int = 3) -> tuple[str, str, str]:
    """A value and its interval's ends as format_value shows numbers; where the two ends would
    show the same number (70 and 70, or 1500 and 1500.0), all three with the decimals at which the
    ends print apart."""
    shown = format_value(value, digits), format_value(low, digits), format_value(high, digits)
    if not _same_number(shown[1], shown[2]) or not all(_plain_number(v) for v in (low, high)):
        return shown
    ends = float(low), float(high)  # type: ignore[arg-type]
    if not all(math.isfinite(end) for end in ends) or ends[0] == ends[1]:
        return shown
    decimals = apart_digits(*ends, _decimals(max(abs(ends[0]), abs(ends[1])), digits))
    value_text = shown[0]
    if _plain_number(value) and math.isfinite(float(value)):  # type: ignore[arg-type]
        value_text = _fixed(float(value), decimals)  # type: ignore[arg-type]
    return value_text, _fixed(ends[0], decimals), _fixed(ends[1], decimals)


def _fixed(number: float, decimals: int) -> str:
    return f"{number:.{decimals}f}".rstrip("0").rstrip(".")


def _plain_number(value: object) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _same_number(first: str, second: str) -> bool:
    """Whether two shown cells read as the same number ("1500" and "1500.0"), or are the same text."""
    try:
        return float(first) == float(second)
    except ValueError:
        return first == second


def formatted_rows(frame: pd.DataFrame, digits: int = 3) -> list[list[str]]:
    """Every cell as format_value shows it, each interval's two columns (a `...low` column beside
    its `...high`: ci_low and ci_high, lc_ci_low and lc_ci_high) as interval_ends shows them."""
    columns = [str(c) for c in frame.columns]
    pairs = [(i, columns.index(c[:-3] + "high")) for i, c in enumerate(columns)
             if c.endswith("low") and c[:-3] + "high" in columns]
    rows = []
    for row in frame.itertuples(index=False):
        cells = [format_value(value, digits) for value in row]
        for low, high in pairs:
            cells[low], cells[high] = interval_ends(row[low], row[high], digits)
        rows.append(cells)
    return rows


def table(frame: pd.DataFrame, *, css_class: str = "sortable", row_class: Iterable[str] | None = None,
          digits: int = 3) -> str:
    """A sortable HTML table; numeric cells carry their raw value for sorting."""
    if frame.empty:
        return '<p class="muted">nothing to show</p>'
    classes = list(row_class) if row_class is not None else [""] * len(frame)
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    body = []
    for klass, row, texts in zip(classes, frame.itertuples(index=False), formatted_rows(frame, digits)):
        cells = []
        for value, text in zip(row, texts):
            numeric = isinstance(value, Number) and not isinstance(value, bool)
            raw = f' data-v="{float(value)!r}"' if numeric and math.isfinite(float(value)) else ""
            cells.append(f'<td{" class=num" if numeric else ""}{raw}>{esc(text)}</td>')
        body.append(f'<tr class="{esc(klass)}">{"".join(cells)}</tr>' if klass else f'<tr>{"".join(cells)}</tr>')
    return (f'<div class="wide"><table class="{esc(css_class)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def section(anchor: str, title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{esc(note)}</p>' if note else ""
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{note_html}{body}</section>'


def document(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole page. `sections` are (anchor, nav label, html) with the html already escaped."""
    nav = "".join(f'<a href="#{esc(anchor)}">{esc(label)}</a>' for anchor, label, _ in sections)
    content = "\n".join(html for _, _, html in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{SCRIPT_HASH}'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header><nav>{nav}</nav>"
        f"<main>{content}</main><script>{SCRIPT}</script></body></html>\n"
    )
