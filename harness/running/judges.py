"""Judge panels: several judges in one run, every judge asked every request.

A task file's `judges:` (a list of what `judge:` takes) or a repeated `--judge` makes a panel. The
judges are independent lanes (harness.running.lanes): each has its own backend, concurrency, rate limits,
retries, price and budget, and its verdicts are stored under its own label, so a panel's verdicts
never collide and a judge that is down leaves the others' work intact. A panel of one judge is
an ordinary run, with exactly the files and keys a single-judge run has always had.

Command-line settings (`--base-url`, `--concurrency`, `--judge-timeout`, `--judge-option`) apply
to every judge. A `--judge` takes the task file's settings of the judge with the same spec, else
of the first task-file judge with the same backend (as a single `--judge` always did).

Resuming: a run directory remembers each judge's fingerprint (judge, protocol, prompt). A rerun
may name the same judges or more (a panel can grow: the new judges are asked every request and
the others pay only for what they have not answered), never fewer or other ones, because the
pooled numbers would silently change meaning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.models import JudgeSpec
from harness.running.design import check_same_design

if TYPE_CHECKING:
    from harness.running.options import RunOptions
    from harness.store import RunDirectory
    from harness.tasks import LoadedTask


def command_line_judges(options: RunOptions) -> list[str]:
    """`--judge` as given: none, one spec, or several (a panel)."""
    given = options.judge
    if given is None:
        return []
    specs = [given] if isinstance(given, str) else list(given)
    if any(not s.strip() for s in specs):  # `--judge "$JUDGE"` with JUDGE unset: never another judge instead
        raise BadInput("--judge: an empty judge spec (give one, e.g. openai:MODEL, or leave --judge out)")
    return specs


def judge_specs(loaded: LoadedTask, options: RunOptions) -> list[JudgeSpec]:
    """Every judge of the run: the task's (`judge:` or `judges:`), or `--judge` (repeatable), with
    the command line's settings on top. Two judges with the same label are bad input."""
    entries = [(e, {}) if isinstance(e, str) else (e.spec, e.settings) for e in loaded.spec.judge_entries]
    given = command_line_judges(options)
    chosen: list[tuple[str, dict[str, Any], str]] = []
    if given:
        for spec in given:
            settings = next((s for name, s in entries if name == spec), None)
            if settings is None:
                backend = spec.partition(":")[0]
                settings = next((s for name, s in entries if name.partition(":")[0] == backend), {})
            chosen.append((spec, dict(settings), "--judge"))
    else:
        where = "judges" if loaded.spec.judges is not None else "judge"
        chosen = [(spec, dict(s), where if len(entries) == 1 else f"judges[{i}]") for i, (spec, s) in enumerate(entries)]
    overrides = _command_line_settings(options)
    specs = []
    for spec, settings, where in chosen:
        settings.update(overrides)
        if options.judge_options:
            settings["options"] = {**settings.get("options", {}), **options.judge_options}
        specs.append(_parse(spec, settings, where))
    labels = [s.label for s in specs]
    for label in labels:
        if labels.count(label) > 1:
            raise BadInput(f"judge {label} is named twice; a panel's judges must differ")
    return specs


def _command_line_settings(options: RunOptions) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if options.judge_timeout_s is not None:
        if options.judge_timeout_s <= 0:
            raise BadInput("--judge-timeout must be positive")
        settings["timeout_s"] = options.judge_timeout_s
    if options.base_url:
        settings["base_url"] = options.base_url
    if options.concurrency is not None:
        if options.concurrency < 1:
            raise BadInput("--concurrency must be at least 1")
        settings["concurrency"] = options.concurrency
    return settings


def _parse(spec: str, settings: dict[str, Any], where: str) -> JudgeSpec:
    from pydantic import ValidationError

    from harness.tasks import describe_validation_error

    try:
        return JudgeSpec.parse(spec, **settings)
    except ValidationError as exc:
        raise BadInput(f"judge {spec}: {describe_validation_error(exc)}") from None
    except ValueError as exc:
        raise BadInput(f"{where}: {exc}") from None


def judge_fingerprint(loaded: LoadedTask, label: str) -> str:
    """What must match for one judge's stored verdicts to be reused: judge, protocol and prompt."""
    parts = {
        "judge": label,
        "protocol": loaded.kind.name,
        "protocol_version": loaded.task.version,
        "template": loaded.task.prompts.source_hash,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def run_fingerprint(loaded: LoadedTask, labels: Sequence[str]) -> str:
    """The run's fingerprint: a single judge's as it always was; a panel's over every judge's."""
    prints = sorted(judge_fingerprint(loaded, label) for label in labels)
    if len(prints) == 1:
        return prints[0]
    return hashlib.sha256(json.dumps(prints).encode()).hexdigest()[:16]


def stored_judges(previous: dict[str, Any]) -> dict[str, str]:
    """Fingerprint -> judge label of every judge a run directory's run.json records."""
    panel = previous.get("panel")
    if isinstance(panel, dict) and isinstance(panel.get("judges"), list):
        return {str(j.get("fingerprint")): str(j.get("judge")) for j in panel["judges"] if isinstance(j, dict)}
    judge = ((previous.get("judge") or {}).get("spec") or {}) if isinstance(previous.get("judge"), dict) else {}
    label = f"{judge.get('backend')}:{judge.get('model')}" if judge.get("model") else str(judge.get("backend"))
    return {str(previous.get("fingerprint")): label}


def check_resumable(store: RunDirectory, loaded: LoadedTask, labels: Sequence[str], spec: JudgeSpec | None = None) -> None:
    """Refuse a run directory holding verdicts of judges (or a protocol, prompt, dataset or judging
    option) this run lacks; `spec`: the run's one judge (none for a panel)."""
    previous = store.read_manifest()
    if previous is None and store.stored_count():
        raise BadInput(
            f"--out {store.path}: holds stored verdicts but no run.json, so which judge and prompt made them "
            "is unknown; choose another --out"
        )
    if previous is None:
        return
    check_same_design(store.path, previous, loaded, spec)
    wanted = {judge_fingerprint(loaded, label) for label in labels}
    missing = {fp: label for fp, label in stored_judges(previous).items() if fp not in wanted}
    if not missing:
        return
    if isinstance(previous.get("panel"), dict) and len(missing) < len(stored_judges(previous)):
        names = ", ".join(sorted(missing.values()))
        raise BadInput(f"--out {store.path}: holds a panel whose judge(s) {names} this run lacks (a panel may "
                       "gain judges, not lose them); name every judge again or choose another --out")
    raise BadInput(
        f"--out {store.path}: holds a run with another judge, protocol or prompt; "
        "choose another --out to keep both"
    )


def check_panel_task(loaded: LoadedTask) -> None:
    """A panel needs a task whose requests do not depend on one judge's answers (the protocol
    says why not, e.g. pairwise's adaptive sampling plans its rounds from the verdicts)."""
    obstacle = loaded.task.panel_obstacle()
    if obstacle is not None:
        raise BadInput(f"{loaded.path}: {obstacle}")
