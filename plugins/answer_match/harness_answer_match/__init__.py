"""Answer matching for harness (Chandak et al. 2025, "Answer Matching Outperforms Multiple Choice
for Language Model Evaluation"): a judge sees the question, a reference answer and a model's
free-form answer and says whether they match; each model's accuracy comes with an item-bootstrap
interval.

This module is the plugin: harness loads it through the `harness` entry-point group. It uses six
hooks: a protocol, its prompt's directory on the template search path, a metric, a reporter, an
import format (answer_match_grades) and a subcommand (`harness mismatches`).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

from harness import hookimpl
from harness.protocol import TaskKind
from harness_answer_match.audit import MISMATCHES
from harness_answer_match.config import AnswerMatchOptions
from harness_answer_match.extras import COVERAGE, coverage, write_mismatches
from harness_answer_match.grades import FORMAT, import_grades

__version__ = "0.1.0"


@hookimpl
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    from harness_answer_match.task import AnswerMatchTask  # loaded when a task is, not for `harness --help`

    register(TaskKind(
        name="answer_match", config_model=AnswerMatchOptions, task_class=AnswerMatchTask,
        description="does each free-form answer match the reference? accuracy with item-bootstrap CI",
    ))


@hookimpl
def harness_prepare_jinja_environment(env: Any) -> None:
    """Look for answer_match.jinja in this package after the task's directory and the built-ins,
    so a task can still override it with a file of the same name next to the task file."""
    import jinja2

    env.loader = jinja2.ChoiceLoader([env.loader, jinja2.FileSystemLoader(str(files(__name__) / "templates"))])


@hookimpl
def harness_register_metrics(register: Callable[[str, Any], None]) -> None:
    register(COVERAGE, coverage)


@hookimpl
def harness_register_reporters(register: Callable[[str, Any], None]) -> None:
    register("answer_match_mismatches", write_mismatches)


@hookimpl
def harness_register_importers(register: Callable[[str, Any], None]) -> None:
    register(FORMAT, import_grades)


@hookimpl
def harness_register_commands(register: Callable[[str, Any], None]) -> None:
    register("mismatches", MISMATCHES)
