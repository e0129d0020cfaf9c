"""The end of a `harness` process that aggregated a store: its records are not freed one by one.

A million verdicts are about eight million objects (each verdict, its fields, its data, its
probabilities). Reference counting frees them one at a time as the command's frames return:
0.8 s at the end of a cold `harness aggregate` of a million verdicts (0.05-0.09 s of a 1.6 s one
at 46k), for memory the operating system takes back whole a moment later. So in the `harness`
process (`harness.cli.main` without argv) an aggregation keeps its verdicts (`keep_until_exit`),
and once the command has returned its exit code the process ends at once (`exit_now`): the
standard streams flushed and the atexit functions run, as the interpreter's own exit does, then
`os._exit`. Every file a command writes is closed before it returns, so nothing is lost.

The process exits normally (frees everything) where nothing was kept (a command that aggregated
nothing, or failed before it read a store) or a thread other than daemon threads still runs (its
work would be cut short). A library caller or a test calling `main(argv)` is never ended.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

_command_line = False
_kept: list[object] = []


def ends_with_command() -> None:
    """This process is the `harness` command line: it ends when its command returns."""
    global _command_line
    _command_line = True


def keep_until_exit(records: object) -> None:
    """Hold `records` (an aggregation's verdicts) until the process ends, in a command-line
    process; elsewhere nothing."""
    if _command_line:
        _kept.append(records)


def exit_now(code: int) -> None:
    """End the process with `code` without freeing its objects, when records were kept and no
    other non-daemon thread runs; else return (the caller exits normally)."""
    if not _kept or any(t is not threading.current_thread() and not t.daemon and t.is_alive()
                        for t in threading.enumerate()):
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: the interpreter would not write it either
            pass
    atexit._run_exitfuncs()  # logging's flush, temporary files' finalizers: as the interpreter's exit runs them
    os._exit(code)
