"""Recompute a run directory's numbers from its stored verdicts, without judging again.

Works for runs written by `harness run` and by `harness import` alike: the protocol and its
options come from run.json, the verdicts from the store, and the registered protocol's own
aggregation does the arithmetic. Items are rebuilt from the verdicts (id and which models
answered), because aggregation needs no prompts or answers and an imported run has no dataset.
Aggregation-only options (the length rule's K, soft scoring, bootstrap rounds: those the protocol
declares `aggregation`, see harness.protocol.roles) can be changed with overrides; the new options
are recorded in run.json. The numbers are made by harness.running.finish, as `harness run` makes them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.bulk_reads import bulk_read
from harness.by_category import restrict_verdicts
from harness.calibrate.identity import identity_from_manifest
from harness.errors import BadInput
from harness.models import DatasetSpec, Item, Message, TaskSpec, Verdict
from harness.plugins import LoadedPlugins, load_plugins
from harness.prompts import PromptRenderer, builtin_prompt_dir, make_environment
from harness.protocol import Task
from harness.protocol.roles import options_with_role
from harness.protocol.verdict_columns import columns_if_shared, columns_shared
from harness.registry import Registry
from harness.running.finish import finish_run, record_counts, run_calibration
from harness.running.process_end import keep_until_exit
from harness.running.result import RunResult
from harness.store import MANIFEST_FILE, STORE_FILE, VERDICTS_FILE, RunDirectory, json_line, line_request_key, read_store
from harness.tasks import LoadedTask, describe_validation_error, parse_key_value


def apply_overrides(
    config: dict[str, Any], overrides: list[str] | tuple[str, ...], options: type[BaseModel],
) -> dict[str, Any]:
    """`options.KEY=VALUE` (or `KEY=VALUE`) changes one option `options` (the protocol's options
    model) declares aggregation-only."""
    changeable = options_with_role(options, "aggregation")
    config = dict(config)
    for text in overrides:
        key, value = parse_key_value(text, "--set")
        name = key.removeprefix("options.")
        if not name or "." in name:
            raise BadInput(f"--set {text!r}: expected options.NAME=VALUE (a protocol option)")
        if name in options.model_fields and name not in changeable:
            raise BadInput(f"--set {text!r}: {name!r} changes what the judge was asked; judge again with `harness run`")
        if name not in config:
            known = ", ".join(sorted(k for k in config if k in changeable))
            raise BadInput(f"--set {text!r}: unknown option {name!r} (aggregation options: {known})")
        config[name] = value
    return config


def items_from_verdicts(verdicts: list[Verdict]) -> list[Item]:
    """One placeholder item per item id, answered by every model its verdicts mention."""
    answers: dict[str, dict[str, str]] = {}
    table = columns_if_shared(verdicts)  # the first step of an aggregation: it gathers them for the rest
    named = (zip(table.item_id, table.model, table.model_a, table.model_b) if table is not None else
             ((v.item_id, v.data.get("model"), v.data.get("model_a"), v.data.get("model_b")) for v in verdicts))
    for item_id, *names in named:
        models = answers.setdefault(item_id, {})
        for name in names:
            if isinstance(name, str):
                models.setdefault(name, "")
    return [
        Item(id=item_id, conversation=(Message(role="user", content=""),), answers=models)
        for item_id, models in answers.items()
    ]


def ordered_verdicts(
    directory: Path, *, panel: bool = False, records: dict[Any, Verdict] | None = None,
    store: RunDirectory | None = None,
) -> list[Verdict]:
    """The store's latest record per request (per judge and request in a panel), in the order of
    the previous export when there is one (so recomputing an unchanged run reproduces its files),
    then in store order. `records`: the store as an open RunDirectory already read it. `store`:
    that RunDirectory, opened with index_lines: when the previous export lists every record once
    and nothing else, the store compares it with its lines and may keep it (adopt_export); else
    it remembers which of its lines the new export can copy (keep_lines_for)."""
    if records is None:
        records = read_store(directory / STORE_FILE, by_judge=panel)
    try:
        listed, only_records = _previous_order(directory / VERDICTS_FILE, records, panel)
        if len(listed) == len(records):  # the export listed every record: nothing follows
            if only_records and store is not None and not panel and store.adopt_export(listed):
                return listed
            ordered = listed
        else:
            seen = set(map(id, listed))
            ordered = listed + [v for v in records.values() if id(v) not in seen]
        if store is not None and not panel:
            store.keep_lines_for(ordered)  # the export may copy lines of the store that need no encoding
        return ordered
    finally:
        if store is not None:
            store.release_line_index()


def _previous_order(previous: Path, records: dict[Any, Verdict], panel: bool) -> tuple[list[Verdict], bool]:
    """The records in the order the previous export lists their keys, each once (empty when there
    is no export or a line of it is no record), and whether every line of it listed one (no line
    of another record, none twice). Read a line at a time: the file whole as text and the list
    of its lines held a gigabyte at a million verdicts."""
    listed: list[Verdict] = []
    if not previous.is_file():
        return listed, False
    only_records = True
    find = records.get
    seen: set[int] = set()  # a line listed twice would count its verdict twice
    with previous.open("rb") as handle:
        for line in handle:
            fast = None if panel else line_request_key(line)
            if fast is None:
                try:
                    record = _export_record(line)
                    key = (record.get("judge"), record.get("request_key")) if panel else record.get("request_key")
                    found = find(key)
                except (ValueError, AttributeError, TypeError):  # TypeError: a key that cannot be hashed
                    return [], False
            else:
                found = find(fast)
            if found is None or id(found) in seen:
                only_records = False
                continue
            seen.add(id(found))
            listed.append(found)
    return listed, only_records


def _export_record(line: bytes) -> Any:
    """One line of an export as json_line reads it; a line that is not UTF-8 is read with its bad
    bytes replaced, as the export's text always was (its key is still found)."""
    try:
        return json_line(line)
    except UnicodeDecodeError:
        return json_line(line.decode("utf-8", errors="replace"))


