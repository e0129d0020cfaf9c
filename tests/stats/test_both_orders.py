"""both_orders pairs a battle table's verdicts judged in both orders; the table's ids may be the
verdicts' own strings (an object column, as the pairwise battles hold them), pandas' text columns,
or numbers (an import's ids): the pairs must be the same, and the strings are not copied."""

from __future__ import annotations

import random

import pandas as pd

from harness.stats.preference import LEVELS, MIRROR, _text, both_orders, position_consistency


def table(n_items: int = 40, seed: int = 2) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for item in range(n_items):
        for a, b in (("m1", "m2"), ("m2", "m3")):
            level = rng.choice(LEVELS)
            rows.append({"item_id": f"q{item}", "model_a": a, "model_b": b, "level": level})
            if rng.random() < 0.7:  # the other order, agreeing or not
                rows.append({"item_id": f"q{item}", "model_a": b, "model_b": a,
                             "level": MIRROR[level] if rng.random() < 0.6 else rng.choice(LEVELS)})
    return pd.DataFrame(rows)


def test_object_and_text_columns_give_the_same_pairs() -> None:
    texts = table()
    objects = texts.astype({"item_id": object, "model_a": object, "model_b": object, "level": object})
    assert objects["item_id"].dtype == object
    expected = both_orders(texts)
    assert len(expected) > 10
    pd.testing.assert_frame_equal(both_orders(objects), expected, check_dtype=False)
    assert position_consistency(objects) == position_consistency(texts)


def test_numeric_ids_are_compared_as_their_text() -> None:
    frame = table()
    numeric = frame.assign(item_id=frame["item_id"].str[1:].astype(int))
    paired = both_orders(numeric)
    assert all(isinstance(v, str) for v in paired["item_id"])
    assert list(paired["item_id"]) == [i[1:] for i in both_orders(frame)["item_id"]]


def test_an_object_column_of_strings_is_kept_and_any_other_made_text() -> None:
    names = pd.Series(["a", "b", "a"], dtype=object)
    assert _text(names) is names
    mixed = pd.Series(["a", 3, None], dtype=object)
    assert _text(mixed) is not mixed
    pd.testing.assert_series_equal(_text(mixed), mixed.astype(str))  # as before: astype(str)
    assert list(_text(pd.Series([1, 2]))) == ["1", "2"]


def test_consistency_counts_the_pairs_whose_winner_and_level_survive_the_swap() -> None:
    """Four pairs judged in both orders, counted by hand: the same level; the same winner at
    another strength; a win turned into a tie; a win turned into a loss. One pair seen once."""
    from harness.stats.preference import inconsistent_pairs

    rows = [("q1", "m1", "m2", "A>B"), ("q1", "m2", "m1", "B>A"),  # same level seen from m1
            ("q2", "m1", "m2", "A>>B"), ("q2", "m2", "m1", "B>A"),  # m1 wins both, not as strongly
            ("q3", "m1", "m2", "A>B"), ("q3", "m2", "m1", "A=B"),  # a win, then a tie
            ("q4", "m1", "m2", "B>A"), ("q4", "m2", "m1", "B>A"),  # m2 wins, then m1 wins
            ("q5", "m1", "m2", "A>B")]  # one order only: not a pair
    battles = pd.DataFrame(rows, columns=["item_id", "model_a", "model_b", "level"])
    result = position_consistency(battles)
    assert result is not None and result.pairs == 4
    assert result.exact == 1 / 4 and result.same_winner == 2 and result.winner == 2 / 4
    assert inconsistent_pairs(battles) == {("q3", "m1", "m2"), ("q4", "m1", "m2")}
