"""Pairwise verdict parsing, logprob distributions, the length rule and rewards.

Expected numbers are worked out by hand in the comments next to them.
"""

from __future__ import annotations

import math

import pytest

from harness.models import JudgeResponse, TokenLogprob
from harness.protocol import InvalidOutput
from harness.stats.preference import adjust_distribution, apply_length_rule, expected_reward_a
from harness_plugins.pairwise.verdicts import BINARY, SCALE, level_distribution, parse_level

ln = math.log


# -- parse_level: scale ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("[[1]]", "A>>B"),
        ("[[2]]", "A>B"),
        ("[[3]]", "A=B"),
        ("[[4]]", "B>A"),
        ("[[5]]", "B>>A"),
        ("Both are fine, but B is clearer.\n[[ 4 ]]", "B>A"),
        ("verdict: [[\t5  ]]\n", "B>>A"),
    ],
)
def test_scale_marks(text: str, level: str) -> None:
    parsed, offset = parse_level(text, "scale")
    assert parsed == level
    # the offset points at the digit itself
    assert text[offset] == {"A>>B": "1", "A>B": "2", "A=B": "3", "B>A": "4", "B>>A": "5"}[level]


def test_scale_offset_is_the_digit_position() -> None:
    text = "Reasoning here. [[2]]"
    assert parse_level(text, "scale") == ("A>B", 18)  # "Reasoning here. " is 16 chars, "[[" 2 more


@pytest.mark.parametrize("text", ["", "no verdict at all", "[[6]]", "[[0]]", "[2]", "[[A>B]]", "[[12]]", "[[ ]]"])
def test_scale_without_a_mark_is_invalid(text: str) -> None:
    with pytest.raises(InvalidOutput):
        parse_level(text, "scale")


def test_scale_conflicting_marks_are_invalid() -> None:
    with pytest.raises(InvalidOutput, match="conflicting"):
        parse_level("At first I thought [[1]] but on reflection [[4]]", "scale")


def test_scale_repeated_identical_marks_give_that_level() -> None:
    text = "[[2]] because ... so again [[2]]"
    level, offset = parse_level(text, "scale")
    assert level == "A>B"
    assert offset == text.rindex("2")  # the last mark


# -- parse_level: labels ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("[[A>>B]]", "A>>B"),
        ("[[A>B]]", "A>B"),
        ("[[A=B]]", "A=B"),
        ("[[B>A]]", "B>A"),
        ("[[B>>A]]", "B>>A"),
        ("My final verdict is [[B<A]]", "A>B"),
        ("[[B<<A]]", "A>>B"),
        ("[[A<B]]", "B>A"),
        ("[[A<<B]]", "B>>A"),
        ("tie: [[B=A]]", "A=B"),
        ("[[ A >> B ]]", "A>>B"),
    ],
)
def test_label_marks(text: str, level: str) -> None:
    assert parse_level(text, "labels")[0] == level


@pytest.mark.parametrize("text", ["A>>B", "[[A>A]]", "[[3]]", "[[A]]", "[A>B]", "nothing"])
def test_labels_without_a_valid_mark_are_invalid(text: str) -> None:
    with pytest.raises(InvalidOutput):
        parse_level(text, "labels")


def test_labels_conflicting_marks_are_invalid() -> None:
    with pytest.raises(InvalidOutput):
        parse_level("[[A>B]] ... [[B>>A]]", "labels")


def test_labels_aliases_of_one_level_do_not_conflict() -> None:
    # [[A>B]] and [[B<A]] say the same thing
    assert parse_level("[[A>B]] and restated: [[B<A]]", "labels")[0] == "A>B"
    assert parse_level("[[A=B]] [[B=A]]", "labels")[0] == "A=B"


# -- parse_level: binary ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level", "offset"),
    [
        ("A", "A>>B", 0),
        ("B", "B>>A", 0),
        (" B\n", "B>>A", 1),
        ("\n\nA ", "A>>B", 2),
        ("Answer A is correct. [[A]]", "A>>B", 23),
        ("B is on topic.\n[[ B ]]", "B>>A", 18),
    ],
)
def test_binary_marks(text: str, level: str, offset: int) -> None:
    assert parse_level(text, "binary") == (level, offset)


@pytest.mark.parametrize("text", ["", "C", "A is better", "AB", "[[C]]", "[[1]]"])
def test_binary_without_a_mark_is_invalid(text: str) -> None:
    with pytest.raises(InvalidOutput):
        parse_level(text, "binary")


def test_binary_conflicting_marks_are_invalid() -> None:
    with pytest.raises(InvalidOutput):
        parse_level("[[A]] no wait [[B]]", "binary")


def test_binary_repeated_marks() -> None:
    assert parse_level("[[B]] ... [[B]]", "binary")[0] == "B>>A"


