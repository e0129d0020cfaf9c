"""Which loaded protocols can be calibrated: the core finds a calibrator by the map file's `kind`,
the name of the protocol that wrote it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.protocol.calibrator import Calibrator
    from harness.registry import Registry


def calibrator_for(registry: Registry, protocol: str) -> Calibrator | None:
    """The calibrator of a loaded protocol; None when it has none or is not loaded."""
    kind = registry.task_kinds.get(protocol)
    return kind.task_class.calibrator() if kind is not None else None


def calibrators(registry: Registry) -> dict[str, Calibrator]:
    """Every loaded protocol that can be calibrated, by name (the `kind` of its files)."""
    found = {name: calibrator_for(registry, name) for name in registry.task_kinds}
    return {name: c for name, c in found.items() if c is not None}
