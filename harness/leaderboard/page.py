"""leaderboard.csv, leaderboard_tasks.csv, leaderboard.md and leaderboard.html: the same table in
every format, with what it rests on (tasks, rounds, missing models, incomplete runs) said."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.reports.markdown import md_table
from harness.reports.page import document, esc, section, table
from harness.reports.svg import forest_plot
from harness.store import frame_to_csv

if TYPE_CHECKING:
    from harness.leaderboard.combine import Leaderboard

LEADERBOARD_FILE = "leaderboard.csv"
TASKS_FILE = "leaderboard_tasks.csv"


def method_note(board: Leaderboard) -> str:
    return (f"rank: Kemeny-Young consensus of the {len(board.tasks)} tasks' rankings ({board.kemeny}); borda: points "
            "summed over tasks (one per model beaten there, half per tie); rank:<task> and score:<task>: each task's own "
            f"order and score (scores on different scales are never averaged). Intervals: 95% over {board.rounds} rounds "
            "resampling items within each task; empty where every round gave the same value")


def write(board: Leaderboard, out: Path) -> list[Path]:
    from harness.reports.report import output_directory, write_output

    output_directory(out)  # or one line saying why not (exit 2)
    files = {
        LEADERBOARD_FILE: frame_to_csv(board.table),
        TASKS_FILE: frame_to_csv(board.tasks),
        "leaderboard.md": markdown(board),
        "leaderboard.html": html(board),
    }
    for name, text in files.items():
        write_output(out / name, text)
    return [out / name for name in files]


def markdown(board: Leaderboard) -> str:
    return "".join([
        "# Leaderboard\n\n", method_note(board), ".\n\n",
        "".join(f"> **Note:** {note}\n>\n" for note in board.notes), "\n" if board.notes else "",
        md_table(board.table), "\n## Tasks\n\n", md_table(board.tasks),
        f"\n_Written by harness {__version__}._\n",
    ])


def html(board: Leaderboard) -> str:
    notes = "".join(f'<p class="warning"><strong>Note:</strong> {esc(n)}</p>' for n in board.notes)
    borda = board.table.rename(columns={"borda": "score", "borda_ci_low": "ci_low", "borda_ci_high": "ci_high"})
    sections = [
        ("leaderboard", "Leaderboard", section("leaderboard", "Leaderboard",
                                               notes + table(board.table) + forest_plot(borda, label="Borda points"),
                                               method_note(board))),
        ("tasks", "Tasks", section("tasks", "Tasks", table(board.tasks), "the runs combined, one per task")),
    ]
    return document("Leaderboard", f"{len(board.tasks)} tasks · harness {__version__}", sections)



