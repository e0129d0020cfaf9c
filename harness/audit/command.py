"""`harness audit TASK --out DIR`: judge each probe's controlled pairs with the task's own judge,
template and options, then report each bias as an effect with an interval and a Holm-adjusted test.

Each probe is an ordinary run in DIR/runs/PROBE (its derived dataset in DIR/data/PROBE.jsonl), so
calls go through the judgment cache and the same command with the same --out resumes. audit.json,
audit.md and the printed table are rebuilt from the stored verdicts every time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.audit.config import AuditSettings, audit_settings
from harness.audit.design import Probe, build_probes, compare_options, compare_values, grade_values
from harness.audit.effects import ALPHA, Effect, adjust, estimate
from harness.audit.summary import AUDIT_FILE, print_table, without_number, write_summary
from harness.errors import BadInput, BudgetReached, RunFailed

if TYPE_CHECKING:
    from harness.plugins import LoadedPlugins
    from harness.registry import Registry
    from harness.running.options import RunOptions
    from harness.tasks import LoadedTask


def run(args: argparse.Namespace, plugins: LoadedPlugins) -> int:
    """Exit 0 when every probe's numbers rest on every planned call, 1 when some are missing."""
    from harness.registry import Registry
    from harness.running.options import RunOptions
    from harness.tasks import load_task, parse_key_value

    if args.limit is not None and args.limit < 2:
        raise BadInput("--limit must be at least 2 (an interval needs items to resample)")
    registry = Registry.collect(plugins.manager)
    loaded = load_task(args.task, registry, overrides=args.overrides, prepare_jinja=plugins.manager.prepare_jinja_environment)
    probes_arg = [p.strip() for p in args.probes.split(",") if p.strip()] if args.probes is not None else None
    settings = audit_settings(loaded.spec.audit, str(args.task), probes=probes_arg, items=args.limit, seed=args.seed)
    if probes_arg is not None and "self_preference" in probes_arg and settings.judge_family is None:
        raise BadInput("--probes self_preference: set audit.judge_family in the task file (the answering model "
                       "from the judge's family)")
    shape, top_score, scale = task_shape(loaded)
    probes = build_probes(shape, loaded.config, loaded.items, settings, top_score)
    out = Path(args.out)
    options = RunOptions(judge=args.judge, base_url=args.base_url, concurrency=args.concurrency,
                         progress=not args.no_progress, cache=not args.no_cache,
                         judge_options=dict(parse_key_value(p, "--judge-option") for p in args.judge_options))
    return audit(loaded, probes, settings, shape, scale, top_score, out, options, plugins, registry)


def task_shape(loaded: LoadedTask) -> tuple[str, int | None, tuple[int, int] | None]:
    """Whether the task compares two answers or grades one (and the grading scale's ends)."""
    config, task = loaded.config, loaded.task
    if hasattr(config, "verdict_format") and hasattr(config, "baselines"):
        return "compare", None, None
    # A grading task holds its scale (an object with min_score and max_score) once checked.
    scale = next((v for v in vars(task).values() if hasattr(v, "min_score") and hasattr(v, "max_score")), None)
    if scale is not None:
        return "grade", int(scale.max_score), (int(scale.min_score), int(scale.max_score))
    raise BadInput(f"{loaded.path}: protocol {loaded.spec.protocol!r}: harness audit judges tasks that compare "
                   "two answers or grade one on a scale")


