"""Which protocol options change what the judge is asked.

Shared by `harness aggregate --set` (which refuses them: the stored verdicts were not judged that
way) and the calibration fingerprint (a map is valid only for the same judging settings), in a
module of its own so neither has to import the other.
"""

from __future__ import annotations

#: Protocol options that change what the judge is asked: overriding them when re-aggregating
#: would describe verdicts that were never judged that way.
JUDGING_OPTIONS = frozenset({
    "reasoning", "max_tokens", "temperature", "logprobs", "top_logprobs", "verdict_format", "use_checklist",
    "use_reference", "template", "rubric", "rubric_name", "rubric_file", "baselines", "generate",
    "generate_template", "sampling", "budget", "stop_confidence", "stop_margin", "batch_size",
})
