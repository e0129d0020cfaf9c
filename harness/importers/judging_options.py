"""Which protocol options change what the judge is asked.

Shared by `harness aggregate --set` (which refuses them: the stored verdicts were not judged that
way), the calibration fingerprint (a map is valid only for the same judging settings) and the
rerun check (a run directory's verdicts are reused only when judged the same way), in a module of
its own so none has to import another.
"""

from __future__ import annotations

#: Protocol options that change what the judge is asked: overriding them when re-aggregating
#: would describe verdicts that were never judged that way.
JUDGING_OPTIONS = frozenset({
    "reasoning", "max_tokens", "temperature", "logprobs", "top_logprobs", "verdict_format", "use_checklist",
    "use_reference", "template", "rubric", "rubric_name", "rubric_file", "preset", "baselines", "generate",
    "generate_template", "generate_max_tokens", "max_questions", "sampling", "budget", "stop_confidence",
    "stop_margin", "batch_size", "structured_output", "reask", "mode", "domain",
})

#: Judging options that only pick WHICH requests are asked (pairs, items, how many), not what one
#: request asks: a stored verdict stays valid when they change, so a rerun may change them (a
#: larger `budget` extends an adaptive run; see docs/adaptive.md).
REQUEST_SELECTION = frozenset({"baselines", "sampling", "budget", "stop_confidence", "stop_margin", "batch_size"})
