"""Checklist judging (TICK / WildBench): YES/NO questions per instruction, a pass rate per answer."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.protocol import TaskKind
from harness_plugins.checklist.config import ChecklistConfig


@hookimpl
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    from harness_plugins.checklist.task import ChecklistTask  # loaded when a task is, not for `harness --help`

    register(
        TaskKind(
            name="checklist",
            config_model=ChecklistConfig,
            task_class=ChecklistTask,
            description="YES/NO checklist per instruction (given or generated once); pass rate per model",
        )
    )
