"""What the loaded plugins registered: task kinds, judge backends, metrics, reporters, importers and
subcommands, by name."""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput, RunFailed

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

    from harness.importers.common import ImportedRun
    from harness.judges.base import JudgeBackend
    from harness.models import JudgeSpec
    from harness.protocol import TaskKind
    from harness.store import LoadedRun

JudgeFactory = Callable[["JudgeSpec"], "JudgeBackend"]
#: (verdicts, scores, manifest) -> rows keyed by `model` with new columns, or None (not applicable).
Metric = Callable[["pd.DataFrame", "pd.DataFrame", dict[str, Any]], "pd.DataFrame | None"]
#: (run, out_dir) -> the files it wrote.
Reporter = Callable[["LoadedRun", Path], list[Path]]
#: (paths, baseline or None) -> another tool's judgments, which `harness import` writes as a run directory.
Importer = Callable[[list[Path], "str | None"], "ImportedRun"]


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A subcommand that takes no arguments."""


@dataclass(frozen=True)
class Command:
    """A subcommand a plugin adds: `harness NAME ...`, parsed and dispatched like the built-in ones.

    `add_arguments(parser)` declares its arguments on its argparse parser (argparse answers bad
    ones with usage and exit 2); `run(args, plugins)` does the work and returns the exit code
    (None counts as 0); raising `harness.errors.BadInput` prints one line and exits 2.
    """

    #: `run(args, plugins)`: `plugins` is the `harness.plugins.LoadedPlugins` (typed loosely here:
    #: the plugin machinery loads the hooks that register commands, so this module cannot name it).
    run: Callable[[argparse.Namespace, Any], int | None]
    help: str = ""
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


@dataclass
class Registry:
    task_kinds: dict[str, TaskKind] = field(default_factory=dict)
    judges: dict[str, JudgeFactory] = field(default_factory=dict)
    #: In registration order (built-ins first, then third-party plugins by entry-point name).
    metrics: dict[str, Metric] = field(default_factory=dict)
    reporters: dict[str, Reporter] = field(default_factory=dict)
    #: `harness import FORMAT` readers, by format name.
    importers: dict[str, Importer] = field(default_factory=dict)
    #: Plugin subcommands (`harness NAME`), by name; never a built-in subcommand's name.
    commands: dict[str, Command] = field(default_factory=dict)
    #: (what, name) -> the plugin that registered it, e.g. ("metric", "coverage") -> "answer_match".
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager, only: Collection[str] | None = None) -> Registry:
        """Ask every plugin to register; a name claimed twice is a plugin bug, said loudly.

        Each plugin's hook is called on its own (in registration order), so an error names the
        plugin: both owners of a clashing name, or the plugin whose hook raised. `only`: the
        registration hooks to call (e.g. `("harness_register_commands",)`), the others left
        unasked, so building the command line does not depend on every plugin's protocols.
        """
        from pydantic import BaseModel

        registry = cls()

        def claim(what: str, name: str, plugin: str) -> None:
            if not isinstance(name, str) or not name:
                raise BadInput(f"plugin {plugin!r} registers a {what} without a name (got {name!r})")
            owner = registry.owners.get((what, name))
            if owner is not None:
                raise BadInput(
                    f"two plugins register the {what} {name!r}: {owner!r} and {plugin!r}"
                    " (skip one with --block-plugin NAME)"
                )
            registry.owners[(what, name)] = plugin

        def add_kind(plugin: str, kind: TaskKind) -> None:
            claim("protocol", kind.name, plugin)
            registry.task_kinds[kind.name] = kind

        def named(what: str, table: dict[str, Any], kind: type | None = None) -> Callable[..., None]:
            def add(plugin: str, name: str, *thing_: Any, **named_thing: Any) -> None:
                # register(name, thing) or register(name=..., factory=...): one thing either way
                things = [*thing_, *named_thing.values()]
                if len(things) != 1:
                    raise TypeError(f"register(name, {what}) takes exactly two arguments")
                thing = things[0]
                claim(what, name, plugin)
                if not (isinstance(thing, kind) if kind else callable(thing)):
                    wanted = f"a {kind.__module__}.{kind.__name__}" if kind else "a callable"
                    raise BadInput(f"plugin {plugin!r} registers the {what} {name!r} as {type(thing).__name__}, "
                                   f"not {wanted} (skip it with --block-plugin NAME)")
                model = getattr(thing, "options_model", None) if what == "judge backend" else None
                if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
                    # checked here, once: `harness judges`, doctor and every run read it
                    raise BadInput(f"plugin {plugin!r} registers the judge backend {name!r} with an options_model "
                                   f"that is no pydantic model ({model!r}) (skip it with --block-plugin NAME)")
                table[name] = thing
            return add

        hooks = (
            (pm.hook.harness_register_task_kinds, add_kind),
            (pm.hook.harness_register_judges, named("judge backend", registry.judges)),
            (pm.hook.harness_register_metrics, named("metric", registry.metrics)),
            (pm.hook.harness_register_reporters, named("reporter", registry.reporters)),
            (pm.hook.harness_register_importers, named("importer", registry.importers)),
            (pm.hook.harness_register_commands, named("command", registry.commands, Command)),
        )
        for caller, add in hooks:
            if only is not None and caller.name not in only:
                continue
            # registration order, as the tables promise: metrics run in it, each seeing the previous
            # ones' columns; a plugin whose hook raises is named (harness.plugins.call_each_plugin)
            call_each_plugin(caller, functools.partial(_registration, add))
        return registry

    def owner(self, what: str, name: str) -> str:
        """The plugin that registered `name` as a `what` ("protocol", "judge backend", "metric", "reporter",
        "importer", "command")."""
        return self.owners.get((what, name), "?")

    def task_kind(self, name: str, where: str) -> TaskKind:
        if name not in self.task_kinds:
            known = ", ".join(sorted(self.task_kinds)) or "none loaded"
            raise BadInput(f"{where}: unknown protocol {name!r} (known: {known})")
        return self.task_kinds[name]

    def importer(self, name: str) -> Importer:
        if name not in self.importers:
            known = ", ".join(sorted(self.importers)) or "none loaded"
            raise BadInput(f"unknown import format {name!r} (known: {known})")
        return self.importers[name]

    def judge_factory(self, backend: str) -> JudgeFactory:
        if backend not in self.judges:
            known = ", ".join(sorted(self.judges)) or "none loaded"
            raise BadInput(f"unknown judge backend {backend!r} (known: {known})")
        return self.judges[backend]

    def judge(self, spec: JudgeSpec) -> JudgeBackend:
        """The backend for `spec`, its options checked against the backend's options model first
        (BadInput naming an unknown or ill-typed option)."""
        from harness.judges.base import JudgeConfigError
        from harness.judges.options import check_options, options_model

        factory = self.judge_factory(spec.backend)
        owner = self.owner("judge backend", spec.backend)
        check_options(spec, options_model(factory))  # a pydantic model or None: checked when registered
        try:
            backend = factory(spec)
        except (BadInput, JudgeConfigError):
            raise
        except Exception as exc:
            raise BadInput(f"plugin {owner!r}: the judge backend {spec.backend!r} failed to start: "
                           f"{type(exc).__name__}: {exc} (skip it with --block-plugin {owner})") from None
        if backend is None:  # a factory that forgot its return
            raise BadInput(f"plugin {owner!r}: the judge backend {spec.backend!r} made no backend (None) "
                           f"(skip it with --block-plugin {owner})")
        return backend


def _registration(add: Callable[..., None], plugin: str) -> dict[str, Any]:
    """A registration hook's arguments for `plugin`: its own `register`."""
    return {"register": _bound(add, plugin)}


