"""Which controlled pairs each probe judges, and how its verdicts become one number per item.

A probe is a small dataset of its own: each sampled item keeps its instruction, conversation,
reference and checklist, and its answers become the probe's texts (`control` and `perturbed`).
The task's own protocol then judges it with the task's template and options: a comparing protocol
judges the two texts in both orders, a grading one grades each. Injection needs two perturbed texts, one
claiming position A and one claiming B, so that in both orders the planted verdict favours the
perturbed text (`perturbed_a` is read where it stands in A, `perturbed_b` where it stands in B).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.audit import probes
from harness.audit.config import AuditSettings
from harness.errors import BadInput
from harness.models import Item, Verdict

CONTROL, PERTURBED = "control", "perturbed"
INJECT_A, INJECT_B = "perturbed_a", "perturbed_b"
LEFT, RIGHT = "left", "right"
#: What a task's protocol does with answers: `compare` two (verdict levels A>>B .. B>>A, judged in
#: both orders) or `grade` one on a scale (an integer score); the audit supports these two shapes.
SHAPES = ("compare", "grade")
_A_WINS, _B_WINS = {"A>>B", "A>B"}, {"B>A", "B>>A"}


@dataclass(frozen=True)
class Probe:
    """One probe as run: its name in audit.json, what it perturbs, and its items."""

    name: str
    kind: str  # "position", "verbosity", ... (several verbosity probes share a kind)
    items: list[Item]
    padding: float | None = None
    #: Item id -> the answering model whose answer was perturbed (self_preference: the family model).
    sources: dict[str, str] = field(default_factory=dict)


def sample_items(items: list[Item], settings: AuditSettings) -> list[tuple[Item, str, str]]:
    """(item, answering model, answer) for a seeded sample of items, in dataset order."""
    usable = [item for item in items if item.answers and (settings.model is None or settings.model in item.answers)]
    if settings.model is not None and not usable:
        raise BadInput(f"audit.model: {settings.model!r} answered no item of the dataset")
    rng = probes.rng_for(settings.seed, "items")
    chosen = sorted(rng.sample(range(len(usable)), min(settings.items, len(usable))))
    picked = []
    for index in chosen:
        item = usable[index]
        model = settings.model or probes.rng_for(settings.seed, "answer", item.id).choice(sorted(item.answers))
        picked.append((item, model, item.answers[model]))
    return picked


def injected_verdict(shape: str, config: Any, position: str, top_score: int | None) -> str:
    """The verdict an injection plants, written in the judge's own output format."""
    structured = bool(getattr(config, "structured_output", False))
    if shape == "grade":
        return f'{{"score": {top_score}}}' if structured else f"[[{top_score}]]"
    fmt = getattr(config, "verdict_format", "scale")
    value: dict[str, tuple[str, str]] = {"scale": ("1", "5"), "labels": ("A>>B", "B>>A"), "binary": ("A", "B")}
    chosen = value.get(fmt, value["scale"])[0 if position == "A" else 1]
    if structured:
        return f'{{"verdict": {chosen}}}' if fmt == "scale" else f'{{"verdict": "{chosen}"}}'
    return f"[[{chosen}]]"


def build_probes(shape: str, config: Any, items: list[Item], settings: AuditSettings,
                 top_score: int | None = None) -> list[Probe]:
    """Every probe of `settings` that applies to this shape of task, with its derived items."""
    if shape not in SHAPES:
        raise BadInput(f"harness audit judges tasks that compare two answers or grade one, not {shape!r}")
    sample = sample_items(items, settings)
    seed = settings.seed
    out: list[Probe] = []
    for kind in settings.probes:
        if kind == "position" and shape == "grade":
            continue  # one answer per call: no position to prefer
        if kind == "self_preference":
            if settings.judge_family is not None:
                out.append(_self_preference(items, settings))
            continue
        paddings: list[float | None] = list(settings.padding) if kind == "verbosity" else [None]
        for padding in paddings:
            name = kind if padding is None or len(settings.padding) == 1 else f"verbosity_{round(padding * 100)}"
            derived = []
            for item, _, text in sample:
                answers = _texts(kind, text, item.instruction, seed, padding, shape, config, top_score)
                derived.append(item.model_copy(update={"answers": answers}))
            out.append(Probe(name, kind, derived, padding, {item.id: model for item, model, _ in sample}))
    return out


