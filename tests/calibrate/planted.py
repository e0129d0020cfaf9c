"""A world with planted truth for calibration tests: models of known ability, human labels drawn
from the true preference probabilities, and a loopback OpenAI-compatible judge whose logprobs
follow a known miscalibration of those same probabilities.

Each answer text is a marker `ANS-<item>-<model>`, so the judge server can tell from the prompt
which two answers it was shown and in which order (A first), and answer with P(A better) =
`judge_probability(true P)`: overconfident (slope 2.5 on the logit) and leaning to position A.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.models import TokenLogprob
from harness.testing.openai_server import OpenAIServer, Reply

ABILITY = {"m1": 1.0, "m2": 0.35, "m3": -0.25, "m4": -1.1}
ITEM_SPREAD = 0.9  # per item and model: how much an answer's quality varies around the ability
_MARK = re.compile(r"ANS-(\d+)-(m\d)")


def quality(item: int, model: str, seed: int = 7) -> float:
    rng = np.random.default_rng([seed, item, int(model[1:])])
    return ABILITY[model] + ITEM_SPREAD * float(rng.normal())


def true_probability(item: int, a: str, b: str) -> float:
    """P(a's answer to `item` is better than b's), as the humans see it."""
    return 1.0 / (1.0 + math.exp(-(quality(item, a) - quality(item, b))))


def judge_probability(p: float, slope: float = 2.5, position: float = 0.4) -> float:
    """The planted judge's P(A better): overconfident and leaning to the first position."""
    logit = math.log(p / (1.0 - p))
    return 1.0 / (1.0 + math.exp(-(slope * logit + position)))


def answer(item: int, model: str) -> str:
    return f"ANS-{item}-{model}"


def dataset_rows(items: range, models: tuple[str, ...] = tuple(ABILITY)) -> list[dict[str, Any]]:
    return [
        {"id": f"q{i}", "instruction": f"Question {i}?", "answers": {m: answer(i, m) for m in models}} for i in items
    ]


def human_labels(items: range, models: tuple[str, ...] = tuple(ABILITY), *, seed: int = 11) -> list[dict[str, Any]]:
    """One label per item and model pair, drawn from the true probability (generic labels format)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in items:
        for x, a in enumerate(models):
            for b in models[x + 1 :]:
                first, second = (a, b) if rng.random() < 0.5 else (b, a)
                won = rng.random() < true_probability(i, first, second)
                rows.append(
                    {"item_id": f"q{i}", "model_a": first, "model_b": second, "winner": "model_a" if won else "model_b"}
                )
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def human_win_rates(items: range, models: tuple[str, ...] = tuple(ABILITY)) -> dict[str, float]:
    """Each model's expected human win rate (0-100) against the others on `items`: the truth."""
    rates = {}
    for m in models:
        ps = [true_probability(i, m, o) for i in items for o in models if o != m]
        rates[m] = 100.0 * float(np.mean(ps))
    return rates


def respond(body: dict[str, Any]) -> Reply:
    """A binary verdict (A or B) with logprobs of both letters from the planted probability."""
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    marks = _MARK.findall(prompt)
    if len(marks) < 2:
        return Reply(status=400, error="planted judge: no two answers in the prompt")
    (item, a), (_, b) = marks[0], marks[1]
    p = judge_probability(true_probability(int(item), a, b))
    text = "A" if p >= 0.5 else "B"
    top = {"A": math.log(p), "B": math.log(1.0 - p)}
    return Reply(text=text, logprobs=[TokenLogprob(token=text, logprob=top[text], top=top)])


def planted_server() -> OpenAIServer:
    return OpenAIServer(respond, model="planted")


def task_file(directory: Path, rows: list[dict[str, Any]], *, name: str = "planted", soft: bool = True) -> Path:
    """A pairwise task asking the judge for a bare A/B choice over every pair, both orders."""
    directory.mkdir(parents=True, exist_ok=True)
    write_jsonl(directory / "data.jsonl", rows)
    task = directory / "task.yaml"
    task.write_text(
        json.dumps(
            {
                "name": name,
                "protocol": "pairwise",
                "dataset": {"path": "data.jsonl"},
                "judge": "openai:planted",
                "options": {"verdict_format": "binary", "reasoning": False, "soft": soft, "n_bootstrap": 200},
            }
        ),
        encoding="utf-8",
    )
    return task


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: object) -> Result:
    """`harness ARGS...` in this process (the same `main` the console script runs), output captured:
    far quicker than a subprocess on a loaded machine; the subprocess tests cover the entry point."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())


# ------------------------------------------------------------------------------------------
# Rubric: true 1-5 grades, humans give the truth, the judge is one point too lenient.
# ------------------------------------------------------------------------------------------

RUBRIC = {"criterion": "How good is the answer?", "scores": {k: f"grade {k}" for k in range(1, 6)}}


def true_grade(item: int, model: str) -> int:
    return int(min(5, max(1, round(3 + 1.2 * (quality(item, model) - 0.0)))))


def lenient_grade(grade: int) -> int:
    """The planted judge: one point above the truth, capped at 5."""
    return min(5, grade + 1)


def score_labels(items: range, models: tuple[str, ...] = tuple(ABILITY)) -> list[dict[str, Any]]:
    return [{"item_id": f"q{i}", "model": m, "score": true_grade(i, m)} for i in items for m in models]


def rubric_respond(body: dict[str, Any]) -> Reply:
    prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    marks = _MARK.findall(prompt)
    if len(marks) != 1:
        return Reply(status=400, error="planted judge: expected one answer in the prompt")
    item, model = marks[0]
    return Reply(text=f"Graded. [[{lenient_grade(true_grade(int(item), model))}]]")


def rubric_task_file(directory: Path, rows: list[dict[str, Any]], *, name: str = "planted_rubric") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_jsonl(directory / "data.jsonl", rows)
    task = directory / "task.yaml"
    task.write_text(
        json.dumps(
            {
                "name": name,
                "protocol": "rubric",
                "dataset": {"path": "data.jsonl"},
                "judge": "openai:planted",
                "options": {"rubric": RUBRIC, "logprobs": False, "n_bootstrap": 200},
            }
        ),
        encoding="utf-8",
    )
    return task


def calibrated_run(root: Path, *, cal_items: range = range(0, 30), eval_items: range = range(30, 40)) -> Path:
    """A judged run with a calibration applied (the whole path: labels, judge, calibrate, run)."""
    labels = write_jsonl(root / "labels.jsonl", human_labels(cal_items))
    assert cli("import", "labels", labels, "--out", root / "human").returncode == 0
    with planted_server() as server:
        task = task_file(root / "cal", dataset_rows(cal_items))
        assert (
            cli("run", task, "--base-url", server.base_url, "--out", root / "judge_cal", "--no-progress").returncode
            == 0
        )
        result = cli("calibrate", root / "judge_cal", "--against", root / "human", "--out", root / "c.json")
        assert result.returncode == 0, result.stderr
        task = task_file(root / "eval", dataset_rows(eval_items))
        result = cli(
            "run",
            task,
            "--base-url",
            server.base_url,
            "--out",
            root / "run",
            "--no-progress",
            "--calibration",
            root / "c.json",
        )
        assert result.returncode == 0, result.stderr
    return root / "run"
