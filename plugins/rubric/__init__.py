"""Absolute grading against a score rubric (Prometheus, WildBench WB-Score, MT-Bench single)."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.protocol import TaskKind
from harness_plugins.rubric.config import RubricConfig


@hookimpl
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    from harness_plugins.rubric.task import RubricTask  # loaded when a task is, not for `harness --help`

    register(
        TaskKind(
            name="rubric",
            config_model=RubricConfig,
            task_class=RubricTask,
            description="grade each answer on a score rubric; mean score, WB-Score, expected score from logprobs",
        )
    )
