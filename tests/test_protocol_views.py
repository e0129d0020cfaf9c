"""A protocol the core has never heard of, defined here and registered in-process, in a judge
panel and under the replay judge: the generic panel and replay views of harness.protocol.Task
serve it, and a protocol that overrides them gets its own pooling facts, agreement and replayed
answers. Judges are planted servers on loopback (harness.testing.planted_panel); every expected
number comes from their answer functions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from harness import hookimpl
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.plugins import LoadedPlugins, load_plugins
from harness.protocol import Aggregate, InvalidOutput, JudgeOptions, Task, TaskKind
from harness.protocol.panel_view import PanelLabels, PanelView
from harness.protocol.pooling import Pooled, ranked
from harness.protocol.replay_view import Found, ReplayView, Stored
from harness.running.execute import run_task
from harness.running.options import RunOptions
from harness.stats.bootstrap import model_score_frame
from harness.testing.planted_panel import PanelJudge, panel_rows

QUALITY = {"m0": 3.0, "m1": 5.0, "m2": 7.0}
N_ITEMS = 12
TEMPLATE = "{{ question }}\n\n{{ answer }}\n\nGrade the answer from 1 to 10 as [[N]]."


class GradeTask(Task):
    """`grade`: the judge grades each answer [[1]]..[[10]]; a model's score is its mean grade."""

    default_template: ClassVar[str | None] = "grade.jinja"
    config: JudgeOptions

    def build_requests(self) -> list[JudgeRequest]:
        sampling, _ = self.config.request_shape(None)
        return [JudgeRequest(id=f"{item.id}::{model}", item_id=item.id, sampling=sampling, meta={"model": model},
                             messages=self.prompts.render(question=item.instruction, answer=answer))
                for item in self.items for model, answer in item.answers.items()]

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        found = re.search(r"\[\[(\d+)\]\]", response.text)
        if found is None:
            raise InvalidOutput("no [[N]] grade")
        return {"model": request.meta["model"], "grade": int(found.group(1))}

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        ok = [v for v in verdicts if v.status == "ok"]
        frame = pd.DataFrame([(v.item_id, v.data["model"], float(v.data["grade"])) for v in ok],
                             columns=["item_id", "model", "grade"])
        models = sorted({str(v.data["model"]) for v in ok})
        scores = model_score_frame(frame, models, value="grade", n_rounds=self.config.n_bootstrap,
                                   seed=self.config.seed).reset_index()
        return Aggregate(scores=scores, ranking=ranked(scores))


class AgreeingView(PanelView):
    """Overrides every panel method: agreement on grades, each judge's mean grade, its distance
    from the others, and a pooled score that is the median judge's."""

    def pool(self, task: Task, verdicts: dict[str, list[Verdict]], by_judge: dict[str, Aggregate]) -> Pooled:
        pooled = super().pool(task, verdicts, by_judge)
        means = pd.DataFrame({judge: a.scores.set_index("model")["score"] for judge, a in by_judge.items()})
        scores = pooled.aggregate.scores.set_index("model")
        scores["score"] = means.median(axis=1)
        scores = scores.reset_index()
        pooled.aggregate.scores, pooled.aggregate.ranking = scores, ranked(scores)
        pooled.method = "median_judge"
        return pooled

    def labels(self, verdicts: dict[str, list[Verdict]], pooled: Aggregate) -> PanelLabels:
        rows = [(judge, v.request_id, float(v.data["grade"])) for judge, vs in verdicts.items() for v in vs
                if v.status == "ok"]
        return PanelLabels(pd.DataFrame(rows, columns=["judge", "unit", "label"]), "interval", weights="quadratic",
                           categories=[float(g) for g in range(1, 11)])

    def judge_facts(self, aggregate: Aggregate) -> dict[str, Any]:
        return {"mean_grade": round(float(aggregate.scores["score"].mean()), 6)}

    def agreement_with_pool(self, labels: PanelLabels, judge: str) -> dict[str, Any]:
        table = labels.labels.pivot_table(index="unit", columns="judge", values="label")
        others = table.drop(columns=judge).mean(axis=1)
        return {"mean_abs_diff": round(float((table[judge] - others).abs().mean()), 6)}


class AgreeingGradeTask(GradeTask):
    @classmethod
    def panel_view(cls) -> PanelView:
        return AgreeingView()


