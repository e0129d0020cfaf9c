"""Module paths of earlier releases, still importable with a DeprecationWarning.

The core moved into packages (harness.running, harness.panel, harness.protocol); a plugin that
imports an old path (`from harness.panel_view import PanelView`) gets the module at its new place
and a warning naming it, instead of an ImportError. Installed by `harness/__init__.py`.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

#: Old module path -> where it lives now.
MOVED = {
    "harness.execute": "harness.running.execute",
    "harness.lanes": "harness.running.lanes",
    "harness.runner": "harness.running.runner",
    "harness.run_result": "harness.running.result",
    "harness.finish": "harness.running.finish",
    "harness.recompute": "harness.running.recompute",
    "harness.run_design": "harness.running.design",
    "harness.completeness": "harness.running.completeness",
    "harness.progress": "harness.running.progress",
    "harness.ratelimit": "harness.running.ratelimit",
    "harness.cache": "harness.running.cache",
    "harness.panel_run": "harness.panel.per_judge",
    "harness.panel_stats": "harness.panel.agreement",
    "harness.panel_view": "harness.protocol.panel_view",
    "harness.pooling": "harness.protocol.pooling",
    "harness.option_roles": "harness.protocol.roles",
    "harness.reachability": "harness.judges.reachability",
    "harness.judges.replay_view": "harness.protocol.replay_view",
    "harness.calibrate.calibrator": "harness.protocol.calibrator",
    "harness.importers.aggregation": "harness.running.recompute",
    "harness.commands": "harness.cli_output",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} is deprecated: import from {self.target}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The module at its new place is already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds an old module path and loads the module at its new place under both names."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(MOVED[fullname]))


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
