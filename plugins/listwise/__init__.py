"""Listwise judging (K-Sort Arena): the judge orders K answers at once; Plackett-Luce ratings."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.protocol import TaskKind
from harness_plugins.listwise.config import ListwiseConfig


@hookimpl
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    from harness_plugins.listwise.task import ListwiseTask  # loaded when a task is, not for `harness --help`

    register(
        TaskKind(
            name="listwise",
            config_model=ListwiseConfig,
            task_class=ListwiseTask,
            description="order K answers at once, in K rotations; Plackett-Luce ranking",
        )
    )
