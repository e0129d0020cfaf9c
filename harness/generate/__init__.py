"""`harness generate`: a model's answers for a dataset's instructions, through the judges' backends.

See docs/generate.md. `generate()` is the library call; `command` holds the subcommand.
"""

from harness.generate.run import GenerateOptions, GenerateResult, generate

__all__ = ["GenerateOptions", "GenerateResult", "generate"]
