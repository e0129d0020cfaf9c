"""WildBench v2 evaluation files.

- Score files (`score.v2.eval=JUDGE.MODEL.json`, or `score.v2/eval=JUDGE/MODEL.json` as WildBench's
  repository keeps them; a JSON list, one entry per session): the
  WB-Score judge's 1-10 `score` for `model_output`. They become a rubric run with the wb_score
  preset, so scores.csv carries `wb_score` (the mean) and `wb_score_adjusted` ((mean - 5) * 2),
  WildBench's published `score` and `adjusted_score`. The model is named as in the file name.
- Pairwise files (`pairwise.v2/eval=JUDGE/ref=BASELINE/MODEL.json`, a JSON list): `session_id`,
  `model_A`, `model_B`, `model_outputs` {model: text} and `parsed_result.choice`, one of
  "A++", "A+", "A=B", "B+", "B++". They become a pairwise run against the baseline (--baseline,
  else the model every entry shares), with both answers' lengths kept, so WildBench's length rule
  is applied at aggregation time: `harness aggregate RUN --set options.length_k=500`.

Both kinds also write `dataset.jsonl` and `judge_task.yaml` (see harness.importers.item_texts)
from the answers in the files and each session's `chat_history`; files without it (the public
score files) get the session id in place of the instruction: enough to replay, not to re-judge.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import BadInput
from harness.importers.common import (
    ImportedRun,
    id_field,
    name_field,
    pairwise_verdict,
    read_json,
    require,
    rubric_verdict,
)
from harness.importers.item_texts import DATASET_FILE, ItemTexts
from harness.models import Verdict

CHOICES = {"A++": "A>>B", "A+": "A>B", "A=B": "A=B", "B+": "B>A", "B++": "B>>A"}
_SCORE_FILE = re.compile(r"^score\.v2\.eval=(?P<judge>.+?-\d{4}-\d{2}-\d{2})\.(?P<model>.+)\.json$")
#: WildBench's repository keeps the same files in folders: eval_results/.../score.v2/eval=JUDGE/MODEL.json
_EVAL_FOLDER = re.compile(r"^eval=(?P<judge>.+)$")


def score_file_names(path: Path) -> tuple[str, str] | None:
    """(judge, model) a score file's name gives: `score.v2.eval=JUDGE.MODEL.json`, or WildBench's
    own layout `score.v2/eval=JUDGE/MODEL.json`; None when it gives neither (the entries'
    `model_test`, a Hugging Face path that two result files may share, is the fallback)."""
    named = _SCORE_FILE.match(path.name)
    if named:
        return named.group("judge"), named.group("model")
    folder = _EVAL_FOLDER.match(path.parent.name)
    if folder and path.parent.parent.name.startswith("score") and path.suffix == ".json":
        return folder.group("judge"), path.stem
    return None


def import_wildbench(paths: list[Path], baseline: str | None = None) -> ImportedRun:
    documents = []
    for path in paths:
        data = read_json(path)
        if not isinstance(data, list) or not data:
            raise BadInput(f"{path}: expected a non-empty JSON list of WildBench evaluations")
        if not isinstance(data[0], dict):
            raise BadInput(f"{path}: entry 0: expected an object")
        documents.append((path, data))
    kinds = {"pairwise" if "model_A" in data[0] else "score" for _, data in documents}
    if len(kinds) > 1:
        raise BadInput("the files mix WB-Score and pairwise evaluations; import them separately")
    sources = [str(p.resolve()) for p in paths]
    texts = ItemTexts()
    if kinds == {"score"}:
        verdicts, judges = _score_verdicts(documents, texts)
        if len(judges) > 1:  # WildBench scores each judge apart: pooled, each session would count twice
            raise BadInput(f"the score files are of {len(judges)} judges ({', '.join(sorted(judges))}); "
                           "import each judge's files as a run of its own")
        run = ImportedRun(format="wildbench", name="wildbench_score", protocol="rubric",
                          config={"preset": "wb_score"}, judge=", ".join(sorted(judges)),
                          verdicts=verdicts, sources=sources, texts=texts)
    else:
        verdicts, judges, base = _pairwise_verdicts(documents, baseline, texts)
        run = ImportedRun(format="wildbench", name="wildbench_pairwise", protocol="pairwise",
                          config={"baselines": [base], "verdict_format": "labels", "length_k": -1},
                          judge=", ".join(sorted(judges)), verdicts=verdicts, sources=sources, texts=texts)
    if texts.placeholders:
        run.notes.append(f"{texts.placeholders} item(s) have no instruction in the files (no chat_history): "
                         f"{DATASET_FILE} names the session instead, enough to replay, not to judge again")
    return run


def _add_texts(texts: ItemTexts, entry: dict[str, Any], answers: dict[str, Any]) -> None:
    """The session's conversation (`chat_history`, user turn first) and answers, where given."""
    session = str(entry["session_id"])
    history = entry.get("chat_history")
    turns = [str(t) for t in history] if isinstance(history, list) and history and len(history) % 2 == 1 else None
    conversation = [{"role": ("user", "assistant")[i % 2], "content": t} for i, t in enumerate(turns or [])]
    if session not in texts.rows and not turns:
        texts.placeholders += 1
    texts.add(session, conversation=conversation or None, category=entry.get("primary_tag"),
              instruction=None if turns else f"(WildBench session {session}: the instruction is not in the file)",
              answers={m: a for m, a in answers.items() if isinstance(a, str)})


