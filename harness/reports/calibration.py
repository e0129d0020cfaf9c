"""The report's calibration part, for a run a calibration was applied to (`--calibration FILE`):
the map's figures against the humans (e.g. ECE, Brier, agreement), a reliability diagram of the
judge's values raw and calibrated (out-of-fold), and the raw and calibrated rankings side by
side. Read from the run directory's `calibration.json` and `ranking_calibrated.csv`; which
figures and which diagram come from the run's protocol's calibrator.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.calibrate.apply import CALIBRATION_COPY, RANKING_CALIBRATED
from harness.protocol.calibrator import Calibrator, Series
from harness.reports.markdown import md_table
from harness.reports.page import esc, section, table
from harness.reports.rundata import RunData
from harness.reports.svg import FONT, _fmt
from harness.running.result_tables import read_result_table


@dataclass
class CalibrationView:
    document: dict[str, Any]
    record: dict[str, Any]
    rankings: pd.DataFrame
    #: The calibrator of the protocol that wrote the map (its `kind`): the run's protocol.
    calibrator: Calibrator


def read_calibration_view(run: RunData) -> CalibrationView | None:
    """The applied calibration, or None when the run has none (or its files are unreadable)."""
    path = run.directory / CALIBRATION_COPY
    if not path.is_file() or not isinstance(run.manifest.get("calibration"), dict):
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("kind") != run.protocol or run.calibrator_of is None:
        return None
    calibrator = run.calibrator_of()
    if calibrator is None:
        return None
    return CalibrationView(document, run.manifest["calibration"], side_by_side(run, calibrator), calibrator)


def side_by_side(run: RunData, calibrator: Calibrator) -> pd.DataFrame:
    """model, raw rank and score, calibrated rank and score with interval; raw order."""
    path = run.directory / RANKING_CALIBRATED
    if run.ranking.empty or not path.is_file():
        return pd.DataFrame()
    calibrated = read_result_table(path, required=("model", "rank", "score", "ci_low", "ci_high"))
    raw = run.ranking[["model", "rank", "score"]].rename(columns={"rank": "raw rank", "score": "raw score"})
    cal = calibrated[["model", "rank", "score", "ci_low", "ci_high"]].rename(
        columns={
            "rank": "calibrated rank",
            "score": "calibrated score",
            "ci_low": "calibrated ci_low",
            "ci_high": "calibrated ci_high",
        }
    )
    merged = raw.merge(cal, on="model", how="outer")
    merged["rank change"] = merged["raw rank"] - merged["calibrated rank"]
    compared = calibrator.compared
    if compared and set(compared) <= set(run.scores.columns):
        rates = run.scores[["model", *compared]].rename(columns=compared)
        merged = merged.merge(rates, on="model", how="left")
    return merged


def figures(view: CalibrationView) -> pd.DataFrame:
    """The calibration's figures as (figure, raw, calibrated) rows."""
    return pd.DataFrame(view.calibrator.figures(view.document), columns=["figure", "raw", "calibrated (out-of-fold)"])


def _about(view: CalibrationView) -> str:
    d, judge = view.document, view.document.get("judge") or {}
    forced = (
        " Applied with --force-calibration to another judge setup: " + "; ".join(view.record.get("mismatches") or [])
        if view.record.get("forced")
        else ""
    )
    unit = view.calibrator.unit
    return (
        f"map: {d.get('map', {}).get('method')} from {view.record.get('file')}, fitted on {d.get('n_pairs')} "
        f"{unit} of {d.get('n_items')} items judged by {judge.get('judge')} "
        f"and by {(d.get('human') or {}).get('judge')}; "
        f"calibrated figures are out-of-fold ({d.get('folds')} folds by item).{forced}"
    )


def reliability_svg(view: CalibrationView, *, size: int = 300) -> str:
    """The protocol's reliability diagram (e.g. mean human outcome against mean judge probability
    per bin, raw and calibrated); empty when it has none."""
    plot = view.calibrator.reliability(view.document)
    if plot is None:
        return ""
    return _plot(plot.series, plot.x_range, plot.y_range, plot.labels, plot.diagonal, size)


def _plot(
    series: list[Series],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    labels: tuple[str, str],
    diagonal: tuple[tuple[float, float], tuple[float, float]],
    size: int,
) -> str:
    left, top, pad = 50, 12, 40
    width, height = left + size + 150, top + size + pad
    (x0, x1), (y0, y1) = x_range, y_range
    if not (x1 > x0 and y1 > y0):
        return ""
    sx = lambda v: left + (v - x0) / (x1 - x0) * size
    sy = lambda v: top + size - (v - y0) / (y1 - y0) * size
    parts = [
        f'<svg class="chart" role="img" aria-label="reliability diagram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT}>',
        f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="none" stroke="#bbb"/>',
    ]
    for k in range(5):
        fx, fy = x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4
        parts.append(f'<text x="{sx(fx):.1f}" y="{top + size + 14}" text-anchor="middle" fill="#555">{_fmt(fx)}</text>')
        parts.append(f'<text x="{left - 6}" y="{sy(fy) + 4:.1f}" text-anchor="end" fill="#555">{_fmt(fy)}</text>')
    (a, b), (c, e) = diagonal
    parts.append(
        f'<line x1="{sx(a):.1f}" y1="{sy(b):.1f}" x2="{sx(c):.1f}" y2="{sy(e):.1f}" stroke="#999" '
        'stroke-dasharray="4 3"><title>perfect calibration</title></line>'
    )
    for index, (name, color, points) in enumerate(series):
        points = [p for p in points if all(isinstance(v, (int, float)) and math.isfinite(v) for v in p[:2])]
        if len(points) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for x, y, n in points:
            if n:
                radius = 2.5 + min(5.0, math.sqrt(n) / 3)
                parts.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{radius:.1f}" fill="{color}" fill-opacity="0.75">'
                    f"<title>{esc(name)}: judge {_fmt(x)}, human {_fmt(y)}, n={n}</title></circle>"
                )
        ly = top + 14 + 18 * index
        parts.append(
            f'<rect x="{left + size + 12}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + size + 28}" y="{ly}">{esc(name)}</text>'
        )
    parts.append(
        f'<text x="{left + size / 2:.0f}" y="{height - 6}" text-anchor="middle" fill="#333">{esc(labels[0])}</text>'
    )
    parts.append(
        f'<text transform="translate(12,{top + size / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'fill="#333">{esc(labels[1])}</text></svg>'
    )
    return "".join(parts)


def html_section(run: RunData) -> tuple[str, str, str] | None:
    """(anchor, nav label, html) of the calibration section, or None without a calibration."""
    view = read_calibration_view(run)
    if view is None:
        return None
    body = (
        table(figures(view), css_class="")
        + "<h3>Reliability</h3>"
        + reliability_svg(view)
        + "<h3>Raw and calibrated rankings</h3>"
        + table(view.rankings)
    )
    return "calibration", "Calibration", section("calibration", "Calibration against human labels", body, _about(view))


def markdown_section(run: RunData) -> str:
    view = read_calibration_view(run)
    if view is None:
        return ""
    return (
        "\n## Calibration against human labels\n\n"
        + _about(view)
        + "\n\n"
        + md_table(figures(view))
        + "\n### Raw and calibrated rankings\n\n"
        + md_table(view.rankings)
    )