def recompute(
    run_dir: str | Path, overrides: list[str] | tuple[str, ...] = (), plugins: LoadedPlugins | None = None,
    calibration: str | Path | None = None, force_calibration: bool = False, categories: tuple[str, ...] = (),
    written: list[Verdict] | None = None,
) -> RunResult:
    """Aggregate the stored verdicts again and rewrite verdicts.jsonl, scores.csv, ranking.csv and
    run.json's summary (each written atomically); the run as `harness run` gives it. `written`:
    the store's verdicts when the caller has just written the store from them (an import; see
    RunDirectory), so it is not read again."""
    directory = Path(run_dir)
    if not (directory / MANIFEST_FILE).is_file() or not (directory / STORE_FILE).is_file():
        raise BadInput(f"{directory}: not a run directory (needs {MANIFEST_FILE} and {STORE_FILE})")
    plugins = plugins or load_plugins()
    registry = Registry.collect(plugins.manager)
    # columns_shared: the verdicts' fields gathered once for every step below (a million: seconds)
    with RunDirectory(directory, written, index_lines=written is None) as store, columns_shared():
        manifest = store.read_manifest() or {}
        protocol = manifest.get("protocol")
        if not isinstance(protocol, dict) or not isinstance(protocol.get("name"), str):
            raise BadInput(f"{directory / MANIFEST_FILE}: protocol.name: required but missing")
        kind = registry.task_kind(protocol["name"], f"{directory / MANIFEST_FILE}: protocol.name")
        config_data = apply_overrides(protocol.get("config") or {}, overrides, kind.config_model)
        try:
            config = kind.config_model.model_validate(config_data)
        except ValidationError as exc:
            raise BadInput(f"{directory / MANIFEST_FILE}: {describe_validation_error(exc, prefix='options')}") from None
        spec = stored_task_spec(manifest, protocol["name"], config_data, directory)
        panel = isinstance(manifest.get("panel"), dict)
        with bulk_read():  # a list of a million verdicts and its index: no cycles to look for
            verdicts = (None if panel else store.exported_as_stored()) or ordered_verdicts(
                directory, panel=panel, records=store.latest(by_judge=panel), store=store)
        if not verdicts:
            raise BadInput(f"{directory / STORE_FILE}: no verdicts to aggregate")
        keep_until_exit(verdicts)  # the harness process ends without freeing a million of them
        task_dir = stored_task_dir(manifest)
        env = make_environment([*([task_dir] if task_dir else []), builtin_prompt_dir()],
                               plugins.manager.prepare_jinja_environment)
        renderer = _renderer(env, spec.template or kind.task_class.default_template)
        items = items_from_verdicts(verdicts)
        task = stored_task(kind, spec, config, items, renderer, task_dir, directory)
        applied = run_calibration(calibration, directory,
                                  lambda: identity_from_manifest(manifest, str(directory / MANIFEST_FILE), registry),
                                  registry, panel=panel, force=force_calibration)
        record_counts(manifest, verdicts)
        verdicts = restrict_verdicts(task, manifest, verdicts, categories)
        aggregate = finish_run(task, registry, store, manifest, verdicts, calibration=applied,
                               panel=_stored_panel(manifest, verdicts) if panel else None)
        protocol["config"] = config.model_dump(mode="json")
        manifest["protocol"] = protocol
        manifest.setdefault("aggregations", []).append(
            {"at": datetime.now(UTC).isoformat(timespec="seconds"), "overrides": list(overrides),
             **({"calibration": manifest["calibration"]["file"]} if applied is not None else {})}
        )
        store.write_manifest(manifest)
    task_file = manifest.get("task_file")
    loaded = LoadedTask(Path(task_file) if isinstance(task_file, str) else directory / MANIFEST_FILE, spec, kind,
                        config, items, task)
    return RunResult(directory=directory, manifest=manifest, aggregate=aggregate, loaded=loaded)


