"""harness.stats.memo: arrays kept between the commands of one run directory, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from harness.stats.bradley_terry import bootstrap_bradley_terry
from harness.stats.memo import MEMO_DIR, remembered, remembered_frame, remembered_in


def counted(value: np.ndarray) -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return value.copy()

    return calls, compute


def test_same_inputs_read_back_the_stored_array_bit_for_bit(tmp_path: Path) -> None:
    value = np.random.default_rng(0).normal(size=(50, 4))
    calls, compute = counted(value)
    with remembered_in(tmp_path):
        first = remembered("x", (np.arange(3.0), 10, None), compute)  # type: ignore[arg-type]
        second = remembered("x", (np.arange(3.0), 10, None), compute)  # type: ignore[arg-type]
    assert calls == [1]
    assert first.tobytes() == second.tobytes() == value.tobytes()


def test_any_changed_input_computes_again(tmp_path: Path) -> None:
    calls, compute = counted(np.zeros(2))
    with remembered_in(tmp_path):
        remembered("x", (np.arange(3.0), 10), compute)  # type: ignore[arg-type]
        remembered("x", (np.array([0.0, 1.0, 2.5]), 10), compute)  # type: ignore[arg-type]
        remembered("x", (np.arange(3.0), 11), compute)  # type: ignore[arg-type]
        remembered("x", (np.arange(3.0).reshape(3, 1), 10), compute)  # type: ignore[arg-type]
        remembered("y", (np.arange(3.0), 10), compute)  # type: ignore[arg-type]
    assert len(calls) == 5


TEXT_COLUMNS = [
    ["m1", "m2", "m1"],
    ["m1", "m1", "m2"],  # the same names in another order
    ["m2", "m1", "m2"],  # other names in the same pattern
    ["m1", "m2", "m3"],  # another name
    ["m1", "m2", "m1", "m1"],  # one row more
    ["m1", "m2", None],  # a missing value: every value's repr
    ["m1", "m2", 1],  # a number among the names
    ["m1", "m2", "1"],  # ... and its text
    ["'m1', 'm2'", "m1"],  # text that spells another column's values
]


@pytest.mark.parametrize("dtype", [object, "string"])
def test_a_table_of_text_is_remembered_under_its_exact_values(tmp_path: Path, dtype: object) -> None:
    """Text columns (model names, item ids) are keyed by their distinct values and each row's
    code among them: equal columns, also built anew, read back; any other column computes again."""
    import pandas as pd

    calls, compute = counted(np.zeros(2))
    columns = TEXT_COLUMNS if dtype is object else [c for c in TEXT_COLUMNS if 1 not in c]
    with remembered_in(tmp_path):
        for column in columns:
            remembered("x", (pd.DataFrame({"model": pd.Series(column, dtype=dtype)}),), compute)  # type: ignore[arg-type]
        assert len(calls) == len(columns)
        for column in columns:  # the same values again, in new objects: every one read back
            copy = [f"{value}" if isinstance(value, str) else value for value in column]
            remembered("x", (pd.DataFrame({"model": pd.Series(copy, dtype=dtype)}),), compute)  # type: ignore[arg-type]
    assert len(calls) == len(columns)


def test_a_table_of_unhashable_values_is_remembered_by_their_repr(tmp_path: Path) -> None:
    """Lists in a column (which cannot be factorized) key the memo as before, by every value."""
    import pandas as pd

    calls, compute = counted(np.zeros(2))
    with remembered_in(tmp_path):
        for column in ([[1], [2]], [[1], [2]], [[1], [3]], [{"a": 1}, [2]]):
            remembered("x", (pd.DataFrame({"probs": pd.Series(column, dtype=object)}),), compute)  # type: ignore[arg-type]
    assert len(calls) == 3  # the second column is the first again


def test_nothing_is_stored_outside_a_run_directory(tmp_path: Path) -> None:
    calls, compute = counted(np.zeros(2))
    remembered("x", (1,), compute)  # type: ignore[arg-type]
    remembered("x", (1,), compute)  # type: ignore[arg-type]
    assert calls == [1, 1]


def test_a_read_only_run_directory_only_means_computing_again(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        (tmp_path / MEMO_DIR).write_text("not a folder")  # root ignores permissions: a file blocks the folder
    else:
        tmp_path.chmod(0o500)
    calls, compute = counted(np.ones(3))
    try:
        with remembered_in(tmp_path):
            assert remembered("x", (1,), compute).tolist() == [1.0, 1.0, 1.0]  # type: ignore[arg-type]
            remembered("x", (1,), compute)  # type: ignore[arg-type]
    finally:
        tmp_path.chmod(0o700)
    assert calls == [1, 1]


def test_a_damaged_file_is_computed_again_and_replaced(tmp_path: Path) -> None:
    calls, compute = counted(np.arange(4.0))
    with remembered_in(tmp_path):
        remembered("x", (1,), compute)  # type: ignore[arg-type]
        (stored,) = (tmp_path / MEMO_DIR).glob("*.npy")
        stored.write_bytes(stored.read_bytes()[:20])
        assert remembered("x", (1,), compute).tolist() == [0.0, 1.0, 2.0, 3.0]  # type: ignore[arg-type]
        assert remembered("x", (1,), compute).tolist() == [0.0, 1.0, 2.0, 3.0]  # type: ignore[arg-type]
    assert calls == [1, 1]


def test_an_aggregation_keeps_only_the_arrays_it_used(tmp_path: Path) -> None:
    with remembered_in(tmp_path):
        for i in range(4):
            remembered("x", (i,), lambda: np.zeros(1))
    assert len(list((tmp_path / MEMO_DIR).glob("*.npy"))) == 4
    with remembered_in(tmp_path, keep_only_used=True):
        remembered("x", (2,), lambda: np.zeros(1))
        remembered("x", (9,), lambda: np.zeros(1))
    assert len(list((tmp_path / MEMO_DIR).iterdir())) == 2


def test_a_table_reads_back_with_its_columns_and_dtypes(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame({"model": ["a", "b\u00e9", "c"], "x": [0.1, float("nan"), -0.0], "n": [1, 2, 3],
                          "flag": [True, False, True]})
    calls: list[int] = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return frame.copy()

    with remembered_in(tmp_path):
        remembered_frame("t", (frame,), compute)
        again = remembered_frame("t", (frame,), compute)
        changed = frame.assign(model=["a", "b", "c"])
        remembered_frame("t", (changed,), compute)
    assert calls == [1, 1]
    pd.testing.assert_frame_equal(again, frame)
    assert np.signbit(again["x"].iloc[2])


def test_a_table_with_other_columns_is_computed_each_time(tmp_path: Path) -> None:
    import pandas as pd

    calls: list[int] = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"model": ["a", None]}, index=[3, 4])

    with remembered_in(tmp_path):
        remembered_frame("t", (1,), compute)
        remembered_frame("t", (1,), compute)
    assert calls == [1, 1]


def test_bootstrap_from_the_memo_equals_the_bootstrap_computed(tmp_path: Path) -> None:
    tensor = np.random.default_rng(3).integers(0, 3, size=(40, 4, 4)).astype(float)
    plain = bootstrap_bradley_terry(tensor, n_rounds=50, seed=1)
    with remembered_in(tmp_path):
        stored = bootstrap_bradley_terry(tensor, n_rounds=50, seed=1)
        again = bootstrap_bradley_terry(tensor, n_rounds=50, seed=1)
        other_seed = bootstrap_bradley_terry(tensor, n_rounds=50, seed=2)
    assert plain.tobytes() == stored.tobytes() == again.tobytes()
    assert not np.array_equal(other_seed, plain)
    assert len(list((tmp_path / MEMO_DIR).glob("bt_bootstrap-*.npy"))) == 2


def test_the_report_reuses_the_aggregates_bootstrap_and_writes_the_same_page(tmp_path: Path) -> None:
    from harness.cli import main

    files = []
    for m, model in enumerate(("model-x", "model-y", "model-z")):
        rows = [{"instruction": f"Say {i}.", "output_1": "b" * (20 + i), "generator_1": "base",
                 "output_2": "m" * (10 + 3 * i + m), "generator_2": model, "preference": 1.0 + (i * (m + 2) % 7) / 6}
                for i in range(30)]
        (tmp_path / model).mkdir()
        files.append(str(tmp_path / model / "annotations.json"))
        Path(files[-1]).write_text(json.dumps(rows), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["import", "alpaca_eval", *files, "--out", str(run)]) == 0
    memo = run / MEMO_DIR
    made = sorted(memo.glob("bt_bootstrap-*.npy"))
    assert len(made) == 1
    stamp = made[0].stat().st_mtime_ns
    assert main(["report", str(run), "--out", str(tmp_path / "with")]) == 0
    assert sorted(memo.glob("bt_bootstrap-*.npy")) == made and made[0].stat().st_mtime_ns == stamp  # read, not refitted
    for path in made:
        path.unlink()
    assert main(["report", str(run), "--out", str(tmp_path / "without")]) == 0
    for name in ("report.md", "report_pairs.csv", "report_ranking.csv"):
        assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes(), name


@pytest.mark.parametrize("bad", [np.array([1.0, 2.0])])
def test_inputs_are_checked_before_the_memo(tmp_path: Path, bad: np.ndarray) -> None:
    with remembered_in(tmp_path), pytest.raises(ValueError, match="shape"):
        bootstrap_bradley_terry(bad)


def test_item_draws_are_remembered_compactly_and_read_back_as_drawn(tmp_path: Path) -> None:
    """The item bootstrap's multinomial draws (0.1 s per size at 805 items, one size per category)
    are kept in the run directory in a narrow integer type and come back as the int64 counts the
    generator gives, value for value."""
    from harness.stats.bootstrap import item_bootstrap_counts

    item_bootstrap_counts.cache_clear()
    drawn = np.random.default_rng(7).multinomial(805, np.full(805, 1 / 805), size=1000)
    with remembered_in(tmp_path):
        first = item_bootstrap_counts(805, 1000, 7)
    stored = list((tmp_path / MEMO_DIR).glob("item_draws-*.npy"))
    assert len(stored) == 1 and np.load(stored[0]).dtype == np.uint8  # no item is drawn 256 times
    item_bootstrap_counts.cache_clear()
    with remembered_in(tmp_path):
        again = item_bootstrap_counts(805, 1000, 7)  # this time from the file
    item_bootstrap_counts.cache_clear()
    for counts in (first, again):
        assert counts.dtype == np.int64 and not counts.flags.writeable
        assert np.array_equal(counts, drawn)
