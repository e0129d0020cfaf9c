"""Charts as inline SVG strings, drawn in Python so the page needs no chart library or network.

Every label passes through `esc`: model names and categories are user data.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from html import escape

import numpy as np
import pandas as pd

FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    magnitude = abs(value)
    return f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if raw <= multiple * step:
            step *= multiple
            break
    start = math.ceil(low / step) * step
    return [start + k * step for k in range(int((high - start) / step + 1e-9) + 1)]


def forest_plot(table: pd.DataFrame, *, label: str, width: int = 640) -> str:
    """Score and interval per model, best first: where the intervals overlap, the order is unsure."""
    if table.empty:
        return ""
    rows = table.reset_index(drop=True)
    score = rows["score"].to_numpy(float)
    low = rows["ci_low"].to_numpy(float)
    high = rows["ci_high"].to_numpy(float)
    finite = np.concatenate([v[np.isfinite(v)] for v in (score, low, high)])
    if finite.size == 0:
        return ""
    lo, hi = float(finite.min()), float(finite.max())
    pad = (hi - lo) * 0.08 or max(abs(hi), 1.0) * 0.05
    lo, hi = lo - pad, hi + pad
    left, right, row_h, top = 150, 30, 26, 24
    height = top + row_h * len(rows) + 34
    scale = lambda v: left + (v - lo) / (hi - lo) * (width - left - right)
    parts = [f'<svg class="chart" role="img" aria-label="forest plot" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>']
    for tick in _ticks(lo, hi):
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 16}" text-anchor="middle" fill="#555">{_fmt(tick)}</text>')
    for k, row in rows.iterrows():
        y = top + row_h * k + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{esc(row["model"])}</text>')
        if math.isfinite(low[k]) and math.isfinite(high[k]):
            parts.append(f'<line x1="{scale(low[k]):.1f}" y1="{y:.1f}" x2="{scale(high[k]):.1f}" y2="{y:.1f}" '
                         f'stroke="#3465a4" stroke-width="2"><title>{esc(row["model"])}: {_fmt(low[k])} to '
                         f'{_fmt(high[k])}</title></line>')
        if math.isfinite(score[k]):
            parts.append(f'<circle cx="{scale(score[k]):.1f}" cy="{y:.1f}" r="5" fill="#204a87">'
                         f'<title>{esc(row["model"])}: {_fmt(score[k])}</title></circle>')
    parts.append(f'<text x="{(left + width - right) / 2:.0f}" y="{height - 2}" text-anchor="middle" '
                 f'fill="#333">{esc(label)}</text></svg>')
    return "".join(parts)


def _heat_rgb(value: float) -> tuple[int, int, int]:
    """Red below 0.5, white at 0.5, blue above: a diverging scale centred on 'no difference'."""
    if not math.isfinite(value):
        return 0xF2, 0xF2, 0xF2
    t = max(-1.0, min(1.0, (value - 0.5) * 2))
    if t >= 0:
        r, g, b = (int(255 - t * (255 - c)) for c in (52, 101, 164))
    else:
        r, g, b = (int(255 + t * (255 - c)) for c in (204, 0, 0))
    return r, g, b


def _heat_color(value: float) -> str:
    return "#{:02x}{:02x}{:02x}".format(*_heat_rgb(value))


#: Above this many models the heatmap is drawn as one image, colour only (see raster_heatmap).
LABELLED_MODELS = 30


def heatmap_is_image(matrix: pd.DataFrame) -> bool:
    """Whether `heatmap` draws this matrix as one image without its values (the notes say so)."""
    return max(matrix.shape) > LABELLED_MODELS


def _heatmap_frame(matrix: pd.DataFrame, cell: int) -> tuple[list[str], list[str], int, int, str]:
    """Row and column names, the grid's left and top, and the opening <svg> tag sized for them."""
    rows, cols = [str(r) for r in matrix.index], [str(c) for c in matrix.columns]
    longest = max((len(c) for c in cols), default=4)
    left, top = 150, 24 + min(longest, 24) * 5
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 10
    return rows, cols, left, top, (f'<svg class="chart" role="img" aria-label="win-rate heatmap" '
                                   f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT}>')