def _score_verdicts(documents: list[tuple[Path, list[Any]]], texts: ItemTexts) -> tuple[list[Verdict], set[str]]:
    verdicts: list[Verdict] = []
    judges: set[str] = set()
    models_of_files: dict[tuple[str, str], Path] = {}
    for path, entries in documents:
        named = score_file_names(path)
        judge = named[0] if named else "wildbench"
        judges.add(judge)
        for index, entry in enumerate(entries):
            where = f"{path}: entry {index}"
            if not isinstance(entry, dict):
                raise BadInput(f"{where}: expected an object")
            require(entry, ("session_id", "score"), where)
            id_field(entry, "session_id", where)
            model = named[1] if named else entry.get("model_test")
            if not model:
                raise BadInput(f"{where}: no model (name the file score.v2.eval=JUDGE.MODEL.json or give model_test)")
            if not named:
                name_field(entry, "model_test", where)
            first = models_of_files.setdefault((judge, str(model)), path)
            if first != path:  # two result files of one model name would pool, and one vanish
                raise BadInput(f"{path}: model {model!r} is also {first}'s; name the files "
                               "score.v2.eval=JUDGE.MODEL.json (or keep WildBench's score.v2/eval=JUDGE/MODEL.json)")
            score = _score(entry["score"], where)
            parsed = entry.get("parsed_result")
            feedback = None
            if isinstance(parsed, dict):
                feedback = f"strengths: {parsed.get('strengths', '')}\nweaknesses: {parsed.get('weaknesses', '')}"
            output = entry.get("model_output")
            _add_texts(texts, entry, {str(model): output})
            verdicts.append(rubric_verdict(
                "wildbench", item_id=str(entry["session_id"]), model=str(model), score=score, judge=judge,
                category=entry.get("primary_tag"), length=len(output) if isinstance(output, str) else None,
                output=feedback, error=f"score {entry['score']!r} is not a number",
            ))
    return verdicts, judges


def _score(value: Any, where: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None  # the judge's output held no number: invalid, counted
    if not 1 <= score <= 10:
        raise BadInput(f"{where}: score {value!r} is outside 1-10")
    return score


def _pairwise_verdicts(
    documents: list[tuple[Path, list[Any]]], baseline: str | None, texts: ItemTexts
) -> tuple[list[Verdict], set[str], str]:
    entries = [(f"{path}: entry {i}", e) for path, data in documents for i, e in enumerate(data)]
    for where, entry in entries:
        if not isinstance(entry, dict):
            raise BadInput(f"{where}: expected an object")
        require(entry, ("session_id", "model_A", "model_B", "model_outputs", "parsed_result"), where)
        id_field(entry, "session_id", where)
        name_field(entry, "model_A", where)
        name_field(entry, "model_B", where)
        if not isinstance(entry["model_outputs"], dict):
            raise BadInput(f"{where}: model_outputs: expected an object {{model: output}}")
    if baseline is None:
        shared = set.intersection(*({e["model_A"], e["model_B"]} for _, e in entries))
        if len(shared) == 2:  # one model's file: the folder (ref=BASELINE) or the file name (MODEL.json) tells
            path = documents[0][0]
            named = {path.parent.name.removeprefix("ref="), path.stem}
            shared = {m for m in shared if m == path.parent.name.removeprefix("ref=")} or shared - named
        if len(shared) != 1:
            raise BadInput("cannot tell the baseline (no single model is in every comparison); give --baseline")
        baseline = shared.pop()
    verdicts: list[Verdict] = []
    judges: set[str] = set()
    for where, entry in entries:
        model_a, model_b = str(entry["model_A"]), str(entry["model_B"])
        if baseline not in (model_a, model_b):
            raise BadInput(f"{where}: neither model_A nor model_B is the baseline {baseline!r}")
        model_is_a = model_b == baseline
        model, opponent = (model_a, model_b) if model_is_a else (model_b, model_a)
        outputs = entry["model_outputs"]
        _add_texts(texts, entry, {m: outputs.get(m) for m in (model_a, model_b)})
        lengths = {m: len(outputs[m]) if isinstance(outputs.get(m), str) else None for m in (model_a, model_b)}
        parsed = entry["parsed_result"]
        choice = parsed.get("choice") if isinstance(parsed, dict) else None
        level = CHOICES.get(str(choice).strip()) if choice is not None else None
        judge = str(entry.get("judge") or entry.get("eval_model") or "wildbench")
        judges.add(judge)
        verdicts.append(pairwise_verdict(
            "wildbench", item_id=str(entry["session_id"]), model=model, opponent=opponent, model_is_a=model_is_a,
            level=level, judge=judge, len_model=lengths[model], len_opponent=lengths[opponent],
            category=entry.get("primary_tag"), output=_reason(parsed), error=f"choice {choice!r} is not a verdict",
        ))
    return verdicts, judges, baseline


def _reason(parsed: Any) -> str | None:
    if not isinstance(parsed, dict):
        return None
    return "\n".join(f"{k}: {v}" for k, v in parsed.items() if isinstance(v, str)) or None