def audit(loaded: LoadedTask, probes: list[Probe], settings: AuditSettings, shape: str, scale: tuple[int, int] | None,
          top_score: int | None, out: Path, options: RunOptions, plugins: LoadedPlugins, registry: Registry) -> int:
    """Run every probe (stopping at a failed one), then write and print what the verdicts say."""
    from harness.running.judges import judge_specs

    specs = judge_specs(loaded, options)
    if len(specs) > 1:
        raise BadInput(f"{loaded.path}: a judge panel; harness audit audits one judge at a time (pass --judge SPEC)")
    _check_out(out, loaded, settings)
    results: dict[str, dict[str, Any]] = {}
    stopped: BaseException | None = None
    for probe in probes:
        try:
            results[probe.name] = _run_probe(loaded, probe, shape, top_score, out, options, plugins, registry)
        except (RunFailed, BudgetReached) as exc:
            stopped = exc
            break
    # what one item's number can be: a share minus 1/2, or a difference of two scores
    width = float(scale[1] - scale[0]) if shape == "grade" and scale else 0.5
    bounds = (-width, width)
    effects = adjust({name: estimate(list(r["values"].values()), settings.seed, bounds=bounds) for name, r in results.items()})
    report = _report(loaded, probes, settings, shape, scale, specs[0].label, results, effects, stopped)
    out.mkdir(parents=True, exist_ok=True)
    (out / AUDIT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_summary(out, report)
    print_table(report)
    if stopped is not None:
        stopped.directory = out  # type: ignore[attr-defined]  # the CLI's hint: the same --out resumes
        raise stopped
    if not report["complete"]:
        print(f"harness: incomplete: some probe requests have no verdict; rerun with --out {out}", file=sys.stderr)
        return 1
    if empty := without_number(report):
        print(f"harness: incomplete: no item has usable verdicts for {', '.join(empty)}; check the judge's answers "
              f"in {out / 'runs'}", file=sys.stderr)
        return 1
    return 0


def _check_out(out: Path, loaded: LoadedTask, settings: AuditSettings) -> None:
    """A directory holding another task's audit is refused (its runs would refuse us one by one)."""
    previous = out / AUDIT_FILE
    if not previous.is_file():
        return
    try:
        task = json.loads(previous.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError):
        raise BadInput(f"--out {out}: {AUDIT_FILE} is not readable JSON; choose another --out") from None
    if task not in (None, loaded.spec.name):
        raise BadInput(f"--out {out}: holds an audit of task {task!r}; choose another --out")
    stored = json.loads(previous.read_text(encoding="utf-8")).get("settings")
    wanted = settings.model_dump(mode="json")
    if isinstance(stored, dict):
        # another choice of probes is fine: each probe has a run of its own
        changed = [f"{k} {stored.get(k)!r} -> {v!r}" for k, v in wanted.items() if k != "probes" and stored.get(k) != v]
        if changed:
            raise BadInput(f"--out {out}: holds an audit made with other settings ({'; '.join(changed)}); "
                           "rerun with the same options to resume, or choose another --out")


def _run_probe(loaded: LoadedTask, probe: Probe, shape: str, top_score: int | None, out: Path,
               options: RunOptions, plugins: LoadedPlugins, registry: Registry) -> dict[str, Any]:
    """One probe as an ordinary run of the task's protocol on the probe's texts."""
    from dataclasses import replace

    from harness.datasets import dataset_facts, jsonl_lines
    from harness.models import DatasetSpec, Verdict
    from harness.running.execute import run_loaded
    from harness.tasks import LoadedTask

    data = out / "data" / f"{probe.name}.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("".join(json.dumps(_row(item), ensure_ascii=False) + "\n" for item in probe.items), encoding="utf-8")
    option_values = {**loaded.spec.options, **(compare_options(probe.kind) if shape == "compare" else {})}
    spec = loaded.spec.model_copy(update={"name": f"{loaded.spec.name}-audit-{probe.name}", "options": option_values,
                                          "dataset": DatasetSpec(path=str(data.resolve()))})
    config = loaded.kind.config_model.model_validate(option_values)
    task = loaded.kind.task_class(spec, config, probe.items, loaded.task.prompts)
    task.base_dir = loaded.task.base_dir
    task.check()
    derived = LoadedTask(path=loaded.path, spec=spec, kind=loaded.kind, config=config, items=probe.items, task=task,
                         dataset_facts=dataset_facts(probe.items))
    directory = out / "runs" / probe.name
    result = run_loaded(derived, replace(options, out=directory), plugins, registry)
    lines = jsonl_lines((directory / "verdicts.jsonl").read_text(encoding="utf-8"))
    verdicts = [Verdict.model_validate_json(line) for line in lines if line.strip()]
    values = compare_values(probe.kind, verdicts) if shape == "compare" else grade_values(probe.kind, verdicts, top_score)
    return {"values": values.values, "unusable": values.unusable, "followed_share": values.followed_share,
            "requests": int(result.manifest.get("requests", 0)), "unfinished": result.unfinished,
            "items": len(probe.items), "run": str(directory)}


def _row(item: Any) -> dict[str, Any]:
    """The item as a dataset line under the default field names (what DatasetSpec reads back)."""
    return {k: v for k, v in item.model_dump(mode="json", exclude_none=True).items() if v != {}}


def _report(loaded: LoadedTask, probes: list[Probe], settings: AuditSettings, shape: str, scale: tuple[int, int] | None,
            judge: str, results: dict[str, dict[str, Any]], effects: dict[str, Effect],
            stopped: BaseException | None) -> dict[str, Any]:
    from harness.audit.meaning import meaning

    entries: dict[str, Any] = {}
    for probe in probes:
        r = results.get(probe.name)
        entry: dict[str, Any] = {"kind": probe.kind, "role": "control" if probe.kind == "quality" else "bias"}
        if probe.padding is not None:
            entry["padding"] = probe.padding
        if r is None:
            entry.update(Effect(None, None, None, 0, None).as_dict(), status="not run (the audit stopped before it)")
        else:
            entry.update(effects[probe.name].as_dict(), items=r["items"], unusable_verdicts=r["unusable"],
                         items_left_out=r["items"] - len(r["values"]), unfinished_requests=r["unfinished"],
                         run=str(Path(r["run"]).name))
            if probe.kind == "injection":
                entry["followed_share"] = r["followed_share"]
            if probe.kind == "self_preference":
                entry["controlled"] = False
                entry["family_model"] = settings.judge_family
        entry["meaning"] = meaning(probe, entry, shape, scale)
        entries[probe.name] = entry
    # Complete as a run is: every request has a verdict (an unparseable one counts, and its item
    # is counted in items_left_out where no usable verdict remains).
    complete = stopped is None and all(e.get("unfinished_requests", 1) == 0 for e in entries.values())
    return {
        "task": loaded.spec.name, "task_file": str(loaded.path), "judge": judge, "shape": shape,
        "protocol": loaded.spec.protocol, "scale": list(scale) if scale else None,
        "settings": settings.model_dump(mode="json"), "alpha": ALPHA,
        "interval": "95% percentile item bootstrap (2000 resamples)",
        "test": "two-sided sign-flip test of effect 0 over items, Holm-adjusted across the probes",
        "complete": complete, "probes": entries,
    }
