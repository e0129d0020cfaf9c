"""One run directory read for reporting: manifest, verdicts, scores, and the items when reachable.

Runs come from `harness run` (any protocol) and from importers, so every column is optional:
readers here turn whatever is present into a few canonical frames (battles for pairwise runs,
per-item scores for all runs) and say what is missing instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api import load_run
from harness.models import Item

#: Reward of position A for each pairwise level (WildBench WB-Reward); B gets the negative.
REWARD_A = {"A>>B": 100.0, "A>B": 50.0, "A=B": 0.0, "B>A": -50.0, "B>>A": -100.0}
#: Share of the win that goes to position A (ties half).
SHARE_A = {"A>>B": 1.0, "A>B": 1.0, "A=B": 0.5, "B>A": 0.0, "B>>A": 0.0}
MIRROR = {"A>>B": "B>>A", "A>B": "B>A", "A=B": "A=B", "B>A": "A>B", "B>>A": "A>>B"}


@dataclass
class RunData:
    directory: Path
    manifest: dict[str, Any]
    protocol: str
    verdicts: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    items: dict[str, Item] = field(default_factory=dict)
    items_note: str = ""
    #: Derived frames computed once per run (battles, item scores).
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        task = self.manifest.get("task") or {}
        return str(task.get("name") or self.directory.name)

    @property
    def config(self) -> dict[str, Any]:
        return (self.manifest.get("protocol") or {}).get("config") or {}

    @property
    def judge_label(self) -> str:
        spec = (self.manifest.get("judge") or {}).get("spec") or {}
        if isinstance(spec, dict) and spec.get("backend"):
            return f"{spec['backend']}:{spec['model']}" if spec.get("model") else str(spec["backend"])
        judges = self.verdicts["judge"].dropna().unique() if "judge" in self.verdicts else []
        return ", ".join(map(str, judges[:3])) or "unknown judge"


def read_run(path: str | Path) -> RunData:
    """Load a run directory (BadInput when it is not one) and try to reach its dataset."""
    loaded = load_run(path)
    verdicts = loaded.verdicts.copy()
    for column in ("request_id", "item_id", "judge", "status", "output", "error", "category"):
        if column not in verdicts.columns:
            verdicts[column] = None if column != "status" else "ok"
    if "request_id" in verdicts and verdicts["request_id"].isna().all():
        verdicts["request_id"] = [f"row-{i}" for i in range(len(verdicts))]
    verdicts["item_id"] = verdicts["item_id"].astype(str)
    if isinstance(loaded.manifest.get("panel"), dict):  # every judge was asked the same requests: keep them apart
        verdicts["request_id"] = verdicts["judge"].astype(str) + "||" + verdicts["request_id"].astype(str)
    run = RunData(
        directory=loaded.directory, manifest=loaded.manifest, protocol=detect_protocol(loaded.manifest, verdicts),
        verdicts=verdicts, scores=loaded.scores, ranking=loaded.ranking,
    )
    run.items, run.items_note = _load_items(run)
    return run


def detect_protocol(manifest: dict[str, Any], verdicts: pd.DataFrame) -> str:
    """The protocol named in run.json, else guessed from the verdict columns."""
    named = (manifest.get("protocol") or {}).get("name") or (manifest.get("task") or {}).get("protocol")
    if named:
        return str(named)
    columns = set(verdicts.columns)
    if {"model_a", "model_b"} <= columns:
        return "pairwise"
    if "question" in columns:
        return "checklist"
    if {"model", "score"} <= columns:
        return "rubric"
    return "unknown"


def _load_items(run: RunData) -> tuple[dict[str, Item], str]:
    """The task's items, so the page can show instructions and answers; best effort."""
    if isinstance(run.manifest.get("import"), dict):
        return {}, "imported judgments: texts shown where the verdicts carry them"
    task = run.manifest.get("task") or {}
    dataset = task.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("path"):
        return {}, "run.json names no dataset; showing what the verdicts hold"
    from harness.datasets import load_items
    from harness.errors import BadInput
    from harness.models import DatasetSpec

    task_file = run.manifest.get("task_file")
    bases: list[Path] = []
    if task_file:
        tf = Path(task_file)
        candidates = [tf] if tf.is_absolute() else [Path.cwd() / tf, *(p / tf for p in run.directory.resolve().parents)]
        bases += [c.parent for c in candidates if c.is_file()]
    bases.append(run.directory)
    try:
        spec = DatasetSpec.model_validate(dataset)
    except ValueError:
        return {}, "run.json has a dataset spec this version cannot read"
    for base in bases:
        if (base / spec.path).is_file():
            try:
                return {item.id: item for item in load_items(spec, base)}, ""
            except BadInput as exc:
                return {}, f"dataset not readable ({exc}); showing what the verdicts hold"
    return {}, f"dataset {spec.path!r} not found from here; showing what the verdicts hold"


