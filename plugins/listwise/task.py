"""The listwise task: K-tuples of answers in several presentation orders, parsing of full orders,
and Plackett-Luce aggregation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import BadInput
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.protocol import Aggregate, Task
from harness_plugins.listwise.config import ListwiseConfig
from harness_plugins.listwise.tuples import (
    Cell,
    all_cells,
    full_design_cells,
    rotations_of,
    uniform_cells,
)
from harness_plugins.listwise.verdicts import labels_for, parse_json_order, parse_order, ranking_schema

if TYPE_CHECKING:
    from harness.reports.view import ReportView


def answered_models(items: list[Any]) -> list[list[str]]:
    """For every item, the models that answered it, in the order of first appearance overall."""
    order: dict[str, None] = {}
    for item in items:
        order.update(dict.fromkeys(item.answers))
    return [[m for m in order if m in item.answers] for item in items]


class ListwiseTask(Task):
    version: ClassVar[str] = "1"
    default_template: ClassVar[str | None] = "listwise.jinja"
    config: ListwiseConfig

    def check(self) -> None:
        cfg = self.config
        if self.items_from_store:
            return
        models = {m for item in self.items for m in item.answers}
        if len(models) < 2:
            raise BadInput("options: listwise judging needs answers from at least two models")
        if cfg.k > len(models):
            raise BadInput(f"options.k: {cfg.k} answers at once, but the dataset has {len(models)} models")
        if cfg.tuples == "all" and cfg.budget is not None:
            raise BadInput("options.budget: only with tuples uniform or adaptive (tuples all judges everything)")

    def build_requests(self) -> list[JudgeRequest]:
        cfg = self.config
        answered = answered_models(self.items)
        self.full_cells = full_design_cells(answered, cfg.k)
        self.adaptive = None
        if cfg.tuples == "all":
            self.cells = all_cells(answered, cfg.k, cfg.seed)
        elif cfg.tuples == "uniform":
            self.cells = uniform_cells(answered, cfg.k, cfg.seed, self._budget_cells())
        else:
            from harness_plugins.listwise.adaptive import AdaptiveTuples

            self.adaptive = AdaptiveTuples(answered, cfg.k, seed=cfg.seed, target=self._budget_cells(),
                                           rotations=cfg.orders_per_tuple, concurrency=self.concurrency)
            self.cells = self.adaptive.first_round()
        return self._requests_for(self.cells)

    def next_requests(self, results: dict[str, Verdict]) -> list[JudgeRequest]:
        if self.adaptive is None:
            return []
        cells = self.adaptive.next_round([v for v in results.values() if v.status == "ok"])
        self.cells += cells
        return self._requests_for(cells)

    def _budget_cells(self) -> int:
        """Tuples a budget allows: a whole number of calls (each tuple takes `rotations` calls) or
        a fraction of the full design's calls; at least one tuple."""
        budget, per = self.config.budget, self.config.orders_per_tuple
        if budget is None:
            return self.full_cells
        if isinstance(budget, float):
            return min(self.full_cells, max(1, round(budget * self.full_cells)))
        return min(self.full_cells, max(1, budget // per))

    def panel_obstacle(self) -> str | None:
        if self.config.tuples == "adaptive":
            return "options.tuples 'adaptive' with a judge panel is not supported; use all or uniform"
        return None

    def sampling_facts(self) -> dict[str, Any] | None:
        if not hasattr(self, "cells"):
            return None
        per = self.config.orders_per_tuple
        calls, full = per * len(self.cells), per * self.full_cells
        facts: dict[str, Any] = {
            "sampling": self.config.tuples, "k": self.config.k, "budget": self.config.budget,
            "tuples": len(self.cells), "presentation_orders": f"{per} cyclic rotation(s) of a seeded order",
            "calls": calls, "full_design_calls": full, "calls_saved": full - calls,
            "fraction_of_full_design": round(calls / full, 6) if full else None, "seed": self.config.seed,
        }
        if self.adaptive is not None:
            facts.update(self.adaptive.facts())
        return facts

    def _requests_for(self, cells: list[Cell]) -> list[JudgeRequest]:
        cfg = self.config
        sampling, _ = cfg.request_shape(None)
        if not cfg.reasoning:
            sampling = sampling.model_copy(update={"max_tokens": min(cfg.max_tokens, 8 + 4 * cfg.k)})
        requests = []
        for i, base in cells:
            item = self.items[i]
            labels = labels_for(len(base))
            schema = ranking_schema(len(base), cfg.reasoning) if cfg.structured_output else None
            for shown in rotations_of(base, min(cfg.orders_per_tuple, len(base))):
                answers = [item.answers[m] for m in shown]
                messages = self.prompts.render(
                    instruction=item.instruction,
                    conversation=[m.model_dump() for m in item.conversation],
                    reference=item.reference,
                    category=item.category,
                    answers=[{"label": label, "text": text} for label, text in zip(labels, answers)],
                    labels=labels,
                    reasoning=cfg.reasoning,
                )
                requests.append(JudgeRequest(
                    id=f"{item.id}::{'|'.join(shown)}",
                    item_id=item.id,
                    messages=messages,
                    sampling=sampling,
                    json_schema=schema,
                    meta={"models": list(shown), "lengths": [len(a) for a in answers], "category": item.category},
                ))
        return requests

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        k = len(request.meta["models"])
        order = parse_json_order(response.text, k) if request.json_schema else None
        order = order or parse_order(response.text, k)
        by_label = dict(zip(labels_for(k), request.meta["models"]))
        return {"order": "".join(order), "ranking": [by_label[label] for label in order]}

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        from harness_plugins.listwise.aggregate import aggregate_listwise

        return aggregate_listwise(verdicts, self.config)

    @classmethod
    def summary_facts(cls, summary: dict[str, Any]) -> list[str]:
        rates = summary.get("position_first_rates")
        if not rates:
            return []
        shown = ", ".join(f"{label} {rate:.0%}" for label, rate in rates.items())
        return [f"ranked first by position: {shown} (even: {1 / len(rates):.0%})"]

    @classmethod
    def report_view(cls) -> ReportView:
        from harness_plugins.listwise.report import ListwiseView

        return ListwiseView()