def _stored_panel(manifest: dict[str, Any], verdicts: list[Verdict]) -> Any:
    from harness.panel.per_judge import stored_panel  # only a panel loads the panel code

    return stored_panel(manifest, verdicts)


def stored_task_dir(manifest: dict[str, Any]) -> Path | None:
    """The directory of the task file the run was made from, while it still exists: its templates
    and rubric library are found there first, as the run found them."""
    task_file = manifest.get("task_file")
    if isinstance(task_file, str) and task_file:
        directory = Path(task_file).expanduser().resolve().parent
        if directory.is_dir():
            return directory
    return None


def _renderer(env: Any, template: str | None) -> PromptRenderer | None:
    """The task's prompt template, or None when it cannot be loaded any more (moved, or from a
    plugin no longer installed): aggregating stored verdicts renders no prompt."""
    if not template:
        return None
    try:
        return PromptRenderer(env, template)
    except BadInput:
        return None


def stored_task(kind: Any, spec: TaskSpec, config: Any, items: list[Item], renderer: PromptRenderer | None,
                task_dir: Path | None, directory: Path) -> Task:
    """The task of a stored run, checked as a run checks it (check() also derives what aggregate
    needs: a rubric's scale, the pairs of a pairwise design), its items those of the store."""
    task = kind.task_class(spec, config, items, renderer)
    task.base_dir = task_dir
    task.items_from_store = True
    try:
        task.check()
    except BadInput as exc:
        raise BadInput(f"{directory / MANIFEST_FILE}: {exc}") from None
    return task


def stored_task_spec(manifest: dict[str, Any], protocol: str, options: dict[str, Any], directory: Path) -> TaskSpec:
    """The recorded task (for its name and template), or a stand-in for an imported run."""
    raw = manifest.get("task")
    if isinstance(raw, dict):
        try:
            return TaskSpec.model_validate({**raw, "protocol": protocol, "options": options})
        except ValidationError:
            pass
    name = str(manifest.get("name") or directory.name or "run").replace("/", "_").lstrip(".") or "run"
    return TaskSpec(name=name, protocol=protocol, dataset=DatasetSpec(path="(none)"), options=options)


def aggregate_command(args: argparse.Namespace, plugins: LoadedPlugins | None = None) -> int:
    """`harness aggregate RUN`: recompute, print the result, exit 1 while the run is incomplete."""
    from harness.cli_output import print_run_result, report_completeness

    plugins = plugins or load_plugins()
    result = recompute(args.run_dir, tuple(getattr(args, "overrides", ()) or ()), plugins,
                       calibration=getattr(args, "calibration", None),
                       force_calibration=bool(getattr(args, "force_calibration", False)),
                       categories=tuple(getattr(args, "categories", None) or ()))
    plugins.manager.run_finished(result)  # as after `harness run`: the directory's files are rewritten
    print_run_result(result)
    unusable = report_completeness(result.manifest)
    counts = result.manifest.get("counts", {})
    missing = int(counts.get("failed", 0)) + int(counts.get("pending", 0))
    if missing:  # the numbers are recomputed, and as incomplete as the run: say so, exit 1
        print(f"harness: incomplete: {missing} of {result.manifest.get('requests', '?')} requests have no verdict "
              f"({counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed); the numbers leave them out; "
              f"`harness run` with --out {result.directory} judges them", file=sys.stderr)
    return 1 if missing or unusable else 0
