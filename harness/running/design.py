"""A rerun into a run directory must judge the same way as the run that filled it.

Resuming reuses stored verdicts, so a rerun with another dataset, prompt template, protocol or
judging option would mix verdicts of two designs into one set of numbers (or silently drop the
old ones). run.json records the design; a rerun that differs is refused before anything is
written, naming what changed. Allowed: options that only pick which requests are asked (a larger
adaptive `budget`), aggregation-only options, `--limit`, and adding models to the dataset (a
checklist or pairwise run grows to judge only the new model).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.protocol.roles import options_with_role

if TYPE_CHECKING:
    from pathlib import Path

    from harness.models import JudgeSpec
    from harness.tasks import LoadedTask

#: Judge (backend) options that change the judge's answers rather than how calls are made:
#: sampling fields sent with every request, the vLLM engine's and llama.cpp server's arguments.
#: Rate limits, retries, timeouts, transport and concurrency may change on a rerun.
ANSWER_CHANGING_JUDGE_OPTIONS = ("extra_body", "engine_args", "server_args")


def design_changes(previous: dict[str, Any], loaded: LoadedTask) -> list[str]:
    """What this run would judge differently from the run recorded in `previous` (run.json).
    A fact an older run.json does not record is not compared."""
    changes = []
    protocol = _mapping(previous.get("protocol"))
    if protocol.get("name") not in (None, loaded.kind.name):
        changes.append(f"protocol ({protocol['name']}, now {loaded.kind.name})")
    elif protocol.get("version") not in (None, loaded.task.version):
        changes.append(f"protocol version ({protocol['version']}, now {loaded.task.version})")
    template = _mapping(previous.get("template"))
    if template.get("sha256_16") not in (None, loaded.task.prompts.source_hash):
        changes.append(f"prompt template {loaded.task.prompts.template_name} (its text differs)")
    changes.extend(_dataset_changes(previous.get("dataset"), loaded.dataset_facts))
    if protocol.get("name") in (None, loaded.kind.name):
        old = _mapping(protocol.get("config"))
        new = json.loads(json.dumps(loaded.config.model_dump(mode="json"), default=str))  # as run.json reads back
        changed = [f"{key} ({old[key]!r}, now {new.get(key)!r})"
                   for key in sorted(fixed_options(loaded) & set(old)) if old[key] != new.get(key)]
        if changed:
            changes.append("options " + ", ".join(changed))
    return changes


def fixed_options(loaded: LoadedTask) -> frozenset[str]:
    """Options a rerun must keep, as the protocol declares them: what each request asks the judge,
    and what wrote part of the prompts (checklist generation)."""
    return options_with_role(type(loaded.config), "judging", "preparation")


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dataset_changes(recorded: Any, facts: dict[str, Any]) -> list[str]:
    if not isinstance(recorded, dict) or not facts:
        return []
    if recorded.get("items_sha256_16") not in (None, facts["items_sha256_16"]):
        return ["dataset (its items differ)"]
    old = _mapping(recorded.get("answers_sha256_16"))
    changed = sorted(m for m, digest in old.items() if m in facts["answers_sha256_16"]
                     and facts["answers_sha256_16"][m] != digest)
    return [f"dataset (the answers of {', '.join(changed)} differ)"] if changed else []


def judge_option_changes(previous: dict[str, Any], spec: JudgeSpec) -> list[str]:
    """The answer-changing judge options that differ from the stored run's judge (one judge)."""
    stored = _mapping(_mapping(previous.get("judge")).get("spec"))
    if "options" not in stored:
        return []
    old = _mapping(stored.get("options"))
    new = json.loads(json.dumps(spec.public_dict()["options"], default=str))  # as run.json records it
    changed = [f"{key} ({old.get(key)!r}, now {new.get(key)!r})"
               for key in ANSWER_CHANGING_JUDGE_OPTIONS if old.get(key) != new.get(key)]
    return ["judge options " + ", ".join(changed)] if changed else []


def check_same_design(path: Path, previous: dict[str, Any], loaded: LoadedTask, spec: JudgeSpec | None = None) -> None:
    """Refuse (exit 2, nothing written) a rerun that would judge differently from the stored run;
    `spec`: the run's judge, when it has one (a panel's judges are told apart by their labels)."""
    changes = design_changes(previous, loaded) + (judge_option_changes(previous, spec) if spec is not None else [])
    if changes:
        raise BadInput(
            f"--out {path}: holds verdicts judged differently: {'; '.join(changes)}; rerun with the "
            "settings it was made with, or start a new run directory (another --out) to keep both"
        )
