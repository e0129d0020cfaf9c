"""Render judge prompts with a sandboxed, strict jinja2 environment.

Templates live in `prompts/` (shipped inside the wheel as `harness_prompts`) and next to task
files; a task's own directory is searched first, so a custom template can `{% extends %}` a
built-in one. A template defines `{% block system %}` (optional) and `{% block user %}`; a
template without blocks is the user message as a whole. Worked examples for small judges go in
blocks `example_1_user`, `example_1_assistant`, `example_2_user`, ...: they become chat turns
between the system and the user message.

Answers under evaluation are untrusted. The `fence` filter wraps them in tags carrying a nonce
derived from their own text, so an answer cannot close its fence early (it would have to contain
a hash of itself) and the judge sees clearly where quoted material ends.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes as jinja_nodes
from jinja2.runtime import new_context
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import BadInput
from harness.models import Message

_EXAMPLE_BLOCK = re.compile(r"^example_(\d+)_(user|assistant)$")


def builtin_prompt_dir() -> Path:
    return Path(str(files("harness_prompts")))


def fence(text: str, label: str) -> str:
    """Wrap untrusted text in `<label-nonce>` ... `</label-nonce>` tags."""
    if not isinstance(text, str):  # a field the item lacks (a reference, a checklist): said, not a crash
        raise TypeError(f"fence({label!r}): no text to fence ({type(text).__name__}); guard it with "
                        "{% if ... %} where items may lack it")
    tag = _fence_tag(label)
    nonce = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return f"<{tag}_{nonce}>\n{text}\n</{tag}_{nonce}>"


@functools.lru_cache(maxsize=256)
def _fence_tag(label: str) -> str:
    """A label as a tag name: a template fences with the same few labels in every prompt."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "text"


#: The longest text or list a template's `*` may make, and the largest power `**` may raise to:
#: jinja's sandbox bounds `range` but not these, and `'x' * 10**10` filled memory until the
#: kernel killed the process, with no word.
MAX_REPEAT = 10_000_000
MAX_EXPONENT = 256


class BoundedSandbox(SandboxedEnvironment):
    """jinja's sandbox with `*` and `**` bounded (MAX_REPEAT, MAX_EXPONENT)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int) \
                        and len(sequence) * count > MAX_REPEAT:
                    raise jinja2.exceptions.SecurityError(f"a text or list repeated to more than {MAX_REPEAT:,} items")
        elif operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT \
                and not (isinstance(left, int) and abs(left) <= 1):
            raise jinja2.exceptions.SecurityError(f"a power above {MAX_EXPONENT}")
        return super().call_binop(context, operator, left, right)


def make_environment(search_path: Sequence[Path], prepare: Callable[[SandboxedEnvironment], Any] | None = None) -> SandboxedEnvironment:
    env = BoundedSandbox(
        loader=jinja2.FileSystemLoader([str(p) for p in search_path]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fence"] = fence
    if prepare is not None:
        prepare(env)
    return env


class PromptRenderer:
    """Loads one template once and renders it into chat messages."""

    def __init__(self, env: SandboxedEnvironment, template_name: str):
        self.template_name = template_name
        try:
            self.template = env.get_template(template_name)
        except jinja2.TemplateNotFound as exc:
            raise BadInput(f"template: {template_name!r} not found (missing {exc.name!r})") from None
        except jinja2.TemplateSyntaxError as exc:
            where = Path(exc.filename).name if exc.filename else template_name
            raise BadInput(f"template {where}:{exc.lineno}: jinja syntax error: {exc.message}") from None
        except UnicodeDecodeError:
            raise BadInput(f"template {template_name}: not UTF-8 text") from None
        #: The template is its own blocks and plain text, nothing else: rendering it whole first
        #: (to collect inherited blocks, run top-level `set`s) would change nothing, and rendering
        #: every block twice cost a quarter more (0.046 instead of 0.034 ms a pairwise prompt).
        self.blocks_only = _blocks_only(env, template_name)
        #: The template's globals as one plain dict, for its contexts: jinja's own `new_context`
        #: walks the live ChainMap of the template's and environment's globals twice per render (a
        #: quarter of a pairwise prompt's rendering). The environment is complete by now (its
        #: plugins' `harness_prepare_jinja_environment` ran when it was made).
        self._globals = dict(self.template.globals)

    def render(self, **variables: Any) -> tuple[Message, ...]:
        try:
            template = self.template
            context = new_context(template.environment, template.name, template.blocks, variables, False,
                                  self._globals, None)
            if not (self.blocks_only and "user" in self.template.blocks):
                # Rendering the whole template also collects the blocks a template inherits through
                # `{% extends %}` (template.blocks holds only the blocks it defines itself).
                whole = "".join(self.template.root_render_func(context))
                if "user" not in context.blocks:
                    return (Message(role="user", content=whole.strip()),)
            blocks = context.blocks
            def block_text(name: str) -> str:
                return "".join(blocks[name][0](context)).strip()

            examples = sorted(
                (int(m.group(1)), 0 if m.group(2) == "user" else 1, name, m.group(2))
                for name in blocks if (m := _EXAMPLE_BLOCK.match(name))
            )
            turns = [("system", "system")] if "system" in blocks else []
            turns += [(role, name) for _, _, name, role in examples] + [("user", "user")]
            messages = [Message.model_validate({"role": role, "content": text})
                        for role, name in turns if (text := block_text(name))]
            return tuple(messages)
        except jinja2.UndefinedError as exc:
            raise BadInput(f"template {self.template_name}: {exc.message}") from None
        except jinja2.exceptions.SecurityError as exc:
            raise BadInput(f"template {self.template_name}: blocked by the sandbox: {exc}") from None
        except jinja2.TemplateError as exc:
            raise BadInput(f"template {self.template_name}: {exc}") from None
        except BadInput:
            raise
        except RecursionError:
            raise BadInput(f"template {self.template_name}: recursion without end (a macro calling itself, or "
                           "a template extending itself)") from None
        except (ArithmeticError, TypeError, ValueError, AttributeError, LookupError) as exc:
            # what a template's own expressions raise on the data ({{ 1/0 }}, text + 1): one line,
            # not an internal error; nothing was asked of the judge yet for this prompt
            raise BadInput(f"template {self.template_name}: {type(exc).__name__}: {exc}") from None

    @property
    def source_hash(self) -> str:
        """Identifies the template's text in run.json, so changed prompts are visible."""
        filename = self.template.filename
        data = Path(filename).read_bytes() if filename else self.template_name.encode()
        return hashlib.sha256(data).hexdigest()[:16]


def _blocks_only(env: SandboxedEnvironment, template_name: str) -> bool:
    """Whether a template's top level is nothing but blocks and literal text (no `extends`,
    `set`, `include`, expressions or macros), so its blocks render alike without the whole."""
    if env.loader is None:
        return False
    try:
        source = env.loader.get_source(env, template_name)[0]
        body = env.parse(source).body
    except jinja2.TemplateError:
        return False
    return all(
        isinstance(node, jinja_nodes.Block)
        or (isinstance(node, jinja_nodes.Output) and all(isinstance(n, jinja_nodes.TemplateData) for n in node.nodes))
        for node in body
    )
