"""A fresh pluggy PluginManager per run, loading built-ins and third-party plugins alike.

Built-in plugins are entry points in the `harness` group of this project's own distribution, so
they load exactly as a third-party package's do. A plugin that fails to import or declares a
hook that does not exist is reported by name and skipped; the rest keeps working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from harness import hookspecs
from harness.errors import BadInput
from harness.registry import call_each_plugin, error_line

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from harness.models import JudgeRequest, Verdict
    from harness.protocol import Task
    from harness.running.result import RunResult

ENTRY_POINT_GROUP = "harness"
#: Set to 1 to load only the built-in plugins (like PYTEST_DISABLE_PLUGIN_AUTOLOAD).
DISABLE_AUTOLOAD_ENV = "HARNESS_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_DISTRIBUTION = "harness-eval"


@dataclass
class PluginInfo:
    """One plugin as `harness plugins` shows it."""

    name: str
    source: str
    hooks: list[str] = field(default_factory=list)
    error: str | None = None
    builtin: bool = False


class HarnessPluginManager(pluggy.PluginManager):
    """pluggy's manager for the harness hooks, with the hooks the core calls as typed methods,
    so each call site names its hook once and its arguments are checked."""

    def __init__(self) -> None:
        super().__init__("harness")
        self.add_hookspecs(hookspecs)

    def prepare_jinja_environment(self, env: SandboxedEnvironment) -> None:
        call_each_plugin(self.hook.harness_prepare_jinja_environment, lambda plugin: {"env": env})

    def modify_requests(self, task: Task, requests: list[JudgeRequest]) -> list[list[JudgeRequest] | None]:
        """Every plugin's replacement (or None), the plugin loaded first first."""
        from harness.models import JudgeRequest

        replies = call_each_plugin(self.hook.harness_modify_requests,
                                   lambda plugin: {"task": task, "requests": requests})
        for name, reply in replies:
            if reply is not None and not (isinstance(reply, list) and all(isinstance(r, JudgeRequest) for r in reply)):
                raise BadInput(f"plugin {name!r} returned {type(reply).__name__} from harness_modify_requests, "
                               f"not a list of JudgeRequest or None (skip it with --block-plugin {name})")
        return [reply for _, reply in replies]

    def verdict_recorded(self, verdict: Verdict) -> None:
        call_each_plugin(self.hook.harness_verdict_recorded, lambda plugin: {"verdict": verdict})

    def run_finished(self, run: RunResult) -> None:
        call_each_plugin(self.hook.harness_run_finished, lambda plugin: {"run": run})


@dataclass
class LoadedPlugins:
    manager: HarnessPluginManager
    plugins: list[PluginInfo]

    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if p.error]


def new_plugin_manager() -> HarnessPluginManager:
    return HarnessPluginManager()


def load_plugins(
    *,
    blocked: tuple[str, ...] | list[str] = (),
    extra: tuple[Any, ...] | list[Any] = (),
    autoload: bool | None = None,
) -> LoadedPlugins:
    """Build a plugin manager with every entry point of the `harness` group, minus `blocked`.

    `extra`: plugin objects registered directly (tests, notebooks). `autoload=False` (or the
    environment variable HARNESS_DISABLE_PLUGIN_AUTOLOAD=1) loads only the built-ins.
    """
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0")
    pm = new_plugin_manager()
    infos: list[PluginInfo] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_entry_point_order):
        builtin = _is_builtin(ep)
        if ep.name in blocked or (not autoload and not builtin):
            continue
        infos.append(_load_entry_point(pm, ep, builtin))
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        infos.append(_register(pm, plugin, name, "registered directly", builtin=False))
    return LoadedPlugins(manager=pm, plugins=infos)


def _entry_point_order(ep: EntryPoint) -> tuple[int, str]:
    return (0 if _is_builtin(ep) else 1, ep.name)


def _is_builtin(ep: EntryPoint) -> bool:
    dist = ep.dist
    return dist is not None and dist.metadata["Name"] == BUILTIN_DISTRIBUTION


def _describe_source(ep: EntryPoint) -> str:
    dist = ep.dist
    where = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
    return f"{where} (entry point {ep.value})"


def _load_entry_point(pm: HarnessPluginManager, ep: EntryPoint, builtin: bool) -> PluginInfo:
    source = _describe_source(ep)
    try:
        plugin = ep.load()
    except Exception as exc:  # a broken third-party plugin must not take the core down
        return PluginInfo(ep.name, source, error=error_line(exc), builtin=builtin)
    return _register(pm, plugin, ep.name, source, builtin)


def _register(pm: HarnessPluginManager, plugin: Any, name: str, source: str, builtin: bool) -> PluginInfo:
    if pm.has_plugin(name):
        return PluginInfo(name, source, error="a plugin with this name is already loaded", builtin=builtin)
    try:
        pm.register(plugin, name=name)
        _check_hook_names(pm, plugin)
    except Exception as exc:
        if pm.is_registered(plugin):
            pm.unregister(plugin)
        return PluginInfo(name, source, error=error_line(exc), builtin=builtin)
    hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
    return PluginInfo(name, source, hooks=hooks, builtin=builtin)


def _check_hook_names(pm: HarnessPluginManager, plugin: Any) -> None:
    """Reject `harness_*` functions that match no hookspec: almost always a typo."""
    attrs = vars(plugin) if isinstance(plugin, ModuleType) else {n: getattr(plugin, n) for n in dir(plugin)}
    for attr in attrs:
        if attr.startswith("harness_") and callable(attrs[attr]):
            caller = getattr(pm.hook, attr, None)
            if caller is None or not caller.has_spec():
                raise ValueError(f"unknown hook {attr!r} (no such hookspec)")