def heatmap(matrix: pd.DataFrame, *, cell: int = 56) -> str:
    """Win-rate matrix: row model's win rate against the column model."""
    if matrix.empty:
        return ""
    if heatmap_is_image(matrix):
        return raster_heatmap(matrix)
    rows, cols, left, top, opening = _heatmap_frame(matrix, cell)
    parts = [opening]
    for j, name in enumerate(cols):
        x = left + cell * j + cell / 2
        parts.append(f'<text transform="translate({x:.1f},{top - 8}) rotate(-40)" text-anchor="start">{esc(name)}</text>')
    values = matrix.to_numpy(float)
    for i, name in enumerate(rows):
        y = top + cell * i
        parts.append(f'<text x="{left - 8}" y="{y + cell / 2 + 4:.1f}" text-anchor="end">{esc(name)}</text>')
        for j in range(len(cols)):
            v = values[i, j]
            x = left + cell * j
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{_heat_color(v)}">'
                         f'<title>{esc(name)} vs {esc(cols[j])}: {"–" if not math.isfinite(v) else f"{v:.1%}"}</title></rect>')
            if math.isfinite(v):
                ink = "#fff" if abs(v - 0.5) > 0.3 else "#000"
                parts.append(f'<text x="{x + cell / 2 - 1:.1f}" y="{y + cell / 2 + 4:.1f}" text-anchor="middle" '
                             f'fill="{ink}">{v * 100:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def histograms(values: dict[str, np.ndarray], *, bins: int = 10, width: int = 220, height: int = 110) -> str:
    """One small histogram per model on a shared x range, so shapes can be compared."""
    finite = [v[np.isfinite(v)] for v in values.values()]
    everything = np.concatenate(finite) if finite else np.zeros(0)
    if everything.size == 0:
        return ""
    lo, hi = float(everything.min()), float(everything.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    out = ['<div class="hists">']
    for name, data in values.items():
        data = data[np.isfinite(data)]
        counts, _ = np.histogram(data, bins=edges)
        peak = max(int(counts.max()), 1)
        bar_w = (width - 10) / bins
        parts = [f'<figure><svg class="chart" role="img" aria-label="histogram" '
                 f'width="{width}" height="{height + 30}" viewBox="0 0 {width} {height + 30}" {FONT}>']
        for k, count in enumerate(counts):
            h = (height - 10) * count / peak
            x = 5 + k * bar_w
            parts.append(f'<rect x="{x:.1f}" y="{height - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" fill="#729fcf">'
                         f'<title>{_fmt(edges[k])} to {_fmt(edges[k + 1])}: {count}</title></rect>')
        parts.append(f'<line x1="5" y1="{height}" x2="{width - 5}" y2="{height}" stroke="#888"/>')
        parts.append(f'<text x="5" y="{height + 14}" fill="#555">{_fmt(lo)}</text>')
        parts.append(f'<text x="{width - 5}" y="{height + 14}" text-anchor="end" fill="#555">{_fmt(hi)}</text>')
        parts.append(f'<text x="{width / 2}" y="{height + 27}" text-anchor="middle">n={data.size}, '
                     f'mean {_fmt(float(data.mean())) if data.size else "–"}</text></svg>')
        out.append("".join(parts) + f"<figcaption>{esc(name)}</figcaption></figure>")
    out.append("</div>")
    return "".join(out)


def raster_heatmap(matrix: pd.DataFrame, *, cell: int = 9) -> str:
    """The win-rate matrix of many models as one PNG, a pixel per pair, drawn `cell` pixels wide,
    with the model names along both axes: 100 models are 10,000 cells, which as labelled SVG
    squares would make a 1 MB page; as an image they cost a few kilobytes. The values are in
    report_win_rates.csv (the section's note says so)."""
    rows, cols, left, top, opening = _heatmap_frame(matrix, cell)
    pixels = [[_heat_rgb(v) for v in row] for row in matrix.to_numpy(float)]
    image = base64.b64encode(png(pixels)).decode("ascii")
    small = 'font-size="8"'
    parts = [opening,
             f'<image x="{left}" y="{top}" width="{cell * len(cols)}" height="{cell * len(rows)}" '
             f'preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,{image}"/>']
    for j, name in enumerate(cols):
        x = left + cell * j + cell / 2
        parts.append(f'<text transform="translate({x:.1f},{top - 4}) rotate(-60)" {small}>{esc(name)}</text>')
    for i, name in enumerate(rows):
        parts.append(f'<text x="{left - 4}" y="{top + cell * i + cell - 1}" text-anchor="end" {small}>{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def png(pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """An 8-bit RGB PNG of `pixels` (rows of (r, g, b)): the format's three chunks, by zlib."""
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
