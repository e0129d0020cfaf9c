"""The cycle collector around bulk reads (harness.bulk_reads): paused while a store is read and
restored as it was; in the `harness` process the verdicts read are frozen out of its sight, so
the full collections that walked a million verdicts (5 of `harness aggregate`'s seconds) no longer
see them; a caller of `main(argv)` keeps its collector."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bulk_reads import bulk_read
from harness.models import Verdict
from harness.store import export_lines


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The arguments of every mallopt call harness.bulk_reads makes, recorded instead of made."""
    import harness.bulk_reads as bulk_reads

    made: list[tuple[int, ...]] = []

    def mallopt(*args: int) -> int:
        made.append(args)
        return 1

    monkeypatch.setattr(bulk_reads, "_libc_function", lambda name: mallopt)
    return made


def test_the_collector_is_paused_inside_and_restored_as_it_was() -> None:
    assert gc.isenabled()
    with bulk_read():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with bulk_read():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller's own pause is not undone
    finally:
        gc.enable()
    assert gc.get_freeze_count() == 0  # a library caller's objects are never frozen


def write_store(directory: Path, count: int) -> None:
    directory.mkdir()
    verdicts = [Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id=f"i{i % 50}", judge="j", status="ok",
                        data={"model_a": "a", "model_b": "b", "level": "A>B"}) for i in range(count)]
    (directory / "store.jsonl").write_text(export_lines(verdicts), encoding="utf-8")


FROZEN_AFTER_READ = """
import gc, sys
from harness.store import RunDirectory
if sys.argv[1] == "command":
    from harness.bulk_reads import freeze_after_bulk_reads
    freeze_after_bulk_reads()  # what main() does for the harness script
with RunDirectory(sys.argv[2]) as store:
    kept = list(store.latest().values())
    print(gc.get_freeze_count() >= 2 * len(kept))  # a verdict and its dicts are in the collector's sight
"""


def test_a_command_freezes_what_it_read_and_a_library_caller_does_not(tmp_path: Path) -> None:
    write_store(tmp_path / "run", 30_000)
    outcome = {mode: subprocess.run([sys.executable, "-c", FROZEN_AFTER_READ, mode, str(tmp_path / "run")],
                                    capture_output=True, text=True, check=True).stdout.strip()
               for mode in ("library", "command")}
    assert outcome == {"library": "False", "command": "True"}


def test_the_harness_script_turns_freezing_on_and_main_with_arguments_does_not(tmp_path: Path) -> None:
    code = ("import sys, harness.bulk_reads as b\n"
            "from harness.cli import main\n"
            "try:\n    main(sys.argv[1:] if sys.argv[1] != 'script' else None)\n"
            "except SystemExit:\n    pass\n"
            "print(b._freeze)\n")
    as_library = subprocess.run([sys.executable, "-c", code, "--version"], capture_output=True, text=True)
    as_script = subprocess.run([sys.executable, "-c", code, "script"], capture_output=True, text=True)
    assert as_library.stdout.split()[-1] == "False"
    assert as_script.stdout.split()[-1] == "True"