class FromData(ReplayView):
    """Answers from the stored grade (not the stored output), found by item and model only."""

    def keys(self, item_id: str, request_id: str, stored: Stored) -> tuple[Hashable, ...]:
        return ((item_id, stored.data["model"]),)

    def find(self, stored: Mapping[Hashable, Stored], request: JudgeRequest) -> Found:
        return Found(stored.get((request.item_id, request.meta["model"])), f"the answer of {request.meta['model']}")

    def answer(self, request: JudgeRequest, stored: Stored) -> JudgeResponse:
        return JudgeResponse(text=f"[[{stored.data['grade']}]]")


class FromDataGradeTask(GradeTask):
    @classmethod
    def replay_view(cls) -> ReplayView:
        return FromData()


class GradePlugin:
    @hookimpl
    def harness_register_task_kinds(self, register: Callable[[TaskKind], None]) -> None:
        for name, task_class in (("grade", GradeTask), ("grade_agreeing", AgreeingGradeTask),
                                 ("grade_from_data", FromDataGradeTask)):
            register(TaskKind(name=name, config_model=JudgeOptions, task_class=task_class))


def plugins() -> LoadedPlugins:
    return load_plugins(extra=(GradePlugin(),))


def write_task(directory: Path, protocol: str, judges: list[PanelJudge] | None = None, **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = panel_rows(QUALITY, N_ITEMS)
    (directory / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (directory / "grade.jinja").write_text(TEMPLATE, encoding="utf-8")
    task: dict[str, Any] = {"name": "grade", "protocol": protocol, "dataset": {"path": "data.jsonl"},
                            "options": {"reasoning": False, "reask": 0, "n_bootstrap": 100}, **extra}
    if judges:
        task["judges"] = [{"spec": j.spec, "base_url": j.base_url, "concurrency": 4} for j in judges]
    path = directory / "task.yaml"
    path.write_text(json.dumps(task), encoding="utf-8")
    return path


def planted_mean(judge: PanelJudge, model: str) -> float:
    return float(np.mean([judge.rubric_score(model, f"q{i:03d}") for i in range(N_ITEMS)]))


@pytest.fixture
def panel() -> Any:
    judges = [PanelJudge("fair-a", QUALITY), PanelJudge("fair-b", QUALITY), PanelJudge("harsh", QUALITY, severity=2.0)]
    yield judges
    for judge in judges:
        judge.close()


def read(run: Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    return (json.loads((run / "run.json").read_text(encoding="utf-8")), pd.read_csv(run / "scores.csv"),
            pd.read_csv(run / "scores_by_judge.csv"))


def test_a_new_protocol_in_a_panel_is_pooled_by_its_own_aggregate(tmp_path: Path, panel: list[PanelJudge]) -> None:
    run_task(write_task(tmp_path / "task", "grade", panel), RunOptions(out=tmp_path / "run", progress=False), plugins())
    manifest, scores, by_judge = read(tmp_path / "run")
    pooled = scores.set_index("model")["score"]
    for model in QUALITY:  # every judge's grades, each judge's requests kept apart
        assert pooled[model] == pytest.approx(np.mean([planted_mean(j, model) for j in panel]), abs=1e-6)
        for judge in panel:
            own = by_judge[(by_judge["judge"] == judge.spec) & (by_judge["model"] == model)]["score"]
            assert float(own.iloc[0]) == pytest.approx(planted_mean(judge, model), abs=1e-6)
    facts = manifest["panel"]
    assert facts["pooling"] == "all_verdicts"
    assert facts["agreement"] == {"note": "no agreement measure for protocol 'grade'"}
    for entry in facts["judges"]:
        assert entry["counts"] == {"ok": N_ITEMS * len(QUALITY), "invalid": 0, "failed": 0, "pending": 0}
        assert entry["ranking"] == ["m2", "m1", "m0"] and entry["kendall_tau_with_pool"] == 1.0
        assert "position" not in entry and "agreement_with_pool" not in entry
    assert manifest["summary"]["score_note"].startswith("panel, pooled by the protocol's aggregate")


def test_a_protocol_overrides_how_its_panel_is_pooled_and_compared(tmp_path: Path, panel: list[PanelJudge]) -> None:
    run_task(write_task(tmp_path / "task", "grade_agreeing", panel), RunOptions(out=tmp_path / "run", progress=False),
             plugins())
    manifest, scores, _ = read(tmp_path / "run")
    facts = manifest["panel"]
    assert facts["pooling"] == "median_judge"
    for model, score in zip(scores["model"], scores["score"], strict=True):
        assert score == pytest.approx(np.median([planted_mean(j, model) for j in panel]), abs=1e-6)
    agreement = facts["agreement"]
    assert agreement["level"] == "interval" and agreement["kappa_weights"] == "quadratic"
    assert agreement["units"] == N_ITEMS * len(QUALITY) and 0 < agreement["krippendorff_alpha"] < 1
    kappas = {tuple(p["judges"]): p["kappa"] for p in agreement["cohen_kappa"]}
    assert kappas[("openai:fair-a", "openai:fair-b")] > kappas[("openai:fair-a", "openai:harsh")]
    judges = {entry["judge"]: entry for entry in facts["judges"]}
    for judge in panel:
        expected = np.mean([planted_mean(judge, m) for m in QUALITY])
        assert judges[judge.spec]["mean_grade"] == pytest.approx(expected, abs=1e-6)
    # The harsh judge grades about 2 points below the others; the fair ones about 1 from the rest.
    assert judges["openai:harsh"]["agreement_with_pool"]["mean_abs_diff"] > max(
        judges[f]["agreement_with_pool"]["mean_abs_diff"] for f in ("openai:fair-a", "openai:fair-b"))


def judged_source(tmp_path: Path) -> tuple[Path, Path]:
    """A one-judge `grade` run by a planted judge, and its task file."""
    with PanelJudge("solo", QUALITY) as judge:
        task = write_task(tmp_path / "task", "grade", judge=judge.spec)
        run_task(task, RunOptions(judge=judge.spec, base_url=judge.base_url, out=tmp_path / "source", progress=False,
                                  cache=False), plugins())
    return task, tmp_path / "source"


def replay(task: Path, source: Path, out: Path, protocol: str | None = None) -> dict[str, dict[str, Any]]:
    overrides = (f"protocol={protocol}",) if protocol else ()
    run_task(task, RunOptions(judge=f"replay:{source}", out=out, progress=False, cache=False, overrides=overrides),
             plugins())
    lines = (out / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()
    return {v["request_id"]: v for v in map(json.loads, lines)}


def rewrite(source: Path, to: Path, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Path:
    to.mkdir()
    records = [change(json.loads(line)) for line in (source / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()]
    (to / "verdicts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r), encoding="utf-8")
    return to


def test_a_new_protocol_replays_through_the_generic_view(tmp_path: Path) -> None:
    task, source = judged_source(tmp_path)
    stored = {v["request_id"]: v for v in map(json.loads, (source / "verdicts.jsonl").read_text().splitlines())}
    assert len(stored) == N_ITEMS * len(QUALITY) and all(v["status"] == "ok" for v in stored.values())
    replayed = replay(task, source, tmp_path / "replay")
    assert {k: v["data"] for k, v in replayed.items()} == {k: v["data"] for k, v in stored.items()}
    assert (tmp_path / "replay" / "scores.csv").read_bytes() == (source / "scores.csv").read_bytes()
    assert json.loads((tmp_path / "replay" / "run.json").read_text())["judge"]["stored_verdicts"] == len(stored)

    # Request ids the replaying run does not use: found by item and model; a model never judged fails.
    renamed = rewrite(source, tmp_path / "renamed", lambda v: None if v["data"]["model"] == "m0" else
                      {**v, "request_id": "old::" + v["request_id"]})
    replayed = replay(task, renamed, tmp_path / "replay-renamed")
    for request_id, verdict in replayed.items():
        if verdict["data"]["model"] == "m0":
            assert verdict["status"] == "failed"
            assert f"no stored verdict for item {verdict['item_id']!r}, model 'm0'" in verdict["error"]
        else:
            assert verdict["status"] == "ok" and verdict["data"] == stored[request_id]["data"]


def test_a_protocol_overrides_how_the_replay_judge_answers(tmp_path: Path) -> None:
    task, source = judged_source(tmp_path)
    stored = {v["request_id"]: v for v in map(json.loads, (source / "verdicts.jsonl").read_text().splitlines())}
    no_output = rewrite(source, tmp_path / "no-output", lambda v: {**v, "output": None})
    generic = replay(task, no_output, tmp_path / "generic")
    assert all(v["status"] == "failed" and "keeps no judge output" in v["error"] for v in generic.values())
    own = replay(task, no_output, tmp_path / "own", protocol="grade_from_data")
    assert all(v["status"] == "ok" for v in own.values())
    assert {k: v["data"]["grade"] for k, v in own.items()} == {k: v["data"]["grade"] for k, v in stored.items()}
