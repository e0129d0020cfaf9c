"""How a dead engine process ended, in words a user can act on (the signal's name and meaning)."""

from __future__ import annotations

import signal


def describe_exit(code: int | None) -> tuple[str, str | None]:
    """('was killed by SIGSEGV (segmentation fault)', 'SIGSEGV') or ('exited with code 3', None)."""
    if code is None:
        return "stopped answering", None
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"was killed by signal {-code}", None
        meaning = signal.strsignal(-code) or ""
        if name == "SIGKILL":
            meaning = "killed, often by the out-of-memory killer"
        return (f"was killed by {name} ({meaning.lower()})" if meaning else f"was killed by {name}"), name
    return f"exited with code {code}", None
