"""The pairwise task: requests in both orders, parsing, and aggregation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import BadInput
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.protocol import Aggregate, Task
from harness.protocol.verdict_columns import columns_shared
from harness_plugins.pairwise.config import PairwiseConfig
from harness_plugins.pairwise.pairs import choose_pairs
from harness_plugins.pairwise.sampled_battles import SampledBattles
from harness_plugins.pairwise.sampling import Cell, SamplingPlan
from harness_plugins.pairwise.tournament import TournamentPlan, match_margin
from harness_plugins.pairwise.verdicts import (
    SYMBOLS,
    level_distribution,
    parse_json_level,
    parse_level,
    verdict_choices,
    verdict_schema,
)

if TYPE_CHECKING:
    import pandas as pd

    from harness.protocol.calibrator import Calibrator
    from harness.protocol.panel_view import PanelView
    from harness.protocol.replay_view import ReplayView
    from harness.reports.view import ReportView


def markdown_counts(answer: str) -> dict[str, int]:
    """Headers, list items and bold spans of an answer, kept with the verdict for style control."""
    from harness.stats.style_control import style_features

    features = style_features(answer)
    return {name: int(features[name]) for name in ("headers", "lists", "bold")}


def ordered_models(answer_sets: list[dict[str, str]]) -> list[str]:
    """Every model that answered any item, in order of first appearance."""
    models: dict[str, None] = {}
    for answers in answer_sets:
        models.update(dict.fromkeys(answers))
    return list(models)


class PairwiseTask(Task):
    version: ClassVar[str] = "1"
    default_template: ClassVar[str | None] = "pairwise.jinja"
    config: PairwiseConfig

    def check(self) -> None:
        self.pairs = choose_pairs(ordered_models([item.answers for item in self.items]), self.config.baselines)
        if not self.items_from_store and self.config.use_checklist and not any(item.checklist for item in self.items):
            raise BadInput("options.use_checklist: no item of the dataset has a checklist")
        cfg = self.config
        if cfg.sampling == "all" and cfg.budget is not None:
            raise BadInput("options.budget: only with sampling uniform or adaptive (calls) or tournament "
                           "(items bracketed); sampling all judges everything")
        if cfg.sampling == "tournament" and cfg.baselines:
            raise BadInput("options.baselines: sampling tournament brackets every model against every other; "
                           "leave baselines empty")
        if cfg.sampling != "adaptive" and cfg.stop_confidence is not None:
            raise BadInput("options.stop_confidence: the stopping rule needs sampling adaptive")

    def build_requests(self) -> list[JudgeRequest]:
        """Every comparison in both orders, or with `sampling` the first round of its plan."""
        cfg = self.config
        self.plan: SamplingPlan | None = None
        self.tournament: TournamentPlan | None = None
        self._cells: dict[str, Cell] = {}
        if cfg.sampling == "all":
            cells = [(i, k) for i, item in enumerate(self.items) for k, (first, second) in enumerate(self.pairs)
                     if first in item.answers and second in item.answers]
            return self._requests_for(cells)
        if cfg.sampling == "tournament":
            models = ordered_models([item.answers for item in self.items])
            self._pair_index = {frozenset(p): k for k, p in enumerate(self.pairs)}
            self.tournament = TournamentPlan([[m for m in models if m in item.answers] for item in self.items],
                                             budget=cfg.budget, seed=cfg.seed)
            return self._requests_for(self._match_cells(self.tournament.first_round()))
        self.plan = SamplingPlan(
            cfg.sampling, ordered_models([item.answers for item in self.items]), self.pairs,
            [set(item.answers) for item in self.items], budget=cfg.budget, seed=cfg.seed,
            batch_size=cfg.batch_size, concurrency=self.concurrency,
            stop_confidence=cfg.stop_confidence, stop_margin=cfg.stop_margin,
        )
        self._battles = SampledBattles(self.plan.models, cfg)
        return self._requests_for(self.plan.first_round())

    def next_requests(self, results: dict[str, Verdict]) -> list[JudgeRequest]:
        """The next adaptive round, chosen from the verdicts of every round so far."""
        tournament = getattr(self, "tournament", None)
        if tournament is not None:
            return self._requests_for(self._match_cells(tournament.next_round(self._outcome(results))))
        plan = getattr(self, "plan", None)
        if plan is None or plan.kind != "adaptive":
            return []
        self._battles.add([v for rid, v in results.items() if rid in self._cells])
        return self._requests_for(plan.next_round(self._battles.wins, self._battles.item_tensor))

    def _match_cells(self, matches: list[tuple[int, str, str]]) -> list[Cell]:
        return [(i, self._pair_index[frozenset((x, y))]) for i, x, y in matches]

    def _outcome(self, results: dict[str, Verdict]) -> Callable[[int, str, str], float | None]:
        """A match's margin for its first model from the stored verdicts of both its orders."""
        def margin(i: int, x: str, y: str) -> float | None:
            first, second = self.pairs[self._pair_index[frozenset((x, y))]]
            stem = f"{self.items[i].id}::{first}::{second}"
            return match_margin([results.get(f"{stem}::ab"), results.get(f"{stem}::ba")], x)
        return margin

    def panel_obstacle(self) -> str | None:
        """Uniform and adaptive sampling plan their rounds from one judge's verdicts."""
        sampling = self.config.sampling
        if sampling != "all":
            return (f"options.sampling {sampling!r} with a judge panel is not supported; "
                    "use sampling all, or run each judge on its own")
        return None

    def sampling_facts(self) -> dict[str, Any] | None:
        tournament = getattr(self, "tournament", None)
        if tournament is not None:
            return tournament.facts()
        plan = getattr(self, "plan", None)
        if plan is not None:
            return plan.facts()
        if not hasattr(self, "_cells"):  # no requests built (aggregating stored verdicts)
            return None
        calls = len(self._cells)
        return {"sampling": "all", "calls": calls, "full_design_calls": calls, "calls_saved": 0}

    def _requests_for(self, cells: list[Cell]) -> list[JudgeRequest]:
        """Both answer orders of every (item index, pair index) comparison, in the given order."""
        cfg = self.config
        sampling, constraint = cfg.request_shape(None if cfg.reasoning else verdict_choices(cfg.verdict_format))
        schema = verdict_schema(cfg.verdict_format, cfg.reasoning) if cfg.structured_output and not constraint else None
        requests = []
        # An answer's style counts, once per answer (it is in both orders of every pair it is in);
        # each request gets its own copy, as it did when each computed its own.
        styles: dict[tuple[int, str], dict[str, int]] = {}

        def style(i: int, model: str) -> dict[str, int]:
            counts = styles.get((i, model))
            if counts is None:
                counts = styles[(i, model)] = markdown_counts(self.items[i].answers[model])
            return dict(counts)

        for i, k in cells:
            item = self.items[i]
            first, second = self.pairs[k]
            for order, (model_a, model_b) in (("ab", (first, second)), ("ba", (second, first))):
                answer_a, answer_b = item.answers[model_a], item.answers[model_b]
                messages = self.prompts.render(
                    instruction=item.instruction,
                    conversation=[m.model_dump() for m in item.conversation],
                    reference=item.reference,
                    category=item.category,
                    checklist=list(item.checklist or ()) if cfg.use_checklist else [],
                    answer_a=answer_a,
                    answer_b=answer_b,
                    verdict_format=cfg.verdict_format,
                    reasoning=cfg.reasoning,
                )
                request_id = f"{item.id}::{first}::{second}::{order}"
                self._cells[request_id] = (i, k)
                requests.append(
                    JudgeRequest(
                        id=request_id,
                        item_id=item.id,
                        messages=messages,
                        sampling=sampling,
                        constraint=constraint,
                        json_schema=schema,
                        meta={
                            "model_a": model_a,
                            "model_b": model_b,
                            "order": order,
                            "len_a": len(answer_a),
                            "len_b": len(answer_b),
                            "style_a": style(i, model_a),
                            "style_b": style(i, model_b),
                            "category": item.category,
                        },
                    )
                )
        return requests

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        parsed = parse_json_level(response.text, self.config.verdict_format) if request.json_schema else None
        level, offset = parsed or parse_level(response.text, self.config.verdict_format)
        data: dict[str, Any] = {"level": level}
        symbols = SYMBOLS.get(self.config.verdict_format)
        if symbols is not None:
            probs = level_distribution(response, offset, symbols)
            if probs is not None:
                data["probs"] = probs
        return data

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        # pandas/scipy: only when needed
        from harness_plugins.pairwise.aggregate import JudgedRows, aggregate_pairwise, judged_battles

        with columns_shared():  # the verdicts' fields gathered once for the steps below
            battles = judged_battles(verdicts, self.config)
            self._judged_rows = JudgedRows(verdicts, battles)  # the categories' scores take their rows from it
            return aggregate_pairwise(verdicts, self.config, battles=battles)

    def category_scores(self, verdicts: list[Verdict]) -> pd.DataFrame:
        from harness_plugins.pairwise.aggregate import reward_scores

        judged = getattr(self, "_judged_rows", None)
        return reward_scores(verdicts, self.config, battles=judged.of(verdicts) if judged is not None else None)

    @classmethod
    def summary_facts(cls, summary: dict[str, Any]) -> list[str]:
        facts = []
        if "position_consistency" in summary:
            facts.append(f"position consistency {summary['position_consistency']:.0%}"
                         f" (same winner {summary['position_consistency_winner']:.0%})")
        if "first_position_win_rate" in summary:
            facts.append(f"first position wins {summary['first_position_win_rate']:.0%}")
        fell = summary.get("soft_fallbacks")
        if isinstance(fell, dict) and fell.get("verdicts"):
            models = ", ".join(f"{m} {n}" for m, n in (fell.get("by_model") or {}).items() if n)
            facts.append(f"soft: {fell['verdicts']} of {fell['of']} verdicts had no logprobs and count as their "
                         f"parsed level ({models})")
        return facts

    @classmethod
    def report_view(cls) -> ReportView:
        from harness_plugins.pairwise.report import PairwiseView

        return PairwiseView()

    @classmethod
    def calibrator(cls) -> Calibrator:
        from harness_plugins.pairwise.calibration import PairwiseCalibrator

        return PairwiseCalibrator()

    @classmethod
    def panel_view(cls) -> PanelView:
        from harness_plugins.pairwise.panel import PairwisePanelView

        return PairwisePanelView()

    @classmethod
    def replay_view(cls) -> ReplayView:
        from harness_plugins.pairwise.replay import PairwiseReplayView

        return PairwiseReplayView()