# --------------------------------------------------------------------------------------------
# Canonical frames
# --------------------------------------------------------------------------------------------


def ok_verdicts(run: RunData) -> pd.DataFrame:
    return run.verdicts[run.verdicts["status"] == "ok"]


def battles(run: RunData) -> pd.DataFrame:
    """Parsed pairwise verdicts from position A's side: item_id, request_id, model_a, model_b,
    level, score_a (share of the win, ties half), reward_a (-100..100), len_a, len_b, order, category.

    With the run's `soft` option and logprobs, score_a and reward_a are expectations under the
    judge's distribution, as the pairwise aggregation computes them. Vectorised and cached: a
    report asks for it several times, and runs have 100,000 verdicts.
    """
    if "battles" not in run.cache:
        run.cache["battles"] = _battles(run)
    return run.cache["battles"]


def _battles(run: RunData) -> pd.DataFrame:
    columns = ["item_id", "request_id", "model_a", "model_b", "level", "score_a", "reward_a",
               "len_a", "len_b", "order", "category"]
    frame = ok_verdicts(run)
    if not {"model_a", "model_b"} <= set(frame.columns) or frame.empty:
        return pd.DataFrame(columns=columns)
    frame = frame[frame["model_a"].notna() & frame["model_b"].notna() & (frame["model_a"] != frame["model_b"])]
    length_k = int(_number(run.config.get("length_k")) or -1)
    nan = pd.Series(np.nan, index=frame.index)
    len_a = pd.to_numeric(frame["len_a"], errors="coerce") if "len_a" in frame else nan
    len_b = pd.to_numeric(frame["len_b"], errors="coerce") if "len_b" in frame else nan
    level = frame["level"].astype(object) if "level" in frame else pd.Series(None, index=frame.index, dtype=object)
    known = level.isin(list(REWARD_A))
    if length_k >= 0:
        level = level.mask(known & (level == "A>B") & (len_a - len_b > length_k), "A=B")
        level = level.mask(known & (level == "B>A") & (len_b - len_a > length_k), "A=B")
    score_a = level.map(SHARE_A).astype(float)
    reward_a = level.map(REWARD_A).astype(float)
    if run.config.get("soft") and "probs" in frame:
        soft = known & frame["probs"].map(lambda p: isinstance(p, dict) and bool(p))
        for index in frame.index[soft.to_numpy()]:
            dist = _adjusted(frame.at[index, "probs"], _number(len_a[index]), _number(len_b[index]), length_k)
            total = sum(dist.values()) or 1.0
            score_a[index] = sum(p * SHARE_A[lvl] for lvl, p in dist.items()) / total
            reward_a[index] = sum(p * REWARD_A[lvl] for lvl, p in dist.items()) / total
    if "score_a" in frame:  # an importer's soft preference, where no level was given
        given = pd.to_numeric(frame["score_a"], errors="coerce")
        use = ~known & given.notna()
        score_a = score_a.mask(use, given.clip(0.0, 1.0))
        reward_a = reward_a.mask(use, 200.0 * given.clip(0.0, 1.0) - 100.0)
        level = level.mask(use & (given > 0.5), "A>B").mask(use & (given < 0.5), "B>A").mask(use & (given == 0.5), "A=B")
    keep = score_a.notna()
    request_id = frame["request_id"].astype(object)
    order = frame["order"].astype(object) if "order" in frame else pd.Series(None, index=frame.index, dtype=object)
    from_id = request_id.astype(str).str.rsplit("::", n=1).str[-1]
    order = order.where(order.isin(["ab", "ba"]), from_id.where(from_id.isin(["ab", "ba"])))
    out = pd.DataFrame({
        "item_id": frame["item_id"].astype(str), "request_id": request_id, "model_a": frame["model_a"].astype(str),
        "model_b": frame["model_b"].astype(str), "level": level, "score_a": score_a.clip(0.0, 1.0),
        "reward_a": reward_a, "len_a": len_a, "len_b": len_b, "order": order, "category": frame["category"],
    })
    return out[keep.to_numpy()].reset_index(drop=True)[columns]


