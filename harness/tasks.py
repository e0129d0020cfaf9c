"""Load a task file into a ready task: spec, protocol config, items, prompt renderer.

Every problem a user can make in a task file comes back as one BadInput line naming the file
and the field, never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.by_category import restrict_items
from harness.datasets import dataset_facts, load_items
from harness.errors import BadInput
from harness.models import Item, TaskSpec
from harness.prompts import PromptRenderer, builtin_prompt_dir, make_environment
from harness.protocol import Task, TaskKind
from harness.reasoning_traces import describe as describe_traces
from harness.reasoning_traces import strip_item_traces
from harness.registry import Registry


@dataclass
class LoadedTask:
    path: Path
    spec: TaskSpec
    kind: TaskKind
    config: BaseModel
    items: list[Item]
    task: Task
    #: Content digests of the whole dataset, before `--limit` (see harness.running.design).
    dataset_facts: dict[str, Any] = field(default_factory=dict)
    #: Whether reasoning traces were stripped from the answers, and how many changed per model.
    reasoning_traces: dict[str, Any] | None = None


def read_task_file(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> TaskSpec:
    """Parse and validate the YAML; `overrides` are `dotted.key=value` strings from `--set`."""
    name = _display(path)
    if not path.is_file():
        raise BadInput(f"{name}: no such task file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{name}: cannot read ({exc.__class__.__name__})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise BadInput(f"{name}{line}: YAML syntax error: {problem}") from None
    if raw is None:
        raise BadInput(f"{name}: the file is empty")
    if not isinstance(raw, dict):
        raise BadInput(f"{name}: a task file must be a mapping of keys to values")
    for override in overrides:
        _apply_override(raw, override)
    try:
        return TaskSpec.model_validate(raw)
    except ValidationError as exc:
        raise BadInput(f"{name}: {describe_validation_error(exc)}") from None


def load_task(
    path: str | Path,
    registry: Registry,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    prepare_jinja: Any = None,
    limit: int | None = None,
    categories: tuple[str, ...] = (),
) -> LoadedTask:
    path = Path(path)
    name = _display(path)
    spec = read_task_file(path, overrides)
    kind = registry.task_kind(spec.protocol, f"{name}: protocol")
    try:
        config = kind.config_model.model_validate(spec.options)
    except ValidationError as exc:
        raise BadInput(f"{name}: {describe_validation_error(exc, prefix='options')}") from None
    base_dir = path.resolve().parent
    template = spec.template or kind.task_class.default_template
    if template is None:
        raise BadInput(f"{name}: template: the protocol {kind.name!r} has no default template; set one")
    env = make_environment([base_dir, builtin_prompt_dir()], prepare_jinja)
    try:
        renderer = PromptRenderer(env, template)
        items = load_items(spec.dataset, base_dir)
    except BadInput as exc:
        raise BadInput(f"{name}: {exc}") from None
    facts = dataset_facts(items)
    items = restrict_items(items, categories)
    if limit is not None:
        if limit < 1:
            raise BadInput("--limit must be at least 1")
        items = items[:limit]
    strip = bool(getattr(config, "strip_reasoning", True))
    items, changed = strip_item_traces(items) if strip else (items, {})
    task = kind.task_class(spec, config, items, renderer)
    task.base_dir = base_dir
    try:
        task.check()
    except BadInput as exc:
        raise BadInput(f"{name}: {exc}") from None
    return LoadedTask(path=path, spec=spec, kind=kind, config=config, items=items, task=task,
                      dataset_facts=facts, reasoning_traces=describe_traces(strip, changed))


#: The names pydantic puts in an error's location for the member of a union it tried
#: (`judge.JudgeSettings.concurrency`, `judge.str`): types, never the fields of a task file.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|list\[.*\]|dict\[.*\]|tuple\[.*\]|[A-Z]\w*)$")


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """The first pydantic error as `field.path: message`, in a user's words. Of a union's
    members (a judge given as text or as a mapping), the one whose shape the input has speaks:
    a mapping with a bad field is not "Input should be a valid string"."""
    errors = exc.errors()
    shaped = [e for e in errors if not e["type"].endswith("_type")]  # not a mismatch of the input's own type
    error = (shaped or errors)[0]
    loc = ".".join(str(p) for p in (prefix, *error["loc"])
                   if p != "" and not (isinstance(p, str) and _UNION_MEMBER.match(p) and len(error["loc"]) > 1))
    if error["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    if error["type"] == "missing":
        return f"{loc}: required but missing"
    message = error["msg"].removeprefix("Value error, ")
    return f"{loc}: {message}" if loc else message


def parse_key_value(text: str, flag: str) -> tuple[str, Any]:
    """`KEY=VALUE` from the command line, the value read as YAML (8192 -> int, true -> bool,
    [a, b] -> list; text that is not YAML stays text)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise BadInput(f"{flag} {text!r}: expected KEY=VALUE")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def _apply_override(raw: dict[str, Any], override: str) -> None:
    key, parsed = parse_key_value(override, "--set")
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:  # absent, or an empty section (`options:`)
            child = node[part] = {}
        if not isinstance(child, dict):
            raise BadInput(f"--set {override!r}: {part!r} is not a mapping")
        node = child
    node[parts[-1]] = parsed


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def find_task_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.yaml")) + sorted(p for p in root.glob("*.yml"))
