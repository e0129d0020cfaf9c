"""The checklist task: generate missing checklists (stage 1), judge answers against them (stage 2).

A generated checklist is a verdict in the run's store (its `data` holds the questions), so every
model and every rerun is judged against the same questions: stage 2 is rebuilt from the stored
generation, never by asking the judge again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from harness.errors import BadInput
from harness.models import Item, JudgeRequest, JudgeResponse, Sampling, Verdict
from harness.prompts import PromptRenderer
from harness.protocol import Aggregate, InvalidOutput, Task
from harness_plugins.checklist.config import ChecklistConfig
from harness_plugins.checklist.parsing import (
    ANSWERS,
    answers_schema,
    choice_p_yes,
    json_all,
    json_questions,
    json_single,
    parse_all,
    parse_questions,
    parse_single,
    questions_schema,
    token_p_yes,
)

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

    from harness.protocol.panel_view import PanelView
    from harness.protocol.replay_view import ReplayView
    from harness.reports.view import ReportView


def generation_id(item_id: str) -> str:
    return f"{item_id}::checklist"


class ChecklistTask(Task):
    version: ClassVar[str] = "1"
    default_template: ClassVar[str | None] = "checklist_judge.jinja"
    config: ChecklistConfig

    def check(self) -> None:
        missing = [] if self.items_from_store else [item.id for item in self.items if not item.checklist]
        if missing and not self.config.generate:
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise BadInput(
                f"options.generate: false, but {len(missing)} item(s) have no checklist ({shown})"
            )
        self._by_id = {item.id: item for item in self.items}
        self._generator: PromptRenderer | None = None
        if missing:
            environment = cast("SandboxedEnvironment", self.prompts.template.environment)  # made by make_environment
            self._generator = PromptRenderer(environment, self.config.generate_template)

    # -- requests ---------------------------------------------------------------------------------
    def build_requests(self) -> list[JudgeRequest]:
        requests: list[JudgeRequest] = []
        for item in self.items:
            if item.checklist:
                requests.extend(self._judge_requests(item, list(item.checklist), "dataset"))
            else:
                requests.append(self._generation_request(item))
        return requests

    def next_requests(self, results: dict[str, Verdict]) -> list[JudgeRequest]:
        requests: list[JudgeRequest] = []
        for item in self.items:
            if item.checklist:
                continue
            verdict = results.get(generation_id(item.id))
            if verdict is None or verdict.status != "ok":
                continue
            requests.extend(self._judge_requests(item, list(verdict.data["questions"]), "generated"))
        return requests

    def _generation_request(self, item: Item) -> JudgeRequest:
        cfg = self.config
        assert self._generator is not None
        messages = self._generator.render(
            instruction=item.instruction,
            conversation=[m.model_dump() for m in item.conversation],
            reference=item.reference,
            category=item.category,
            max_questions=cfg.max_questions,
        )
        return JudgeRequest(
            id=generation_id(item.id),
            item_id=item.id,
            messages=messages,
            sampling=Sampling(temperature=cfg.temperature, max_tokens=cfg.generate_max_tokens),
            json_schema=questions_schema() if cfg.structured_output else None,
            # the models waiting on this checklist, stored with its verdict: a failed generation is
            # counted against them also where the items are rebuilt from the store (which has no
            # verdict of theirs for this item)
            meta={"stage": "generate", "category": item.category, "models": sorted(item.answers)},
        )

    def _judge_requests(self, item: Item, questions: list[str], source: str) -> list[JudgeRequest]:
        cfg = self.config
        constrained = cfg.mode == "each" and not cfg.reasoning
        sampling, constraint = cfg.request_shape(ANSWERS if constrained else None, short_max_tokens=8)
        schema = answers_schema(cfg.mode, cfg.reasoning) if cfg.structured_output and not constraint else None
        base = {"stage": "judge", "category": item.category, "source": source}
        requests = []
        for model, answer in item.answers.items():
            common = {
                "instruction": item.instruction,
                "conversation": [m.model_dump() for m in item.conversation],
                "reference": item.reference,
                "category": item.category,
                "answer": answer,
                "mode": cfg.mode,
                "reasoning": cfg.reasoning,
            }
            if cfg.mode == "all":
                requests.append(JudgeRequest(
                    id=f"{item.id}::judge::{model}",
                    item_id=item.id,
                    messages=self.prompts.render(questions=questions, question=None, **common),
                    sampling=sampling,
                    json_schema=schema,
                    meta={**base, "model": model, "questions": questions},
                ))
                continue
            for index, question in enumerate(questions):
                requests.append(JudgeRequest(
                    id=f"{item.id}::judge::{model}::q{index + 1}",
                    item_id=item.id,
                    messages=self.prompts.render(questions=questions, question=question, **common),
                    sampling=sampling,
                    constraint=constraint,
                    json_schema=schema,
                    meta={**base, "model": model, "question_index": index, "question": question},
                ))
        return requests

    # -- parsing ----------------------------------------------------------------------------------
    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        stage = request.meta.get("stage")
        if stage == "generate":
            structured = json_questions(response.text, self.config.max_questions) if request.json_schema else None
            return {"questions": structured or parse_questions(response.text, self.config.max_questions)}
        if stage != "judge":
            raise InvalidOutput(f"unknown request stage {stage!r}")
        if self.config.mode == "all":
            n = len(request.meta["questions"])
            parsed = (json_all(response.text, n) if request.json_schema else None) or parse_all(response.text, n)
            answers = [answer for answer, _ in parsed]
            p_yes = [token_p_yes(response, offset) for _, offset in parsed]
            data: dict[str, Any] = {"answers": answers}
            if all(p is not None for p in p_yes):
                data["p_yes"] = p_yes
            return data
        single = json_single(response.text) if request.json_schema else None
        answer, offset = single or parse_single(response.text, self.config.reasoning)
        data = {"answer": answer}
        p = choice_p_yes(response) if request.constraint is not None else None
        if p is None:
            p = token_p_yes(response, offset)
        if p is not None:
            data["p_yes"] = p
        return data

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        from harness_plugins.checklist.aggregate import aggregate_checklist  # pandas/scipy: only when needed

        return aggregate_checklist(verdicts, self.items, self.config)

    @classmethod
    def report_view(cls) -> ReportView:
        from harness_plugins.checklist.report import ChecklistView

        return ChecklistView()

    @classmethod
    def panel_view(cls) -> PanelView:
        from harness_plugins.checklist.panel import ChecklistPanelView

        return ChecklistPanelView()

    @classmethod
    def replay_view(cls) -> ReplayView:
        from harness_plugins.checklist.replay import ChecklistReplayView

        return ChecklistReplayView()
