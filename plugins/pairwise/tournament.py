"""`sampling: tournament` (Varco Arena): one seeded single-elimination bracket per item.

Every bracketed item gets its own random seeding of the models that answered it (a generator
seeded by the run's seed and the item's index), so matchups vary between items and stronger
models play more matches. When the number of entrants is not a power of two, the first entrants
of the seeding get a bye into the second round. Each match is one (item, model pair) comparison,
judged in both answer orders; a match goes to the model that wins more of its two verdicts (the
parsed levels, "slightly" and "much" alike; ties and invalid verdicts count for nobody). A drawn
match (one order each, two ties, or nothing readable) is decided by a seeded coin: a generator
seeded by (seed, item, round, match), so it never depends on other items' results and a resumed
run tosses it the same way.

Matches are decided on the parsed levels only, not on aggregation options (length rule, strong
weight, soft verdicts), so re-aggregating a run with other options never changes which matches
were played. A match with a verdict still missing or failed holds its item's bracket where it
is (the run ends incomplete; started again, the call is retried and the bracket continues as an
uninterrupted run's would). The brackets of all items advance together, one round at a time, so
a run of M models takes ceil(log2 M) rounds and M - 1 matches (2(M - 1) calls) per item.

`budget` is the number of items bracketed: a whole number, or a fraction of the items; the
items are taken in a seeded order, so a larger budget keeps the smaller one's brackets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.stats.preference import A_WINS, B_WINS

#: (item index, model, other model): one match; its result is asked as the canonical pair's cell.
Match = tuple[int, str, str]
#: A match's margin for its first model (wins minus losses over the two orders), or None while a
#: verdict is missing or failed.
Outcome = Callable[[int, str, str], float | None]


def match_margin(verdicts: Sequence[Any], model: str) -> float | None:
    """Wins minus losses of `model` over a match's verdicts (both orders, from the parsed levels);
    None when a verdict is missing or failed. Invalid verdicts and ties count for nobody."""
    margin = 0.0
    for v in verdicts:
        if v is None or v.status == "failed":
            return None
        if v.status != "ok":
            continue
        level = v.data["level"]
        winner = v.data["model_a"] if level in A_WINS else v.data["model_b"] if level in B_WINS else None
        if winner is not None:
            margin += 1.0 if winner == model else -1.0
    return margin


def next_power_of_two(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def resolve_items(budget: int | float | None, n_items: int) -> int:
    """How many items a tournament budget brackets: a whole number, or a fraction of the items."""
    if budget is None:
        return n_items
    if isinstance(budget, float):
        return min(n_items, max(1, math.ceil(budget * n_items)))
    return min(n_items, budget)


@dataclass
class Bracket:
    """One item's bracket: the entrants still in, the matches of the current round."""

    item: int
    entrants: list[str]
    round: int = 0
    matches: list[tuple[str, str]] = field(default_factory=list)
    byes: list[str] = field(default_factory=list)
    champion: str | None = None

    def open_round(self) -> list[Match]:
        """The current round's matches; the first round gives the leading entrants byes."""
        if len(self.entrants) < 2:
            self.champion = self.entrants[0] if self.entrants else None
            self.matches = []
            return []
        free = next_power_of_two(len(self.entrants)) - len(self.entrants) if self.round == 0 else 0
        self.byes = self.entrants[:free]
        playing = self.entrants[free:]
        self.matches = [(playing[j], playing[j + 1]) for j in range(0, len(playing), 2)]
        return [(self.item, x, y) for x, y in self.matches]


class TournamentPlan:
    """The brackets of one run under `sampling: tournament`."""

    kind = "tournament"

    def __init__(self, answered: Sequence[Sequence[str]], *, budget: int | float | None, seed: int):
        """`answered[i]`: the models that answered item i, in the run's model order."""
        self.seed = seed
        self.budget = budget
        rng = np.random.default_rng([seed, 7])
        order = rng.permutation(len(answered))
        self.target = resolve_items(budget, len(answered))
        chosen = sorted(int(i) for i in order[: self.target])
        self.brackets = []
        for i in chosen:
            models = list(answered[i])
            seeding = np.random.default_rng([seed, i]).permutation(len(models))
            self.brackets.append(Bracket(i, [models[int(j)] for j in seeding]))
        self.full_calls = sum(len(a) * (len(a) - 1) for a in answered)  # every pair, both orders
        self.planned_matches = sum(max(0, len(b.entrants) - 1) for b in self.brackets)
        self.matches = 0
        self.drawn = 0
        self.rounds = 0
        self.played: dict[str, int] = {}
        self.won: dict[str, int] = {}
        self.stopped_by: str | None = None

    def first_round(self) -> list[Match]:
        return self._collect([b.open_round() for b in self.brackets])

    def next_round(self, outcome: Outcome) -> list[Match]:
        """Decide every bracket whose current matches all have their verdicts, and open its next
        round; brackets waiting for a verdict stay where they are. [] when nothing can advance."""
        opened = []
        for b in self.brackets:
            if not b.matches:
                continue
            found = [outcome(b.item, x, y) for x, y in b.matches]
            margins = [m for m in found if m is not None]
            if len(margins) < len(found):
                continue
            winners = [self._decide(b, j, x, y, m) for j, ((x, y), m) in enumerate(zip(b.matches, margins))]
            b.entrants = b.byes + winners
            b.byes = []
            b.round += 1
            opened.append(b.open_round())
        return self._collect(opened)

    def _decide(self, b: Bracket, j: int, x: str, y: str, margin: float) -> str:
        if margin == 0.0:
            self.drawn += 1
            coin = np.random.default_rng([self.seed, b.item, b.round, j]).random()
            winner = x if coin < 0.5 else y
        else:
            winner = x if margin > 0 else y
        self.won[winner] = self.won.get(winner, 0) + 1
        return winner

    def _collect(self, rounds: list[list[Match]]) -> list[Match]:
        matches = [m for r in rounds for m in r]
        if matches:
            self.rounds = max(self.rounds, max(b.round for b in self.brackets) + 1)
            self.matches += len(matches)
            for _, x, y in matches:
                self.played[x] = self.played.get(x, 0) + 1
                self.played[y] = self.played.get(y, 0) + 1
        elif all(not b.matches for b in self.brackets):
            self.stopped_by = "brackets finished"
        return matches

    def facts(self) -> dict[str, Any]:
        """Matches, calls and what the full all-pairs design would have cost, for run.json."""
        calls = 2 * self.matches
        finished = sum(b.champion is not None for b in self.brackets)
        return {
            "sampling": "tournament",
            "budget": self.budget,
            "items_bracketed": len(self.brackets),
            "brackets_finished": finished,
            "seed": self.seed,
            "rounds": self.rounds,
            "matches": self.matches,
            "planned_matches": self.planned_matches,
            "drawn_matches": self.drawn,
            "draw_rule": "seeded coin",
            "calls": calls,
            "planned_calls": 2 * self.planned_matches,
            "full_design_calls": self.full_calls,
            "calls_saved": self.full_calls - calls,
            "fraction_of_full_design": round(calls / self.full_calls, 6) if self.full_calls else None,
            "stopped_by": self.stopped_by,
            "matches_per_model": dict(sorted(self.played.items())),
            "match_wins_per_model": dict(sorted(self.won.items())),
        }
