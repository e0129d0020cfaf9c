"""Deprecated alias of `harness.cli_output` (renamed in 0.x: the module prints tables and notes;
`*/command.py` are the subcommand handlers). Importing a name from here still works and warns."""

from __future__ import annotations

import warnings
from typing import Any


def __getattr__(name: str) -> Any:
    from harness import cli_output

    if name.startswith("__"):
        raise AttributeError(name)
    warnings.warn("harness.commands is deprecated: import from harness.cli_output", DeprecationWarning, stacklevel=2)
    return getattr(cli_output, name)