# -- level_distribution ----------------------------------------------------------------------------


def response(tokens: list[TokenLogprob] | None, text: str | None = None) -> JudgeResponse:
    if text is None:
        text = "".join(t.token for t in tokens or [])
    return JudgeResponse(text=text, logprobs=tuple(tokens) if tokens is not None else None)


def test_scale_distribution_renormalised_over_digits() -> None:
    tokens = [
        TokenLogprob(token="B is better.", logprob=-0.1),
        TokenLogprob(token=" [[", logprob=-0.01),
        TokenLogprob(token="2", logprob=ln(0.6), top={"2": ln(0.6), "1": ln(0.2), "3": ln(0.1), "x": ln(0.05)}),
        TokenLogprob(token="]]", logprob=0.0),
    ]
    resp = response(tokens)
    level, offset = parse_level(resp.text, "scale")
    assert level == "A>B"
    probs = level_distribution(resp, offset, SCALE)
    # digits only: 0.6 + 0.2 + 0.1 = 0.9; "x" is not a level
    expected = {"A>>B": 0.2 / 0.9, "A>B": 0.6 / 0.9, "A=B": 0.1 / 0.9, "B>A": 0.0, "B>>A": 0.0}
    assert probs is not None
    assert set(probs) == set(expected)
    for lvl, p in expected.items():
        assert probs[lvl] == pytest.approx(p, abs=1e-6)


def test_chosen_token_missing_from_top_is_added() -> None:
    tokens = [
        TokenLogprob(token="[[", logprob=0.0),
        TokenLogprob(token="4", logprob=ln(0.3), top={"5": ln(0.5), "3": ln(0.1)}),
        TokenLogprob(token="]]", logprob=0.0),
    ]
    resp = response(tokens)
    level, offset = parse_level(resp.text, "scale")
    assert level == "B>A"
    probs = level_distribution(resp, offset, SCALE)
    # 0.3 (chosen "4") + 0.5 + 0.1 = 0.9
    assert probs == pytest.approx(
        {"A>>B": 0.0, "A>B": 0.0, "A=B": 0.1 / 0.9, "B>A": 0.3 / 0.9, "B>>A": 0.5 / 0.9}, abs=1e-6
    )


def test_infinite_logprobs_are_ignored() -> None:
    tokens = [
        TokenLogprob(token="[[", logprob=0.0),
        TokenLogprob(token="1", logprob=ln(0.8), top={"1": ln(0.8), "2": -math.inf, "5": ln(0.2)}),
        TokenLogprob(token="]]", logprob=0.0),
    ]
    resp = response(tokens)
    probs = level_distribution(resp, parse_level(resp.text, "scale")[1], SCALE)
    assert probs == pytest.approx({"A>>B": 0.8, "A>B": 0.0, "A=B": 0.0, "B>A": 0.0, "B>>A": 0.2}, abs=1e-6)


@pytest.mark.parametrize(
    "tokens",
    [
        # the digit shares its token with the brackets
        [TokenLogprob(token="Verdict: ", logprob=0.0), TokenLogprob(token="[[3", logprob=-0.2, top={"[[3": -0.2}),
         TokenLogprob(token="]]", logprob=0.0)],
        [TokenLogprob(token="[[", logprob=0.0), TokenLogprob(token="3]]", logprob=-0.2, top={"3]]": -0.2, "4]]": -2.0})],
        # the whole output is one token
        [TokenLogprob(token="[[3]]", logprob=-0.2, top={"[[3]]": -0.2})],
    ],
)
def test_symbol_merged_with_other_text_gives_no_distribution(tokens: list[TokenLogprob]) -> None:
    resp = response(tokens)
    level, offset = parse_level(resp.text, "scale")
    assert level == "A=B"
    assert level_distribution(resp, offset, SCALE) is None


def test_tokens_that_do_not_spell_the_text_give_no_distribution() -> None:
    tokens = [TokenLogprob(token="[[", logprob=0.0), TokenLogprob(token="3", logprob=-0.1, top={"3": -0.1}),
              TokenLogprob(token="]]", logprob=0.0)]
    resp = response(tokens, text="[[4]]")  # the text says 4, the tokens say 3
    assert level_distribution(resp, parse_level(resp.text, "scale")[1], SCALE) is None


def test_no_logprobs_gives_no_distribution() -> None:
    resp = JudgeResponse(text="[[2]]", logprobs=None)
    assert level_distribution(resp, parse_level(resp.text, "scale")[1], SCALE) is None
    empty = JudgeResponse(text="[[2]]", logprobs=())
    assert level_distribution(empty, 2, SCALE) is None


