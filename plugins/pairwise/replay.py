"""How the replay judge answers pairwise requests: a stored verdict is found by item and the
models in positions A and B; a request whose order was not stored is answered from the other order
with the verdict mirrored (A>>B becomes B>>A, and so on). The answer carries the level in the form
the request asks for; a free-text answer carries it in all three verdict formats (`[[2]]`,
`[[A>B]]`, `[[A]]`), each format's parser reading only its own mark, so whichever format the
replaying task uses finds the same verdict."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from harness.judges.replay_answers import json_answer, logs, respond, schema_enum
from harness.models import JudgeRequest, JudgeResponse
from harness.protocol.replay_view import Found, ReplayView, Stored
from harness.stats.preference import MIRROR, SHARE_A, expected_share_a
from harness_plugins.pairwise.verdicts import BINARY, SCALE

_DIGIT = {level: digit for digit, level in SCALE.items()}
MIRRORED = ("replay: answer orders the source run did not judge are answered with the other order's verdict "
            "mirrored (A>>B read as B>>A, ...)")


class PairwiseReplayView(ReplayView):
    def keys(self, item_id: str, request_id: str, stored: Stored) -> tuple[Hashable, ...]:
        data = stored.data
        return ((item_id, data["model_a"], data["model_b"]),) if "model_a" in data and "model_b" in data else ()

    def find(self, stored: Mapping[Hashable, Stored], request: JudgeRequest) -> Found:
        item, a, b = request.item_id, request.meta.get("model_a"), request.meta.get("model_b")
        what = f"item {item!r} with {a!r} as A and {b!r} as B (either order)"
        same = stored.get((item, a, b))
        if same is not None:
            return Found(same, what)
        other = stored.get((item, b, a))
        return Found(mirrored(other), what, MIRRORED) if other is not None else Found(None, what)

    def answer(self, request: JudgeRequest, stored: Stored) -> JudgeResponse:
        return pairwise_answer(request, stored.data["level"], stored.data.get("probs"))


def mirrored(stored: Stored) -> Stored:
    """A pairwise verdict from the other position's side (level and distribution)."""
    data = dict(stored.data)
    if "level" in data:
        data["level"] = MIRROR[data["level"]]
    if isinstance(data.get("probs"), dict):
        data["probs"] = {MIRROR[level]: p for level, p in data["probs"].items()}
    return Stored(stored.status, data, stored.error)


def share_a(level: str, probs: dict[str, float] | None) -> float:
    """P(position A preferred), a tie counting half: what a forced A/B choice can carry."""
    return expected_share_a(probs or {level: 1.0})


def binary_letter(level: str, probs: dict[str, float] | None) -> tuple[str, dict[str, float] | None]:
    """The forced choice for a level and its A/B distribution. A choice has no "slightly" and no
    tie: a tie becomes a 50/50 choice, so its expected outcome stays a tie."""
    share = share_a(level, probs)
    letter = "A" if SHARE_A[level] > 0.5 or (level == "A=B" and share >= 0.5) else "B"
    if probs is None and level != "A=B":
        return letter, None
    return letter, logs({"A": share, "B": 1.0 - share})


def pairwise_answer(request: JudgeRequest, level: str, probs: dict[str, float] | None) -> JudgeResponse:
    """A pairwise verdict (position A's view) in the form the request asks for."""
    scale_top = logs({_DIGIT[lv]: p for lv, p in probs.items()}) if probs else None
    letter, letter_top = binary_letter(level, probs)
    schema_value = schema_enum(request, "verdict")
    if schema_value is not None:
        if all(isinstance(v, int) for v in schema_value):
            return json_answer(request, "verdict", int(_DIGIT[level]), _DIGIT[level], scale_top)
        if set(schema_value) == set(BINARY):
            return json_answer(request, "verdict", letter, letter, letter_top)
        return json_answer(request, "verdict", level, level, None)
    choices = request.constraint.choices if request.constraint else ()
    if f"[[{_DIGIT[level]}]]" in choices:
        return respond([("[[", None), (_DIGIT[level], scale_top), ("]]", None)], request)
    if letter in choices:
        return respond([(letter, letter_top)], request)
    # Free text: every format's mark, each read only by its own format's parser.
    return respond([
        ("[[", None), (_DIGIT[level], scale_top), (f"]]\n[[{level}]]\n[[", None), (letter, letter_top), ("]]", None),
    ], request)
