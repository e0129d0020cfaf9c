"""`harness generate`: a model's answers for a dataset's instructions, through the judges' backends.

See docs/generate.md. `harness.generate.run.generate()` is the library call (also importable from
here, loaded on first use so that building the command line does not load the run machinery);
`command` holds the subcommand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.generate.run import GenerateOptions, GenerateResult, generate

__all__ = ["GenerateOptions", "GenerateResult", "generate"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness.generate import run

        return getattr(run, name)
    raise AttributeError(name)