def _bound(add: Callable[..., None], plugin: str) -> Callable[..., None]:
    """`register(...)` as a plugin sees it: the plugin's name filled in."""
    def register(*args: Any, **kwargs: Any) -> None:
        add(plugin, *args, **kwargs)
    return register


def call_each_plugin(hook: Any, arguments: Callable[[str], dict[str, Any]]) -> list[tuple[str, Any]]:
    """Each plugin's implementation of `hook` called on its own, in registration order (built-ins
    first, then third-party plugins by entry-point name), with `arguments(plugin name)`; its name
    and reply. One that raises is one line naming it, so the user can block it (pluggy's own call
    runs them last registered first, and its error names nobody). Registration hooks (each plugin
    its own `register`) and the hooks a run calls go through it alike."""
    replies = []
    for impl in hook.get_hookimpls():
        if impl.hookwrapper or impl.wrapper:
            continue  # a wrapper around the hook has nothing of its own to give
        given = arguments(impl.plugin_name)
        try:
            replies.append((impl.plugin_name, impl.function(**{name: given[name] for name in impl.argnames})))
        except (BadInput, RunFailed):
            raise
        except Exception as exc:
            raise BadInput(f"plugin {impl.plugin_name!r} failed in {hook.name}: {error_line(exc)} "
                           f"(skip it with --block-plugin {impl.plugin_name})") from None
    return replies


def error_line(exc: BaseException) -> str:
    """An exception as one line (its type and first line, at most 300 characters): a plugin's
    failure said in one line."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
