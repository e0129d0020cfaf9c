"""Ctrl-C for the processes a test starts, as a terminal delivers it.

A test session started in the background without job control (a CI script's `cmd &`) ignores
SIGINT, and every process it starts inherits that: a run sent SIGINT then never stops. A handled
signal, unlike an ignored one, is reset to its default across exec, so a child started while the
session handles SIGINT meets Ctrl-C as from a terminal."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_as_from_a_terminal() -> Iterator[None]:
    """Within the block, processes started get SIGINT's default action even where this process
    ignores it; this process's own setting is put back afterwards."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
