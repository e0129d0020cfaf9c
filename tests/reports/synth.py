"""Run directories written by hand, so report numbers can be checked against values derived by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def write_run(
    directory: Path,
    *,
    protocol: str,
    verdicts: list[dict[str, Any]],
    ranking: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    items: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """A run directory as `harness run` leaves it; with `items`, also a dataset and task file it points to."""
    directory.mkdir(parents=True, exist_ok=True)
    run: dict[str, Any] = {
        "protocol": {"name": protocol, "config": config or {}, "version": "1"},
        "judge": {"spec": {"backend": "openai", "model": "judge-x"}},
        "status": "finished",
    }
    if items is not None:
        data = directory / "data.jsonl"
        data.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
        task = directory / "task.yaml"
        task.write_text(f"name: synth\nprotocol: {protocol}\ndataset:\n  path: data.jsonl\n", encoding="utf-8")
        run["task_file"] = str(task)
        run["task"] = {"name": "synth", "protocol": protocol, "dataset": {"path": "data.jsonl"}}
    run.update(manifest or {})
    (directory / "run.json").write_text(json.dumps(run, indent=2), encoding="utf-8")
    with (directory / "verdicts.jsonl").open("w", encoding="utf-8") as handle:
        for number, verdict in enumerate(verdicts):
            record = {"request_id": f"r{number}", "request_key": f"k{number}", "judge": "openai:judge-x",
                      "status": "ok", "output": "", "error": None, "tokens_in": 10, "tokens_out": 2, **verdict}
            handle.write(json.dumps(record) + "\n")
    if ranking is not None:
        ranking.to_csv(directory / "ranking.csv", index=False)
    if scores is not None:
        scores.to_csv(directory / "scores.csv", index=False)
    return directory


def pairwise_verdict(item: str, a: str, b: str, level: str, order: str, *, len_a: int = 10, len_b: int = 10,
                     category: str = "general", status: str = "ok", output: str = "") -> dict[str, Any]:
    pair = f"{item}::{min(a, b)}::{max(a, b)}::{order}"
    return {"request_id": pair, "item_id": item, "status": status, "output": output,
            "data": {"model_a": a, "model_b": b, "level": level, "order": order, "len_a": len_a, "len_b": len_b,
                     "category": category}}


def rubric_verdict(item: str, model: str, score: float, *, category: str = "general", output: str = "") -> dict[str, Any]:
    return {"request_id": f"{item}::{model}", "item_id": item, "output": output,
            "data": {"model": model, "score": score, "category": category}}


def checklist_verdict(item: str, model: str, question: str, answer: str, *, category: str = "general") -> dict[str, Any]:
    return {"request_id": f"{item}::judge::{model}::{question}", "item_id": item, "output": answer,
            "data": {"model": model, "question": question, "answer": answer, "stage": "judge", "category": category}}


def ranking_frame(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": m, "rank": r, "score": s, "ci_low": s - 1, "ci_high": s + 1, "n": 10}
                         for m, r, s in rows])


def large_pairwise_run(directory: Path, *, items: int = 12_500, invalid_every: int = 200,
                       long_output_chars: int = 20_000) -> Path:
    """items x 8 pairwise verdicts (4 pairs, both orders): 100,000 at the default size.

    Model mK beats m0 with a probability rising in K, so the ranking is known; every
    `invalid_every`-th verdict is invalid with a very long output, to test clipping.
    """
    import random

    rng = random.Random(7)
    pairs = [("m0", "m1"), ("m0", "m2"), ("m0", "m3"), ("m1", "m2")]
    strength = {"m0": 0.0, "m1": 0.3, "m2": 0.6, "m3": 0.9}
    directory.mkdir(parents=True, exist_ok=True)
    number = 0
    with (directory / "verdicts.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(items):
            item = f"item-{i:06d}"
            category = f"cat{i % 7}"
            for x, y in pairs:
                for order in ("ab", "ba"):
                    a, b = (x, y) if order == "ab" else (y, x)
                    p_a = 0.5 + (strength[a] - strength[b]) / 2
                    level = "A>B" if rng.random() < p_a else "B>A"
                    status = "invalid" if number % invalid_every == 0 else "ok"
                    output = ("<verdict>" * (long_output_chars // 9)) if status == "invalid" else level
                    record = {"request_id": f"{item}::{x}::{y}::{order}", "request_key": f"k{number}",
                              "item_id": item, "judge": "openai:j", "status": status, "output": output,
                              "error": None, "tokens_in": 100, "tokens_out": 1,
                              "data": {"model_a": a, "model_b": b, "level": level, "order": order,
                                       "len_a": 100, "len_b": 120, "category": category}}
                    handle.write(json.dumps(record) + "\n")
                    number += 1
    (directory / "run.json").write_text(json.dumps({"protocol": {"name": "pairwise", "config": {}}}), encoding="utf-8")
    return directory
