"""What the loaded plugins registered: task kinds and judge backends, by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
        """Ask every plugin to register; a name claimed twice is a plugin bug, said loudly."""
        registry = cls()

        def add_kind(kind: TaskKind) -> None:
            if kind.name in registry.task_kinds:
                raise BadInput(f"two plugins register the protocol {kind.name!r}")
            registry.task_kinds[kind.name] = kind

        def add_judge(name: str, factory: JudgeFactory) -> None:
            if name in registry.judges:
                raise BadInput(f"two plugins register the judge backend {name!r}")
            registry.judges[name] = factory

        pm.hook.harness_register_task_kinds(register=add_kind)
        pm.hook.harness_register_judges(register=add_judge)
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
