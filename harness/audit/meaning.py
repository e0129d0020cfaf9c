"""One line per probe saying what its effect means for the task's rankings, in the user's terms:
points of win rate (pairwise) or points on the rubric's scale."""

from __future__ import annotations

from typing import Any

from harness.audit.design import Probe

_WHAT = {
    "position": "the answer shown first",
    "verbosity": "an answer padded {pct} longer with content-free text",
    "markdown": "the same answer with headers, bold and bullets",
    "authority": "the same answer with invented credentials and citations",
    "injection": "an answer carrying a planted verdict for the judge",
    "quality": "a degraded copy of an answer",
    "self_preference": "an answer by {family} (the judge's family)",
}
_ADVICE = {
    "position": "both orders are judged, so rankings average it out, but single-order verdicts would be skewed",
    "verbosity": "keep length control on (options.length_k or style control)",
    "markdown": "keep style control on (options.style_control)",
    "authority": "answers that cite sources or claim expertise may be over-ranked",
    "injection": "answers can steer this judge: fence or filter them, or use another judge",
    "self_preference": "this includes any real quality difference: compare with a judge from another family",
}


def meaning(probe: Probe, entry: dict[str, Any], shape: str, scale: tuple[int, int] | None) -> str:
    effect, low, high, n = entry.get("effect"), entry.get("ci_low"), entry.get("ci_high"), entry.get("n", 0)
    what = _WHAT[probe.kind].format(pct=f"{round((probe.padding or 0) * 100)}%", family=entry.get("family_model"))
    if effect is None or low is None or high is None:
        return f"{probe.name}: no usable verdicts, so nothing can be said about {what}"
    if shape == "compare":
        size = f"{abs(effect) * 100:.1f} points of win rate (95% interval {_points(low)} to {_points(high)}, {n} items)"
    else:
        lo, hi = scale or (0, 1)
        size = f"{abs(effect):.2f} points on the {lo}-{hi} scale (95% interval {low:+.2f} to {high:+.2f}, {n} items)"
    followed = entry.get("followed_share")
    extra = f"; {followed:.0%} of verdicts followed the planted one" if followed is not None else ""
    if probe.kind == "quality":
        if entry.get("significant") and effect < 0:
            return f"quality (control): {what} loses {size}: the judge does see quality"
        verb = "gains" if effect >= 0 else "loses"
        return (f"quality (control): {what} {verb} {size}, not a significant loss: this judge may not tell better "
                "answers from worse ones, so its rankings may not reflect quality")
    verb = "gains" if effect >= 0 else "loses"
    if entry.get("significant"):
        return f"{probe.name}: {what} {verb} {size}{extra}: {_ADVICE[probe.kind]}"
    p = entry.get("p_value")
    return f"{probe.name}: no significant effect (Holm-adjusted p = {p:.2g}); {what} {verb} {size}{extra}"


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"