def item_scores(run: RunData) -> pd.DataFrame:
    if "item_scores" not in run.cache:
        run.cache["item_scores"] = _item_scores(run)
    return run.cache["item_scores"]


def _item_scores(run: RunData) -> pd.DataFrame:
    """One score per (item, model): the number each protocol averages into a model's score.

    pairwise: mean reward (-100..100) over that item's battles from the model's side; rubric:
    the judge's score; checklist: % of questions answered YES; other runs: a `score` column.
    """
    columns = ["item_id", "model", "category", "score"]
    if run.protocol == "pairwise":
        b = battles(run)
        if b.empty:
            return pd.DataFrame(columns=columns)
        sides = pd.concat([
            pd.DataFrame({"item_id": b["item_id"], "model": b["model_a"], "category": b["category"], "score": b["reward_a"]}),
            pd.DataFrame({"item_id": b["item_id"], "model": b["model_b"], "category": b["category"], "score": -b["reward_a"]}),
        ], ignore_index=True)
        return _mean_per_item(sides)
    frame = ok_verdicts(run)
    if "model" not in frame.columns:
        return pd.DataFrame(columns=columns)
    if run.protocol == "checklist" and "answer" in frame.columns:
        judged = frame[frame["answer"].isin(["YES", "NO"])]
        scored = pd.DataFrame({
            "item_id": judged["item_id"], "model": judged["model"], "category": judged["category"],
            "score": 100.0 * (judged["answer"] == "YES").astype(float),
        })
        return _mean_per_item(scored)
    if "score" not in frame.columns:
        return pd.DataFrame(columns=columns)
    scored = pd.DataFrame({
        "item_id": frame["item_id"], "model": frame["model"], "category": frame["category"],
        "score": pd.to_numeric(frame["score"], errors="coerce"),
    })
    return _mean_per_item(scored[scored["model"].notna()])


def _mean_per_item(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(model=frame["model"].astype(str), category=frame["category"].fillna("(none)").astype(str))
    out = frame.groupby(["item_id", "model"], sort=True).agg(category=("category", "first"), score=("score", "mean"))
    return out.reset_index()[["item_id", "model", "category", "score"]]


def verdict_models(row: dict[str, Any]) -> list[str]:
    """The models a verdict is about, whatever the protocol."""
    names = [row.get(k) for k in ("model_a", "model_b", "model")]
    return [str(n) for n in names if isinstance(n, str) and n]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(number) else number


def _length_rule(level: str, len_a: float | None, len_b: float | None, k: int) -> str:
    """The pairwise protocol's WildBench rule; answers of unknown length keep their verdict."""
    if len_a is None or len_b is None:
        return level
    from harness_plugins.pairwise.verdicts import apply_length_rule

    return apply_length_rule(level, int(len_a), int(len_b), k)
    if level == "A>B" and len_a - len_b > k:
        return "A=B"
    if level == "B>A" and len_b - len_a > k:
        return "A=B"
    return level


def _adjusted(probs: dict[str, float], len_a: float | None, len_b: float | None, k: int) -> dict[str, float]:
    out = {lvl: float(p) for lvl, p in probs.items() if lvl in REWARD_A}
    for lvl in ("A>B", "B>A"):
        if _length_rule(lvl, len_a, len_b, k) == "A=B":
            out["A=B"] = out.get("A=B", 0.0) + out.pop(lvl, 0.0)
    return out
