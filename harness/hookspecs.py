"""Every hook a plugin can implement. Specs only: no behaviour lives here.

Plugins register *things* (task kinds, judge backends, metrics, reporters, importers,
subcommands) through `register`
callbacks, and most behaviour lives on those registered classes (a task kind builds requests,
parses outputs and aggregates). The remaining hooks let a plugin observe or adjust a run
without owning it. Every hook name starts with `harness_`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from harness.models import JudgeRequest, Verdict
    from harness.protocol import Task, TaskKind
    from harness.registry import Command, Importer, JudgeFactory, Metric, Reporter
    from harness.running.result import RunResult

hookspec = pluggy.HookspecMarker("harness")
#: Marks a plugin's hook functions; also importable as `harness.hookimpl`.
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def harness_register_task_kinds(register: Callable[[TaskKind], None]) -> None:
    """Register judge protocols (task kinds).

    Call `register(TaskKind(name=..., config_model=..., task_class=...))` once per protocol. The
    name is what task files put in `protocol:`; the pydantic config model validates their
    `options:`. Registering a name twice is an error reported with both plugin names.
    """


@hookspec
def harness_register_judges(register: Callable[[str, JudgeFactory], None]) -> None:
    """Register judge backends.

    Call `register(name, factory)`; `factory(spec: JudgeSpec) -> JudgeBackend`. The name is the
    part of a judge spec before the colon (`openai` in `openai:gpt-4o`). Import heavy SDKs inside
    the factory or the backend's `start()`, never at module import.
    """


@hookspec
def harness_prepare_jinja_environment(env: SandboxedEnvironment) -> None:
    """Add filters, tests or globals to the sandboxed environment that renders judge prompts."""


@hookspec
def harness_modify_requests(task: Task, requests: list[JudgeRequest]) -> list[JudgeRequest] | None:
    """Adjust the judge requests of a run before any is sent.

    Called once with the protocol's first requests and again with each batch of follow-up
    requests (multi-stage protocols). Return a new list to replace the requests (for example to
    subsample or to add a system message), or None to leave them. Every implementation receives
    the protocol's own list, not another plugin's result; when several return a replacement,
    the one of the plugin loaded first is used. Request ids must stay unique. Changing a request
    changes its cache key, so a resumed run treats it as a new call.
    """


@hookspec
def harness_verdict_recorded(verdict: Verdict) -> None:
    """Observe a verdict right after it was stored durably (streaming dashboards, logging).

    Called for every stored verdict, `ok`, `invalid` or `failed`, on the run's event loop: return
    quickly and never block (hand slow work to a thread or a queue).
    """


@hookspec
def harness_run_finished(run: RunResult) -> None:
    """Observe a finished run (`run.directory`, `run.manifest`, `run.scores`, `run.ranking`,
    `run.aggregate`, `run.loaded`); for exporters. Always a `harness.running.result.RunResult`, from
    `harness run` and from `harness aggregate` alike.

    Called once the run directory's exports and run.json are written; not called when the run
    failed, was stopped by a budget or was interrupted.
    """


@hookspec
def harness_register_metrics(register: Callable[[str, Metric], None]) -> None:
    """Register extra per-model columns for scores.csv, computed whenever a run is aggregated.

    Call `register(name, metric)`; `metric(verdicts, scores, manifest)` gets the run's verdicts
    (one row per verdict, `data` fields flattened into columns), the protocol's scores (one row
    per model) and run.json as a dict, and returns a DataFrame keyed by `model` with the new
    columns, or None when the run is not its business (another protocol). A metric may add
    columns only: returning a column scores.csv already has is an error naming the plugin.
    """


@hookspec
def harness_register_reporters(register: Callable[[str, Reporter], None]) -> None:
    """Register report writers that `harness report` runs after its own.

    Call `register(name, reporter)`; `reporter(run: harness.store.LoadedRun, out_dir: Path)` writes
    its files into `out_dir` and returns their paths (an empty list when the run is not its
    business). Keep imports of heavy libraries inside the reporter.
    """


@hookspec
def harness_register_importers(register: Callable[[str, Importer], None]) -> None:
    """Register readers of other tools' judgments for `harness import FORMAT PATH... --out DIR`.

    Call `register(name, importer)`; `importer(paths: list[Path], baseline: str | None)` reads the
    files and returns a `harness.importers.common.ImportedRun` (its items, verdicts and the task
    that judges the same way), which harness screens and writes as a normal run directory. Raise
    `harness.errors.BadInput` naming the file and line for unreadable input. The name is the
    FORMAT argument; `harness import --help` lists every registered one.
    """


@hookspec
def harness_register_commands(register: Callable[[str, Command], None]) -> None:
    """Register subcommands: `harness NAME ...` (audits, exports, maintenance tools).

    Call `register(name, harness.registry.Command(run=..., help=..., add_arguments=...))`.
    `add_arguments(parser)` declares the arguments on the subcommand's argparse parser;
    `run(args, plugins)` gets the parsed arguments and the loaded plugins and returns the exit
    code (0 complete, 1 incomplete, 2 bad input); raising `harness.errors.BadInput` prints one line
    and exits 2. The command appears in `harness --help`; a built-in subcommand's name is refused.
    """
