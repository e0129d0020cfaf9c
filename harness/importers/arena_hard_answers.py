"""Arena-Hard-Auto's answer and question files, read for `harness import arena_hard --answers`.

Why: the judgment files hold verdicts only (v0.1) or the judge's prompt (v2.0); the answers'
texts and Arena-Hard's own style features live in `model_answer/<model>.jsonl`, the prompts and
categories in `question.jsonl`. With them an import writes dataset.jsonl and style control uses
exactly the numbers Arena-Hard's show_result.py uses.

Answer rows: v0.1 `question_id`, `model_id`, `choices[0].turns[0].content`, `conv_metadata`;
v2.0 `uid`, `model`, `messages[-1].content.answer`, `metadata`. The metadata (`token_len` by
tiktoken, `header_count` h1..h6, `list_count` ordered/unordered, `bold_count` ** and __) is
used as given, each count summed over its kinds as Arena-Hard sums them. Without metadata the
markdown counts are computed by Arena-Hard's rules (code blocks removed first) and the token
count by tiktoken's gpt-4o encoding when tiktoken is installed; otherwise it stays unknown.
Question rows: `question_id` or `uid`, `turns[0].content` (v0.1) or `prompt` (v2.0), `category`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import id_field, read_jsonl

_CODE_BLOCK = re.compile("```([^`]*)```")
_HEADERS = [re.compile(rf"^#{{{n}}}\s", re.MULTILINE) for n in range(1, 7)]
_ORDERED = re.compile(r"^\s*\d+\.\s", re.MULTILINE)
_UNORDERED = re.compile(r"^\s*[-*+]\s", re.MULTILINE)
_BOLD = (re.compile(r"\*\*[^*\n]+\*\*"), re.compile(r"__[^_\n]+__"))


def markdown_counts(text: str) -> dict[str, int]:
    """headers, lists, bold as Arena-Hard's add_markdown_info counts them (outside code blocks)."""
    for block in _CODE_BLOCK.findall(text):
        text = text.replace(block, "")
    return {
        "headers": sum(len(p.findall(text)) for p in _HEADERS),
        "lists": len(_ORDERED.findall(text)) + len(_UNORDERED.findall(text)),
        "bold": sum(len(p.findall(text)) for p in _BOLD),
    }


def token_count(text: str) -> int | None:
    """Arena-Hard's token_len (tiktoken, gpt-4o encoding), or None without tiktoken."""
    try:
        import tiktoken
    except ImportError:
        return None
    return len(tiktoken.encoding_for_model("gpt-4o").encode(text, disallowed_special=()))


def _total(value: Any, where: str, key: str) -> int:
    """A metadata count: a number, or a dict of counts per kind (summed, as Arena-Hard does)."""
    if isinstance(value, dict):
        value = sum(v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool))
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:  # not NaN
        raise BadInput(f"{where}: {key}: expected a count or an object of counts")
    return int(value)


def metadata_features(meta: Any, where: str) -> dict[str, int]:
    if not isinstance(meta, dict):
        raise BadInput(f"{where}: conv_metadata: expected an object")
    keys = {"tokens": "token_len", "headers": "header_count", "lists": "list_count", "bold": "bold_count"}
    missing = [k for k in keys.values() if k not in meta]
    if missing:
        raise BadInput(f"{where}: conv_metadata: missing {missing[0]!r}")
    return {name: _total(meta[key], where, f"conv_metadata.{key}") for name, key in keys.items()}


@dataclass
class AnswerFiles:
    """Answers (text and style features) by (model, question id); prompts and categories by id."""

    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    features: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    #: Where the features came from: "conv_metadata", "computed" (no token count: "markdown only").
    sources: set[str] = field(default_factory=set)
    #: Answer rows of a model to a question already read (the first is kept), and how many of them
    #: give another text.
    repeated: int = 0
    repeated_differ: int = 0

    def style(self, model: str, item: str) -> dict[str, int] | None:
        return self.features.get((model, item))


def read_answer_files(paths: list[Path]) -> AnswerFiles:
    """Every answer and question row of the files (or of the *.jsonl files in a folder)."""
    found = AnswerFiles()
    for path in jsonl_files(paths, "--answers "):
        for number, row in read_jsonl(path):
            where = f"{path}:{number}"
            key = "question_id" if "question_id" in row else "uid"
            if key not in row:
                raise BadInput(f"{where}: missing field 'question_id' (or 'uid')")
            item = id_field(row, key, where)
            model = row.get("model_id", row.get("model"))
            if model is None:
                _question(found, row, item, where)
                continue
            if not isinstance(model, str) or not model.strip():
                raise BadInput(f"{where}: model_id is not a model name")
            text = _answer_text(row, where)
            if (model, item) in found.texts:  # the first is kept, as every importer keeps it
                found.repeated += 1
                found.repeated_differ += found.texts[(model, item)] != text
                continue
            found.texts[(model, item)] = text
            meta = row.get("conv_metadata", row.get("metadata"))
            if meta is not None:
                found.features[(model, item)] = metadata_features(meta, where)
                found.sources.add("conv_metadata")
                continue
            counts: dict[str, int] = markdown_counts(text)
            tokens = token_count(text)
            if tokens is not None:
                counts["tokens"] = tokens
            found.features[(model, item)] = counts
            found.sources.add("computed" if tokens is not None else "markdown only")
    return found


def jsonl_files(paths: list[Path], flag: str = "") -> list[Path]:
    """The files given, a folder standing for the *.jsonl files in it (Arena-Hard's layout)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.glob("*.jsonl"))
            if not inside:
                raise BadInput(f"{flag}{path}: no .jsonl files in the folder")
            files.extend(inside)
        else:
            files.append(path)
    return files


def _answer_text(row: dict[str, Any], where: str) -> str:
    try:
        if "choices" in row:
            text = row["choices"][0]["turns"][0]["content"]
        else:
            content = row["messages"][-1]["content"]
            text = content["answer"] if isinstance(content, dict) else content
    except (KeyError, IndexError, TypeError):
        raise BadInput(f"{where}: no answer text (choices[0].turns[0].content or messages[-1].content.answer)") from None
    if not isinstance(text, str):
        raise BadInput(f"{where}: the answer is {type(text).__name__}, expected text")
    return text


def _question(found: AnswerFiles, row: dict[str, Any], item: str, where: str) -> None:
    prompt = row.get("prompt")
    if prompt is None and isinstance(row.get("turns"), list) and row["turns"]:
        turn = row["turns"][0]
        prompt = turn.get("content") if isinstance(turn, dict) else turn
    if not isinstance(prompt, str):
        raise BadInput(f"{where}: neither an answer (model_id) nor a question (turns or prompt)")
    found.prompts[item] = prompt
    if isinstance(row.get("category"), str):
        found.categories[item] = row["category"]
