"""Imported verdicts are made without pydantic's validation where their fields already have their
types: each must be the verdict the validation makes of the same fields, down to the fields-set
and the stored line, and anything the validation would refuse must still be refused."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.importers.common import pairwise_verdict, rubric_verdict
from harness.models import Verdict
from harness.store import store_line


def validated(verdict: Verdict) -> Verdict:
    """What Verdict(...) makes of the fields the import gave (tokens left at their defaults)."""
    given = {name: getattr(verdict, name) for name in verdict.model_fields_set}
    return Verdict(**given)


def same(built: Verdict, made: Verdict) -> None:
    assert type(built) is Verdict
    assert built.__dict__ == made.__dict__
    assert list(built.__dict__) == list(made.__dict__)  # the model's field order: the stored line's
    assert built.model_fields_set == made.model_fields_set
    assert built.__pydantic_extra__ is made.__pydantic_extra__ is None
    assert built.__pydantic_private__ is made.__pydantic_private__ is None
    assert store_line(built) == store_line(made)
    assert built == made and hash(store_line(built)) == hash(store_line(made))


@pytest.mark.parametrize("level, probs", [("B>>A", {"A>>B": 0.25, "B>>A": 0.75}), ("A=B", None), (None, None)])
@pytest.mark.parametrize("lengths", [(10, 20), (None, 3)])
def test_a_pairwise_verdict_is_the_validated_one(level: str | None, probs: Any, lengths: tuple[Any, Any]) -> None:
    built = pairwise_verdict("fmt", item_id="i-1", model="m", opponent="base", model_is_a=False, level=level,
                             judge="gpt", len_model=lengths[0], len_opponent=lengths[1], probs=probs,
                             category=["a", 1], output=None if level is None else "text ünï",
                             error="no verdict")
    same(built, validated(built))
    assert built.status == ("invalid" if level is None else "ok")
    assert built.error == (None if level is not None else "no verdict")
    assert "tokens_in" not in built.model_fields_set


def test_a_rubric_verdict_is_the_validated_one() -> None:
    built = rubric_verdict("fmt", item_id="q7", model="m", score=7.5, judge="gpt", category=3, length=12,
                           output="Rating: [[7.5]]")
    same(built, validated(built))
    assert built.data == {"model": "m", "category": "3", "length": 12, "score": 7.5}


class Name(str):
    """Text of another type: the validation decides what becomes of it."""


@pytest.mark.parametrize("field", ["item_id", "judge"])
def test_fields_of_another_type_go_through_the_validation(field: str) -> None:
    given: dict[str, Any] = {"item_id": "i", "judge": "j", field: 12}
    with pytest.raises(ValidationError):
        pairwise_verdict("fmt", model="m", opponent="b", model_is_a=True, level="A>B", len_model=1,
                         len_opponent=2, **given)
    given[field] = Name("subclassed")
    built = pairwise_verdict("fmt", model="m", opponent="b", model_is_a=True, level="A>B", len_model=1,
                             len_opponent=2, **given)
    assert type(getattr(built, field)) is str  # the validation's exact text, as before
