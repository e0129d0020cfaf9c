"""The rubric task: one request per (item, model), score parsing, aggregation."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from pydantic import ValidationError

from harness.errors import BadInput
from harness.models import JudgeRequest, JudgeResponse, Verdict
from harness.prompts import builtin_prompt_dir
from harness.protocol import Aggregate, Task
from harness_plugins.rubric.config import Rubric, RubricConfig
from harness_plugins.rubric.presets import PRESETS
from harness_plugins.rubric.scores import (
    choice_distribution,
    expected_score,
    parse_json_score,
    parse_score,
    score_choices,
    score_schema,
    token_distribution,
)

if TYPE_CHECKING:
    from harness.protocol.calibrator import Calibrator
    from harness.protocol.panel_view import PanelView
    from harness.protocol.replay_view import ReplayView
    from harness.reports.view import ReportView


class RubricTask(Task):
    version: ClassVar[str] = "1"
    default_template: ClassVar[str | None] = "rubric.jinja"
    config: RubricConfig

    def check(self) -> None:
        cfg = self.config
        if cfg.rubric is not None:
            self.rubric = cfg.rubric
        elif cfg.rubric_name is not None:
            self.rubric = load_rubric(self._library_path(), cfg.rubric_name)
        else:
            assert cfg.preset is not None
            self.rubric = PRESETS[cfg.preset]
        if cfg.preset == "wb_score" and (self.rubric.min_score, self.rubric.max_score) != (1, 10):
            raise BadInput("options.preset: wb_score needs a 1-10 rubric")
        if not self.items_from_store and cfg.use_checklist and not any(item.checklist for item in self.items):
            raise BadInput("options.use_checklist: no item of the dataset has a checklist")

    def _library_path(self) -> Path:
        """The rubric library: next to the task file first, then the one shipped with the prompts."""
        path = Path(self.config.rubric_file).expanduser()
        if path.is_absolute():
            tried = [path]
        else:
            tried = [d / path for d in (self.base_dir, builtin_prompt_dir()) if d is not None]
        for candidate in tried:
            if candidate.is_file():
                return candidate
        raise BadInput(
            f"options.rubric_file: {self.config.rubric_file!r} not found (looked in "
            + ", ".join(str(p.parent) for p in tried) + ")"
        )

    def build_requests(self) -> list[JudgeRequest]:
        cfg = self.config
        scale = self.rubric.scale
        sampling, constraint = cfg.request_shape(None if cfg.reasoning else score_choices(scale))
        schema = score_schema(scale, cfg.reasoning) if cfg.structured_output and not constraint else None
        rubric = {
            "criterion": self.rubric.criterion,
            "levels": [{"label": lv.label, "low": lv.low, "high": lv.high, "description": lv.description}
                       for lv in self.rubric.levels],
            "min": self.rubric.min_score,
            "max": self.rubric.max_score,
        }
        requests = []
        for item in self.items:
            for model, answer in item.answers.items():
                messages = self.prompts.render(
                    instruction=item.instruction,
                    conversation=[m.model_dump() for m in item.conversation],
                    reference=item.reference if cfg.use_reference else None,
                    category=item.category,
                    checklist=list(item.checklist or ()) if cfg.use_checklist else [],
                    answer=answer,
                    rubric=rubric,
                    reasoning=cfg.reasoning,
                )
                requests.append(
                    JudgeRequest(
                        id=f"{item.id}::{model}",
                        item_id=item.id,
                        messages=messages,
                        sampling=sampling,
                        constraint=constraint,
                        json_schema=schema,
                        meta={"model": model, "category": item.category},
                    )
                )
        return requests

    def parse(self, request: JudgeRequest, response: JudgeResponse) -> dict[str, Any]:
        scale = self.rubric.scale
        structured = parse_json_score(response.text, scale) if request.json_schema else None
        if structured is not None:
            score, offset, feedback = structured
        else:
            (score, offset), feedback = parse_score(response.text, scale), None
        data: dict[str, Any] = {"score": score}
        if feedback is not None:
            data["feedback"] = feedback
        probs = choice_distribution(response, scale)
        if probs is None:
            probs = token_distribution(response, offset, score, scale)
        if probs is not None:
            # JSON object keys are strings: stored as {"1": p, ...}
            data["probs"] = {str(s): round(p, 6) for s, p in probs.items()}
            data["expected"] = round(expected_score(probs), 6)
        return data

    def aggregate(self, verdicts: list[Verdict]) -> Aggregate:
        from harness_plugins.rubric.aggregate import aggregate_rubric  # pandas: only when needed

        return aggregate_rubric(verdicts, self.config, self.rubric)

    @classmethod
    def report_view(cls) -> ReportView:
        from harness_plugins.rubric.report import RubricView

        return RubricView()

    @classmethod
    def calibrator(cls) -> Calibrator:
        from harness_plugins.rubric.calibration import RubricCalibrator

        return RubricCalibrator()

    @classmethod
    def panel_view(cls) -> PanelView:
        from harness_plugins.rubric.panel import RubricPanelView

        return RubricPanelView()

    @classmethod
    def replay_view(cls) -> ReplayView:
        from harness_plugins.rubric.replay import RubricReplayView

        return RubricReplayView()


def load_rubric(path: Path, name: str) -> Rubric:
    """One named rubric from a library file (a YAML mapping name -> {criterion, scores})."""
    try:
        library = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadInput(f"options.rubric_file: cannot read {path.name} ({exc.__class__.__name__})") from None
    if not isinstance(library, dict):
        raise BadInput(f"options.rubric_file: {path.name} must map rubric names to rubrics")
    if name not in library:
        known = ", ".join(sorted(map(str, library))) or "none"
        raise BadInput(f"options.rubric_name: {name!r} is not in {path.name} (known: {known})")
    try:
        return Rubric.model_validate(library[name])
    except ValidationError as exc:
        from harness.tasks import describe_validation_error

        raise BadInput(f"{path.name}: {name}: {describe_validation_error(exc)}") from None
