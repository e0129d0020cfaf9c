"""Registers the built-in importers through the same hook third-party importers use.

Each reader's module is imported only when its format is used, so `harness import --help` and
every other command stay quick (the readers pull in pandas and scipy).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.hookspecs import hookimpl

if TYPE_CHECKING:
    from harness.importers.common import ImportedRun
    from harness.registry import Importer

#: format -> what it reads; each is read by import_<format> of harness.importers.<format>.
FORMATS = {
    "alpaca_eval": "AlpacaEval 2.0 <model>/annotations.json (pairwise, one baseline)",
    "arena_hard": "Arena-Hard-Auto model_judgment/<judge>/<model>.jsonl (pairwise; --baseline)",
    "wildbench": "WildBench score.v2 (rubric) or pairwise.v2 files (pairwise)",
    "mt_bench": "FastChat MT-Bench gpt-4_single.jsonl (rubric) or gpt-4_pair.jsonl (pairwise)",
    "autoj": "Auto-J autoj_pairwise.jsonl with human labels",
    "labels": "human labels, the generic jsonl/csv format",
    "mt_bench_human": "human labels: MT-Bench human judgments",
    "arena": "human labels: Chatbot Arena battles",
    "preference": "human labels: preference pairs (prompt, chosen, rejected)",
}


#: The keyword options (beyond the baseline) each reader takes: `harness import --answers/--judge`.
OPTIONS: dict[str, tuple[str, ...]] = {
    "arena_hard": ("answers", "judge"),
    "labels": ("judge",),
    "mt_bench_human": ("judge",),
    "arena": ("judge",),
    "preference": ("judge",),
    "autoj": ("judge",),
}


def _reader(name: str, what: str) -> Importer:
    def read(paths: list[Path], baseline: str | None, **options: Any) -> ImportedRun:
        function: Callable[..., ImportedRun] = getattr(import_module(f"harness.importers.{name}"), f"import_{name}")
        return function(paths, baseline, **options)

    read.__name__ = read.__qualname__ = f"import_{name}"
    read.__doc__ = what
    read.options = OPTIONS.get(name, ())  # type: ignore[attr-defined]
    return read


@hookimpl
def harness_register_importers(register: Callable[[str, Importer], None]) -> None:
    for name, what in FORMATS.items():
        register(name, _reader(name, what))
