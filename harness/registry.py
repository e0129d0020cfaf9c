"""What the loaded plugins registered: task kinds and judge backends, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    import pluggy

    from harness.judges.base import JudgeBackend
    from harness.models import JudgeSpec
    from harness.protocol import TaskKind

JudgeFactory = Callable[["JudgeSpec"], "JudgeBackend"]


@dataclass
class Registry:
    task_kinds: dict[str, TaskKind] = field(default_factory=dict)
    judges: dict[str, JudgeFactory] = field(default_factory=dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Registry:
        """Ask every plugin to register; a name claimed twice is a plugin bug, said loudly.

        Each plugin's hook is called on its own (in pluggy's call order), so an error names the
        plugin: both owners of a clashing name, or the plugin whose hook raised.
        """
        registry = cls()
        kind_owner: dict[str, str] = {}
        judge_owner: dict[str, str] = {}

        def add_kind(plugin: str, kind: TaskKind) -> None:
            if kind.name in registry.task_kinds:
                raise BadInput(
                    f"two plugins register the protocol {kind.name!r}: {kind_owner[kind.name]!r} and {plugin!r}"
                    " (skip one with --block-plugin NAME)"
                )
            registry.task_kinds[kind.name] = kind
            kind_owner[kind.name] = plugin

        def add_judge(plugin: str, name: str, factory: JudgeFactory) -> None:
            if name in registry.judges:
                raise BadInput(
                    f"two plugins register the judge backend {name!r}: {judge_owner[name]!r} and {plugin!r}"
                    " (skip one with --block-plugin NAME)"
                )
            registry.judges[name] = factory
            judge_owner[name] = plugin

        for caller, add in ((pm.hook.harness_register_task_kinds, add_kind), (pm.hook.harness_register_judges, add_judge)):
            for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
                if impl.hookwrapper or impl.wrapper:
                    continue  # a wrapper around a registration hook has nothing to register
                register = partial(add, impl.plugin_name)
                try:
                    impl.function(**{arg: register for arg in impl.argnames})
                except BadInput:
                    raise
                except Exception as exc:  # a broken plugin: name it, so it can be blocked
                    raise BadInput(
                        f"plugin {impl.plugin_name!r} failed in {caller.name}: {type(exc).__name__}: {exc}"
                        " (skip it with --block-plugin NAME)"
                    ) from None
        return registry

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