def test_binary_distribution_merges_spaced_variants() -> None:
    tokens = [TokenLogprob(token="A", logprob=ln(0.7), top={"A": ln(0.7), "B": ln(0.2), " B": ln(0.05), "C": ln(0.05)})]
    resp = response(tokens)
    level, offset = parse_level(resp.text, "binary")
    assert level == "A>>B"
    probs = level_distribution(resp, offset, BINARY)
    # A: 0.7, B: 0.2 + 0.05 = 0.25, total 0.95
    assert probs == pytest.approx(
        {"A>>B": 0.7 / 0.95, "A>B": 0.0, "A=B": 0.0, "B>A": 0.0, "B>>A": 0.25 / 0.95}, abs=1e-6
    )


def test_binary_distribution_with_a_leading_space_token() -> None:
    tokens = [TokenLogprob(token=" B", logprob=ln(0.4), top={" B": ln(0.4), " A": ln(0.35)}),
              TokenLogprob(token="\n", logprob=0.0)]
    resp = response(tokens)
    assert resp.text == " B\n"
    level, offset = parse_level(resp.text, "binary")
    assert (level, offset) == ("B>>A", 1)
    probs = level_distribution(resp, offset, BINARY)
    assert probs == pytest.approx(
        {"A>>B": 0.35 / 0.75, "A>B": 0.0, "A=B": 0.0, "B>A": 0.0, "B>>A": 0.4 / 0.75}, abs=1e-6
    )


# -- length rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["A>>B", "A>B", "A=B", "B>A", "B>>A"])
def test_length_rule_off(level: str) -> None:
    assert apply_length_rule(level, 10_000, 1, -1) == level
    assert apply_length_rule(level, 1, 10_000, -1) == level


@pytest.mark.parametrize(
    ("level", "len_a", "len_b", "expected"),
    [
        ("A>B", 1101, 600, "A=B"),   # winner A longer by 501 > 500
        ("A>B", 1100, 600, "A>B"),   # exactly K longer: stays
        ("A>B", 600, 1101, "A>B"),   # loser B longer: stays
        ("B>A", 600, 1101, "A=B"),   # winner B longer by 501
        ("B>A", 600, 1100, "B>A"),   # exactly K
        ("B>A", 5000, 10, "B>A"),    # loser A longer
        ("A>>B", 5000, 10, "A>>B"),  # much better never changes
        ("B>>A", 10, 5000, "B>>A"),
        ("A=B", 5000, 10, "A=B"),
    ],
)
def test_length_rule_k500(level: str, len_a: int, len_b: int, expected: str) -> None:
    assert apply_length_rule(level, len_a, len_b, 500) == expected


def test_length_rule_k0() -> None:
    assert apply_length_rule("A>B", 11, 10, 0) == "A=B"
    assert apply_length_rule("A>B", 10, 10, 0) == "A>B"


def test_adjust_distribution_moves_slight_win_of_longer_winner_to_tie() -> None:
    probs = {"A>>B": 0.1, "A>B": 0.4, "A=B": 0.2, "B>A": 0.2, "B>>A": 0.1}
    # A is 900 chars longer: "A>B" mass goes to the tie, "B>A" (winner B is shorter) stays
    adjusted = adjust_distribution(probs, 1000, 100, 500)
    assert adjusted == pytest.approx({"A>>B": 0.1, "A>B": 0.0, "A=B": 0.6, "B>A": 0.2, "B>>A": 0.1})
    assert probs["A>B"] == 0.4  # input left alone
    # B longer: the other way round
    adjusted_b = adjust_distribution(probs, 100, 1000, 500)
    assert adjusted_b == pytest.approx({"A>>B": 0.1, "A>B": 0.4, "A=B": 0.4, "B>A": 0.0, "B>>A": 0.1})
    # within K, or rule off: unchanged
    assert adjust_distribution(probs, 600, 100, 500) == pytest.approx(probs)
    assert adjust_distribution(probs, 1000, 100, -1) == pytest.approx(probs)
    # expected reward before: 10 + 20 + 0 - 10 - 10 = 10; after: 10 + 0 + 0 - 10 - 10 = -10
    assert expected_reward_a(probs) == pytest.approx(10.0)
    assert expected_reward_a(adjusted) == pytest.approx(-10.0)


def test_expected_reward_a() -> None:
    assert expected_reward_a({"A>>B": 1.0}) == 100
    assert expected_reward_a({"B>>A": 1.0}) == -100
    assert expected_reward_a({"A=B": 1.0}) == 0
    assert expected_reward_a({"A>>B": 0.5, "B>A": 0.5}) == pytest.approx(25.0)  # 50 - 25
    # 0.2*100 + 0.3*50 + 0.1*0 + 0.3*(-50) + 0.1*(-100) = 20 + 15 - 15 - 10 = 10
    assert expected_reward_a({"A>>B": 0.2, "A>B": 0.3, "A=B": 0.1, "B>A": 0.3, "B>>A": 0.1}) == pytest.approx(10.0)
