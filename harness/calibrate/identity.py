"""Which judge setup a calibration is valid for: judge spec, protocol, prompt and judging options.

A map learned for one judge says nothing about another, nor about the same judge asked with
another prompt or verdict format; the fingerprint covers exactly what changes the judge's
answers (not the dataset, the baselines or aggregation-only options such as the length rule):
the options each protocol declares `judging` (see harness.protocol.roles). Options that pick which
requests are asked, and checklist generation (a map is learned from verdicts, whatever wrote the
questions), are left out.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.protocol.roles import options_with_role

if TYPE_CHECKING:
    from pydantic import BaseModel

    from harness.registry import Registry


def judging_settings(config: dict[str, Any], options: type[BaseModel]) -> dict[str, Any]:
    """The values of the options `options` (the protocol's options model) declares judging."""
    return {key: config[key] for key in sorted(options_with_role(options, "judging")) if key in config}


def judge_identity(
    *, judge: str, protocol: str, protocol_version: Any, template: Any, config: dict[str, Any],
    options: type[BaseModel],
) -> dict[str, Any]:
    parts = {
        "judge": judge,
        "protocol": protocol,
        "protocol_version": None if protocol_version is None else str(protocol_version),
        "template": template,
        "settings": judging_settings(config, options),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {**parts, "fingerprint": digest}


def judge_label(manifest: dict[str, Any]) -> str:
    """The judge spec as a user writes it (`openai:gpt-4o`), from run.json."""
    judge = manifest.get("judge") or {}
    spec = judge.get("spec") if isinstance(judge, dict) else None
    if isinstance(spec, dict) and spec.get("backend"):
        return f"{spec['backend']}:{spec['model']}" if spec.get("model") else str(spec["backend"])
    if isinstance(spec, str):
        return spec
    return "unknown"


def identity_from_manifest(manifest: dict[str, Any], where: str, registry: Registry) -> dict[str, Any]:
    """The judge setup run.json records; its protocol must be installed (its options model says
    which options are judging ones)."""
    protocol = manifest.get("protocol")
    if not isinstance(protocol, dict) or not isinstance(protocol.get("name"), str):
        raise BadInput(f"{where}: protocol.name: required but missing")
    kind = registry.task_kind(protocol["name"], f"{where}: protocol.name")
    template_entry = manifest.get("template")
    template: dict[str, Any] = template_entry if isinstance(template_entry, dict) else {}
    return judge_identity(
        judge=judge_label(manifest),
        protocol=protocol["name"],
        protocol_version=protocol.get("version"),
        template=template.get("sha256_16"),
        config=protocol.get("config") or {},
        options=kind.config_model,
    )


def mismatches(made_for: dict[str, Any], run: dict[str, Any]) -> list[str]:
    """What differs between the judge a calibration was made for and the run's judge."""
    found = []
    for key, what in (
        ("judge", "judge spec"),
        ("protocol", "protocol"),
        ("protocol_version", "protocol version"),
        ("template", "prompt template"),
        ("settings", "judging options"),
    ):
        if made_for.get(key) != run.get(key):
            if key == "settings":
                # A setting the calibration file does not record was not a judging option when
                # it was made (an older harness): it cannot be told apart, so it is not compared.
                recorded = made_for.get(key) or {}
                keys = sorted(k for k in recorded if recorded.get(k) != (run.get(key) or {}).get(k))
                if keys:
                    found.append(f"judging options differ ({', '.join(keys)})")
            else:
                found.append(f"{what} {made_for.get(key)!r} (calibration) vs {run.get(key)!r} (run)")
    return found
