"""What an audit shows: the printed table, audit.md and the audit.html page, all from audit.json's
numbers (one source, so the terminal, the page and the file agree)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import BadInput

AUDIT_FILE = "audit.json"


def load_audit(directory: Path) -> dict[str, Any]:
    path = directory / AUDIT_FILE
    if not path.is_file():
        raise BadInput(f"{directory}: not an audit directory (no {AUDIT_FILE})")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BadInput(f"{path}: not readable JSON") from None
    if not isinstance(report, dict) or not isinstance(report.get("probes"), dict):
        raise BadInput(f"{path}: no `probes` mapping; the file was edited by hand?")
    return report


def frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per probe: effect, interval, n, Holm-adjusted p, whether significant."""
    scale = 100.0 if report.get("shape") == "compare" else 1.0
    rows = []
    for name, e in report["probes"].items():
        def scaled(key: str, entry: dict[str, Any] = e) -> float | None:
            value = entry.get(key)
            return None if value is None else round(value * scale, 2)
        rows.append({
            "probe": name, "role": e.get("role"), "effect": scaled("effect"), "ci_low": scaled("ci_low"),
            "ci_high": scaled("ci_high"), "n": e.get("n", 0), "p_holm": e.get("p_value"),
            "significant": bool(e.get("significant")),
            "followed": None if e.get("followed_share") is None else round(e["followed_share"], 3), "left_out": e.get("items_left_out"),
        })
    return pd.DataFrame(rows)


def without_number(report: dict[str, Any]) -> list[str]:
    """Probes that ran to the end yet have no number: not one usable verdict (every answer of the
    judge unparseable). Rerunning asks nothing again; the judge or its template needs a look."""
    return [name for name, e in report["probes"].items()
            if isinstance(e, dict) and e.get("items") and e.get("unfinished_requests") == 0 and not e.get("n")]


def is_complete(report: dict[str, Any]) -> bool:
    """Every request has a verdict and every probe run has a number (an audit.json written before
    the second rule may say complete without it)."""
    return bool(report.get("complete")) and not without_number(report)


def incomplete_lines(report: dict[str, Any]) -> list[str]:
    """What the audit's numbers lack, said where its table is: requests still without a verdict,
    and probes with no usable verdict at all."""
    lines = []
    if not report.get("complete"):
        lines.append("partial: some probe requests have no verdict yet; the numbers above leave them out")
    if empty := without_number(report):
        lines.append(f"not final: no item has usable verdicts for {', '.join(empty)} (the judge's answers did not "
                     "parse: see the probes' runs under runs/); check the judge and its template")
    return lines


def unit(report: dict[str, Any]) -> str:
    if report.get("shape") == "compare":
        return "effect in points of win rate: 100 x (P(perturbed preferred) - 1/2), both orders, ties half"
    low, high = report.get("scale") or (None, None)
    return f"effect: mean score change on the {low}-{high} scale (perturbed minus control)"


def print_table(report: dict[str, Any]) -> None:
    from tabulate import tabulate

    table = frame(report).drop(columns=["role"])
    table["significant"] = table["significant"].map({True: "yes", False: "no"})
    print(f"audit of {report['task']} with judge {report['judge']} ({unit(report)}; 95% item-bootstrap intervals; "
          f"p Holm-adjusted, significant at {report['alpha']})")
    print(tabulate(table.astype(object).where(table.notna(), "–"), headers="keys", showindex=False,
                   floatfmt=".3g"))
    for entry in report["probes"].values():
        print(entry["meaning"])
    for line in incomplete_lines(report):
        print(line)


def write_summary(directory: Path, report: dict[str, Any]) -> list[Path]:
    """audit.md and audit.html beside audit.json."""
    from harness.reports.markdown import md_list, md_table, md_text
    from harness.reports.page import document, section, table
    from harness.reports.report import write_output

    data = frame(report)
    notes = [e["meaning"] for e in report["probes"].values()]
    partial = incomplete_lines(report)
    head = f"Audit of {report['task']} with judge {report['judge']}"
    md = (f"# {md_text(head)}\n\n{md_text(unit(report))}; 95% item-bootstrap intervals; "
          f"p Holm-adjusted across probes, significant at {report['alpha']}.\n\n"
          + md_table(data) + "\n## What it means for rankings\n\n" + md_list(partial + notes))
    write_output(directory / "audit.md", md)
    body = table(data, row_class=["sig" if s else "" for s in data["significant"]]) + (
        "<ul class=\"statements\">" + "".join(f"<li>{_esc(line)}</li>" for line in partial + notes) + "</ul>")
    html = document(head, f"{report.get('protocol')} task, {len(report['probes'])} probes",
                    [("audit", "Judge audit", section("audit", "Judge audit: biases measured with controlled pairs",
                                                      body, unit(report)))])
    write_output(directory / "audit.html", html)
    return [directory / "audit.md", directory / "audit.html"]


def report_audit(directory: Path, out: Path | None) -> int:
    """`harness report AUDIT_DIR`: the audit's page and Markdown again (into `out` if given), and
    its table on the terminal; exit 1 for a partial audit, as the audit itself does."""
    report = load_audit(directory)
    from harness.reports.report import output_directory

    target = output_directory(out or directory)
    files = write_summary(target, report)
    print_table(report)
    for path in files:
        print(f"wrote {path}")
    return 0 if is_complete(report) else 1


def _esc(text: str) -> str:
    from harness.reports.page import esc

    return esc(text)
