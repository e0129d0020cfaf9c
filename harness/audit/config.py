"""The `audit:` section of a task file: which probes, how many items, how much padding.

Command-line options (`--probes`, `--limit`, `--seed`) override it; what neither sets takes the
defaults here, and audit.json records the settings the audit ran with.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.errors import BadInput

#: Bias probes: a fair judge shows no effect. `quality` is the control: a useful judge shows a
#: large negative one. `self_preference` runs only when `judge_family` names an answering model.
BIAS_PROBES = ("position", "verbosity", "markdown", "authority", "injection", "self_preference")
CONTROL_PROBES = ("quality",)
ALL_PROBES = (*BIAS_PROBES, *CONTROL_PROBES)
DEFAULT_PROBES = ("position", "verbosity", "markdown", "authority", "injection", "quality", "self_preference")


class AuditSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Probes to run, by name.
    probes: list[str] = Field(default_factory=lambda: list(DEFAULT_PROBES))
    #: Items sampled (seeded) from the task's dataset; each gives one number per probe.
    items: int = Field(default=30, ge=2)
    #: Verbosity padding, as fractions of the answer's length (0.3: 30% longer); one probe each.
    padding: list[float] = Field(default_factory=lambda: [0.3])
    #: Seeds the item sample, the answer chosen per item and every perturbation.
    seed: int = 0
    #: Whose answers are perturbed (default: one answering model per item, chosen by the seed).
    model: str | None = None
    #: The answering model from the judge's own family, for the self_preference probe.
    judge_family: str | None = None

    @field_validator("probes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in ALL_PROBES]
        if unknown:
            raise ValueError(f"unknown probe {unknown[0]!r} (known: {', '.join(ALL_PROBES)})")
        if not value:
            raise ValueError("name at least one probe")
        return list(dict.fromkeys(value))

    @field_validator("padding")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if not value or any(not 0 < p <= 10 for p in value):
            raise ValueError("each padding is a fraction of the answer's length in (0, 10], e.g. [0.3]")
        return list(dict.fromkeys(value))


def audit_settings(raw: dict[str, Any] | None, where: str, **overrides: Any) -> AuditSettings:
    """The task file's `audit:` section with the command line's non-None overrides applied."""
    from harness.tasks import describe_validation_error

    merged = {**(raw or {}), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return AuditSettings.model_validate(merged)
    except ValidationError as exc:
        raise BadInput(f"{where}: {describe_validation_error(exc, prefix='audit')}") from None
