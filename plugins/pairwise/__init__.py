"""Pairwise comparison: a judge compares two answers, in both orders, on a five-level scale."""

from __future__ import annotations

from collections.abc import Callable

from harness.hookspecs import hookimpl
from harness.protocol import TaskKind
from harness_plugins.pairwise.config import PairwiseConfig


@hookimpl
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    from harness_plugins.pairwise.task import PairwiseTask  # loaded when a task is, not for `harness --help`

    register(
        TaskKind(
            name="pairwise",
            config_model=PairwiseConfig,
            task_class=PairwiseTask,
            description="compare two answers in both orders; WB-Reward and Bradley-Terry ranking",
        )
    )