def test_free_memory_is_handed_back_where_the_c_library_can(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    import harness.bulk_reads as bulk_reads

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert bulk_reads.release_free_memory() is True  # glibc: malloc_trim found and called
    monkeypatch.setattr(bulk_reads, "_libc_function", lambda name: None)  # musl, macOS, Windows
    assert bulk_reads.release_free_memory() is False


def test_large_blocks_are_set_to_go_back_when_freed_unless_the_user_chose(
    monkeypatch: pytest.MonkeyPatch, calls: list[tuple[int, ...]],
) -> None:
    import platform

    import harness.bulk_reads as bulk_reads

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    assert bulk_reads.large_blocks_returned_when_freed() is True
    assert calls == [(bulk_reads.M_MMAP_THRESHOLD, 1 << 20), (bulk_reads.M_TOP_PAD, 256 << 20)]
    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")  # the user's own top pad stands
    assert bulk_reads.large_blocks_returned_when_freed() is True
    assert calls[2:] == [(bulk_reads.M_MMAP_THRESHOLD, 1 << 20)]
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")  # the user's own setting stands
    assert bulk_reads.large_blocks_returned_when_freed() is False and len(calls) == 3
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setattr(bulk_reads, "_libc_function", lambda name: None)  # no glibc
    assert bulk_reads.large_blocks_returned_when_freed() is False
    monkeypatch.undo()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert bulk_reads._libc_function("mallopt") is not None  # the real one is found here


def test_only_a_large_read_of_the_command_line_process_sets_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.bulk_reads as bulk_reads

    set_calls: list[int] = []

    def setting() -> bool:
        set_calls.append(1)
        return True

    monkeypatch.setattr(bulk_reads, "large_blocks_returned_when_freed", setting)
    monkeypatch.setattr(bulk_reads, "_freeze", False)  # a library caller, or main(argv)
    assert bulk_reads.after_large_read(10 * bulk_reads.LARGE_READ) is False and set_calls == []
    monkeypatch.setattr(bulk_reads, "_freeze", True)  # the harness process
    assert bulk_reads.after_large_read(bulk_reads.LARGE_READ - 1) is False and set_calls == []
    assert bulk_reads.after_large_read(bulk_reads.LARGE_READ) is True and set_calls == [1]


def test_a_large_import_read_keeps_its_blocks_in_the_heap_then_hands_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[tuple[int, ...]],
) -> None:
    import harness.bulk_reads as bulk_reads

    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in files:
        path.write_bytes(b"[]" + b" " * 598)
    monkeypatch.setattr(bulk_reads, "LARGE_FILES", 1200)  # the two files together, not one alone
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(bulk_reads, "_freeze", True)  # the harness process
    heap = [(bulk_reads.M_MMAP_THRESHOLD, 256 << 20), (bulk_reads.M_TRIM_THRESHOLD, 512 << 20)]
    after = [(bulk_reads.M_TRIM_THRESHOLD, 128 << 10), (bulk_reads.M_MMAP_THRESHOLD, 1 << 20),
             (bulk_reads.M_TOP_PAD, 256 << 20)]
    with pytest.raises(KeyError), bulk_reads.large_files_read(files) as large:  # a reader that fails
        assert large is True and calls == heap
        raise KeyError("the reader failed")
    assert calls == heap + after  # handed over all the same
    calls.clear()
    with bulk_reads.large_files_read(files[:1] + [tmp_path / "missing.json"]) as large:
        assert large is False
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "4096")  # the user's own setting stands
    with bulk_reads.large_files_read(files) as large:
        assert large is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(bulk_reads, "_freeze", False)  # a library caller, or main(argv)
    with bulk_reads.large_files_read(files) as large:
        assert large is False
    assert calls == []


def test_the_top_pad_is_kept_before_a_large_store_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[tuple[int, ...]],
) -> None:
    import harness.bulk_reads as bulk_reads
    from harness.store import STORE_FILE, RunDirectory

    monkeypatch.delenv("MALLOC_TOP_PAD_", raising=False)
    monkeypatch.setattr(bulk_reads, "_freeze", False)  # a library caller
    assert bulk_reads.before_large_read(1 << 40) is False and calls == []
    monkeypatch.setattr(bulk_reads, "_freeze", True)  # the harness process
    assert bulk_reads.before_large_read(bulk_reads.LARGE_STORE_BYTES - 1) is False and calls == []
    assert bulk_reads.before_large_read(bulk_reads.LARGE_STORE_BYTES) is True
    assert calls == [(bulk_reads.M_TOP_PAD, 256 << 20)]
    monkeypatch.setenv("MALLOC_TOP_PAD_", "4096")  # the user's own top pad stands
    assert bulk_reads.before_large_read(1 << 40) is False and len(calls) == 1
    monkeypatch.delenv("MALLOC_TOP_PAD_")
    # a run directory asks with its store's size before reading it
    calls.clear()
    verdicts = [Verdict(request_id=f"r{i}", request_key=f"k{i}", item_id="i", judge="j", status="ok") for i in range(3)]
    (tmp_path / STORE_FILE).write_text(export_lines(verdicts))
    monkeypatch.setattr(bulk_reads, "LARGE_STORE_BYTES", (tmp_path / STORE_FILE).stat().st_size)
    with RunDirectory(tmp_path) as store:
        assert store.stored_count() == 3
    assert calls[0] == (bulk_reads.M_TOP_PAD, 256 << 20)
