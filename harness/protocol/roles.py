"""What changing a protocol option changes, as each protocol declares it on its options model.

The core must know which options change what the judge is asked (a rerun may not change them,
`harness aggregate --set` refuses them, a calibration is valid only for the same values) without
knowing any protocol. So an options model marks each field with `Field(json_schema_extra=
role("aggregation"))` and the core reads the marks here. An option without a mark is `judging`:
the safe reading for an option a plugin did not classify.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel

#: `judging`: changes what each request asks the judge (the default).
#: `selection`: picks which requests are asked (pairs, items, how many); a stored verdict stays
#: valid when it changes, so a rerun may change it.
#: `preparation`: settings of an earlier step that writes part of the prompts (checklist
#: generation); a rerun keeps them, but a calibration, learned from verdicts, does not depend on them.
#: `aggregation`: only how stored verdicts are turned into numbers; `harness aggregate --set`
#: may change it.
OptionRole = Literal["judging", "selection", "preparation", "aggregation"]
ROLES: tuple[str, ...] = get_args(OptionRole)
_KEY = "harness_option_role"


def role(kind: OptionRole) -> dict[str, Any]:
    """The `json_schema_extra` that declares an option's role: `Field(default=..., json_schema_extra=role(...))`."""
    if kind not in ROLES:
        raise ValueError(f"unknown option role {kind!r} (known: {', '.join(ROLES)})")
    return {_KEY: kind}


def option_roles(model: type[BaseModel]) -> dict[str, str]:
    """Each option of `model` with its declared role (`judging` where none is declared)."""
    found = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        found[name] = str(extra.get(_KEY, "judging")) if isinstance(extra, dict) else "judging"
    return found


def options_with_role(model: type[BaseModel], *roles: OptionRole) -> frozenset[str]:
    """The options of `model` declared with one of `roles`."""
    return frozenset(name for name, kind in option_roles(model).items() if kind in roles)
