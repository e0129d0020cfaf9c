"""Judge diagnostics: how far the verdicts can be trusted, before anyone reads the ranking.

Unusable outputs, what the protocol's view adds (position bias: does the judge prefer whatever it
reads first? length bias: does the longer answer win more than half the time?), and what the run
cost. Numbers from
run.json are read defensively: fields appear as the harness grows, and imported runs lack most.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.reports.view import RunData, diagnostic_row

COLUMNS = ["group", "metric", "value", "n", "note"]


def judge_diagnostics(run: RunData) -> pd.DataFrame:
    """One row per diagnostic: group, metric, value (number or text), n, and what it means."""
    rows: list[dict[str, Any]] = []
    rows += _verdict_counts(run)
    rows += run.view.diagnostics(run)  # the protocol's own: position bias, length bias, ...
    rows += manifest_rows(run.manifest, run.verdicts)
    return pd.DataFrame(rows, columns=COLUMNS)


def _verdict_counts(run: RunData) -> list[dict[str, Any]]:
    status = run.verdicts["status"].fillna("ok")
    total = len(status)
    rows = [diagnostic_row("verdicts", "verdicts", total, total, "judge calls recorded")]
    for name, note in (("ok", "parsed"), ("invalid", "the judge answered but the output did not parse; not scored"),
                       ("failed", "the call failed after retries; not scored, retried on the next run")):
        count = int((status == name).sum())
        rows.append(diagnostic_row("verdicts", f"{name}", count, total, note))
    return rows


def manifest_rows(manifest: dict[str, Any], verdicts: pd.DataFrame) -> list[dict[str, Any]]:
    """Calls, retries, errors, wall time, cache, tokens and cost, from whatever run.json holds.

    Run-level fields (`usage`, `tokens`, `cost`, `cache`) are shown as they are; where one is
    absent, the same field summed over the invocations (rates such as price per 1M tokens are
    taken from the last invocation, not summed).
    """
    rows: list[dict[str, Any]] = []
    invocations = [i for i in manifest.get("invocations") or [] if isinstance(i, dict)]
    if invocations:
        rows.append(diagnostic_row("calls", "invocations", len(invocations), None, "times `harness run` worked on this directory"))
        for key, note in (("calls", "judge calls made (cache hits are not calls)"),
                          ("retries", "calls retried after a transient error"),
                          ("reasks", "calls asked again after an unparsable answer")):
            values = [value for i in invocations if isinstance(value := i.get(key), (int, float))]
            if values:
                rows.append(diagnostic_row("calls", key, int(sum(values)), None, note))
        errors: dict[str, float] = {}
        for inv in invocations:
            for name, count in (inv.get("errors") or {}).items():
                if isinstance(count, (int, float)):
                    errors[name] = errors.get(name, 0) + count
        for name, count in sorted(errors.items()):
            rows.append(diagnostic_row("calls", f"errors: {name}", int(count), None, "errors seen by the retry loop"))
        walls = [wall for i in invocations if isinstance(wall := i.get("wall_s"), (int, float))]
        if walls:
            rows.append(diagnostic_row("calls", "wall time (s)", round(float(sum(walls)), 3), None, ""))
    if isinstance(manifest.get("usage"), dict):
        rows += [diagnostic_row("usage", name, value, None, "run.json usage (all invocations)")
                 for name, value in _flatten(manifest["usage"], "usage")]
    for key in ("cache", "tokens", "cost"):
        if manifest.get(key) is not None:
            rows += [diagnostic_row(key, name, value, None, "from run.json") for name, value in _flatten(manifest[key], key)]
            continue
        summed = _sum_leaves([dict(_flatten(inv.get(key), key)) for inv in invocations])
        rows += [diagnostic_row(key, name, value, None, "summed over invocations") for name, value in summed.items()]
    if not any(r["group"] == "tokens" for r in rows) and "usage" not in manifest:
        for column, name in (("tokens_in", "tokens.in"), ("tokens_out", "tokens.out")):
            if column in verdicts.columns:
                total = pd.to_numeric(verdicts[column], errors="coerce").sum()
                rows.append(diagnostic_row("tokens", name, int(total), len(verdicts), "summed over verdicts"))
    return rows


def _sum_leaves(leaves: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers added up across invocations, except rates (`per_`), which keep the last value."""
    out: dict[str, Any] = {}
    for leaf in leaves:
        for name, value in leaf.items():
            additive = isinstance(value, (int, float)) and not isinstance(value, bool) and "per_" not in name
            out[name] = out.get(name, 0) + value if additive and name in out else value
    return out


def _flatten(value: Any, prefix: str) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key, inner in value.items():
            out += _flatten(inner, f"{prefix}.{key}")
        return out
    if isinstance(value, (int, float, str, bool)):
        return [(prefix, value)]
    return [(prefix, str(value)[:200])]
