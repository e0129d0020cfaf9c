"""The answer_match task: one judge call per (item, model) comparing the answer with the reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import BadInput
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.protocol import Aggregate, Task
from harness_answer_match.config import AnswerMatchOptions
from harness_answer_match.parsing import CHOICES, MATCH, p_match, parse_verdict

if TYPE_CHECKING:
    from harness.reports.view import ReportView


class AnswerMatchTask(Task):
    #: Bump when the prompt or the parser changes meaning.
    version: ClassVar[str] = "1"
    #: Shipped inside this package; harness_prepare_jinja_environment puts it on the search path.
    default_template: ClassVar[str | None] = "answer_match.jinja"
    config: AnswerMatchOptions

    def check(self) -> None:
        if self.items_from_store:  # `harness aggregate` and imports: the items are ids only, judged already
            return
        missing = [item.id for item in self.items if not (item.reference or "").strip()]
        if missing and self.config.missing_reference == "error":
            shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
            raise BadInput(f"answer_match needs a reference answer per item; {len(missing)} have none ({shown});"
                           " set options.missing_reference: skip to leave them out")
        skipped = set(missing)
        self.items = [item for item in self.items if item.id not in skipped]
        if not self.items:
            raise BadInput("answer_match: no item has a reference answer")

    def build_requests(self) -> list[JudgeRequest]:
        cfg = self.config
        sampling, constraint = cfg.request_shape(None if cfg.reasoning else CHOICES)
        requests = []
        for item in self.items:
            for model, answer in item.answers.items():
                messages = self.prompts.render(
                    question=item.instruction,
                    conversation=[m.model_dump() for m in item.conversation],
                    reference=item.reference,
                    answer=answer,
                    domain=cfg.domain,
                    reasoning=cfg.reasoning,
                )
                requests.append(JudgeRequest(
                    id=f"{item.id}::{model}", item_id=item.id, messages=messages, sampling=sampling,
                    constraint=constraint, meta={"model": model, "category": item.category},
                ))
        return requests

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        verdict, offset = parse_verdict(response.text)
        data: dict[str, Any] = {"verdict": verdict, "match": verdict == MATCH}
        probability = p_match(response, offset)
        if probability is not None:
            data["p_match"] = probability
        return data

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        from harness_answer_match.aggregate import aggregate_answer_match  # pandas only when needed

        return aggregate_answer_match(verdicts, self.config)

    @classmethod
    def summary_facts(cls, summary: dict[str, Any]) -> list[str]:
        """The line printed after a run: how many judged answers matched their reference."""
        if "matched" not in summary:
            return []
        return [f"answers matching the reference {summary['matched']} of {summary['judged']}"]

    @classmethod
    def report_view(cls) -> ReportView:
        from harness_answer_match.report import AnswerMatchView  # pandas and the report code: only for reports

        return AnswerMatchView()