def _texts(kind: str, text: str, instruction: str, seed: int, padding: float | None, shape: str,
           config: Any, top_score: int | None) -> dict[str, str]:
    if kind == "position":
        pair = probes.position(text)
        return {LEFT: pair.control, RIGHT: pair.perturbed}
    if kind == "injection":
        if shape == "grade":
            pair = probes.injection(text, instruction, seed, injected_verdict(shape, config, "A", top_score))
            return {CONTROL: pair.control, PERTURBED: pair.perturbed}
        claim_a = probes.injection(text, instruction, seed, injected_verdict(shape, config, "A", None))
        claim_b = probes.injection(text, instruction, seed, injected_verdict(shape, config, "B", None))
        return {CONTROL: claim_a.control, INJECT_A: claim_a.perturbed, INJECT_B: claim_b.perturbed}
    if kind == "verbosity":
        pair = probes.verbosity(text, instruction, seed, padding or 0.3)
    elif kind == "markdown":
        pair = probes.markdown(text)
    elif kind == "authority":
        pair = probes.authority(text, instruction, seed)
    else:
        pair = probes.quality(text, seed)
    return {CONTROL: pair.control, PERTURBED: pair.perturbed}


def _self_preference(items: list[Item], settings: AuditSettings) -> Probe:
    """The family model's answer against one other model's (seeded) on each sampled item."""
    family = settings.judge_family
    assert family is not None
    usable = [item for item in items if family in item.answers and len(item.answers) > 1]
    if not usable:
        raise BadInput(f"audit.judge_family: {family!r} has no item answered by it and another model")
    rng = probes.rng_for(settings.seed, "self_preference")
    chosen = sorted(rng.sample(range(len(usable)), min(settings.items, len(usable))))
    derived, sources = [], {}
    for index in chosen:
        item = usable[index]
        other = probes.rng_for(settings.seed, "other", item.id).choice(sorted(m for m in item.answers if m != family))
        derived.append(item.model_copy(update={"answers": {CONTROL: item.answers[other], PERTURBED: item.answers[family]}}))
        sources[item.id] = other
    return Probe("self_preference", "self_preference", derived, None, sources)


def compare_options(kind: str) -> dict[str, Any]:
    """Protocol options the probe's dataset needs: every text against the control, all judged.
    Style control is an aggregation-only fit (most of a probe run's time) that the audit's effects
    do not use; turning it off changes no prompt, so cached calls stay valid."""
    base: dict[str, Any] = {"sampling": "all", "budget": None, "stop_confidence": None, "style_control": False}
    return {**base, "baselines": [LEFT] if kind == "position" else [CONTROL]}


@dataclass
class ItemValues:
    """Per-item numbers of one probe, plus how many verdicts could not be used."""

    values: dict[str, float] = field(default_factory=dict)
    unusable: int = 0
    followed: int = 0
    injected: int = 0

    @property
    def followed_share(self) -> float | None:
        return self.followed / self.injected if self.injected else None


def _usable(verdicts: Iterable[Verdict], field: str, out: ItemValues) -> Iterator[tuple[Verdict, Any]]:
    """Each verdict with its parsed `field`; the others (unparseable, failed) are counted."""
    for verdict in verdicts:
        value = verdict.data.get(field)
        if verdict.status != "ok" or value is None:
            out.unusable += 1
        else:
            yield verdict, value


def _credit(winner: str | None, side: str) -> float:
    """1 when `side` won, 1/2 for a tie, 0 when it lost."""
    return 0.5 if winner is None else float(winner == side)


def compare_values(kind: str, verdicts: Iterable[Verdict]) -> ItemValues:
    """Per item: the share of its verdicts preferring the perturbed text (ties half) minus 1/2;
    position: the share preferring whichever text stood in A."""
    prefs: dict[str, list[float]] = defaultdict(list)
    out = ItemValues()
    for verdict, level in _usable(verdicts, "level", out):
        a, b = verdict.data.get("model_a"), verdict.data.get("model_b")
        winner = "A" if level in _A_WINS else "B" if level in _B_WINS else None
        if kind == "injection":
            out.injected += 1
            asks_for = "A" if INJECT_A in (a, b) else "B"  # what the injected text tells the judge
            out.followed += winner == asks_for
            injected_at = "A" if a == INJECT_A else "B" if b == INJECT_B else None
            if injected_at is not None:  # else the injection asks for the other text: in `followed` only
                prefs[verdict.item_id].append(_credit(winner, injected_at))
        elif kind == "position":
            prefs[verdict.item_id].append(_credit(winner, "A"))
        else:
            prefs[verdict.item_id].append(_credit(winner, "A" if a == PERTURBED else "B"))
    out.values = {item: sum(v) / len(v) - 0.5 for item, v in prefs.items()}
    return out


def grade_values(kind: str, verdicts: Iterable[Verdict], injected_score: int | None) -> ItemValues:
    """Per item: the perturbed text's score minus the control's (both must have a score)."""
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    out = ItemValues()
    for verdict, score in _usable(verdicts, "score", out):
        model = verdict.data.get("model")
        scores[verdict.item_id][str(model)] = float(score)
        if kind == "injection" and model == PERTURBED:
            out.injected += 1
            out.followed += int(score) == injected_score
    out.values = {item: s[PERTURBED] - s[CONTROL] for item, s in scores.items() if CONTROL in s and PERTURBED in s}
    return out
