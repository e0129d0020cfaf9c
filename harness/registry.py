"""What the loaded plugins registered: task kinds, judge backends, metrics and reporters, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput

if TYPE_CHECKING:
    import pandas as pd
    import pluggy

    from harness.judges.base import JudgeBackend
    from harness.models import JudgeSpec
    from harness.protocol import TaskKind
    from harness.store import LoadedRun

JudgeFactory = Callable[["JudgeSpec"], "JudgeBackend"]
#: (verdicts, scores, manifest) -> rows keyed by `model` with new columns, or None (not applicable).
Metric = Callable[["pd.DataFrame", "pd.DataFrame", dict[str, Any]], "pd.DataFrame | None"]
#: (run, out_dir) -> the files it wrote.
Reporter = Callable[["LoadedRun", Path], list[Path]]


@dataclass
class Registry:
    task_kinds: dict[str, TaskKind] = field(default_factory=dict)
    judges: dict[str, JudgeFactory] = field(default_factory=dict)
    #: In registration order (built-ins first, then third-party plugins by entry-point name).
    metrics: dict[str, Metric] = field(default_factory=dict)
    reporters: dict[str, Reporter] = field(default_factory=dict)
    #: (what, name) -> the plugin that registered it, e.g. ("metric", "coverage") -> "answer_match".
    owners: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Registry:
        """Ask every plugin to register; a name claimed twice is a plugin bug, said loudly.

        Each plugin's hook is called on its own (in pluggy's call order), so an error names the
        plugin: both owners of a clashing name, or the plugin whose hook raised.
        """
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

        def named(what: str, table: dict[str, Any]) -> Callable[..., None]:
            def add(plugin: str, name: str, *thing_: Any, **named_thing: Any) -> None:
                # register(name, thing) or register(name=..., factory=...): one thing either way
                things = [*thing_, *named_thing.values()]
                if len(things) != 1:
                    raise TypeError(f"register(name, {what}) takes exactly two arguments")
                thing = things[0]
                claim(what, name, plugin)
                if not callable(thing):
                    raise BadInput(f"plugin {plugin!r} registers the {what} {name!r} as {type(thing).__name__}, "
                                   "not a callable (skip it with --block-plugin NAME)")
                table[name] = thing
            return add

        hooks = (
            (pm.hook.harness_register_task_kinds, add_kind),
            (pm.hook.harness_register_judges, named("judge backend", registry.judges)),
            (pm.hook.harness_register_metrics, named("metric", registry.metrics)),
            (pm.hook.harness_register_reporters, named("reporter", registry.reporters)),
        )
        for caller, add in hooks:
            for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
                if impl.hookwrapper or impl.wrapper:
                    continue  # a wrapper around a registration hook has nothing to register
                register = _bound(add, impl.plugin_name)
                try:
                    impl.function(**dict.fromkeys(impl.argnames, register))
                except BadInput:
                    raise
                except Exception as exc:  # a broken plugin: name it, so it can be blocked
                    raise BadInput(
                        f"plugin {impl.plugin_name!r} failed in {caller.name}: {type(exc).__name__}: {exc}"
                        " (skip it with --block-plugin NAME)"
                    ) from None
        return registry

    def owner(self, what: str, name: str) -> str:
        """The plugin that registered `name` as a `what` ("protocol", "judge backend", "metric", "reporter")."""
        return self.owners.get((what, name), "?")

    def task_kind(self, name: str, where: str) -> TaskKind:
        if name not in self.task_kinds:
            known = ", ".join(sorted(self.task_kinds)) or "none loaded"
            raise BadInput(f"{where}: unknown protocol {name!r} (known: {known})")
        return self.task_kinds[name]

    def judge_factory(self, backend: str) -> JudgeFactory:
        if backend not in self.judges:
            known = ", ".join(sorted(self.judges)) or "none loaded"
            raise BadInput(f"unknown judge backend {backend!r} (known: {known})")
        return self.judges[backend]

    def judge(self, spec: JudgeSpec) -> JudgeBackend:
        """The backend for `spec`, its options checked against the backend's options model first
        (BadInput naming an unknown or ill-typed option)."""
        from harness.judges.options import check_options, options_model

        factory = self.judge_factory(spec.backend)
        check_options(spec, options_model(factory))
        return factory(spec)


def _bound(add: Callable[..., None], plugin: str) -> Callable[..., None]:
    """`register(...)` as a plugin sees it: the plugin's name filled in."""
    def register(*args: Any, **kwargs: Any) -> None:
        add(plugin, *args, **kwargs)
    return register
