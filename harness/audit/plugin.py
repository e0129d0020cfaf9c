"""The built-in plugin that adds `harness audit`, registered through harness_register_commands
like any third-party subcommand (the entry point `audit` of this distribution)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness import hookimpl


@hookimpl
def harness_register_commands(register: Callable[[str, Any], None]) -> None:
    from harness.audit.arguments import AUDIT

    register("audit", AUDIT)
