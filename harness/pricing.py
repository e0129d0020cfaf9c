"""What judge calls cost in money, and a spending cap that stops a run before it is exceeded.

Prices are the user's: a small YAML or JSON file mapping a model name to US dollars per million
input and output tokens. The harness ships no prices, because a wrong default is worse than
none (they change, and differ by provider, region and tier).

    gpt-4o-mini: {input: 0.15, output: 0.60}
    openai:my-judge: {input: 1.0, output: 2.0}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1e6


def load_prices(path: str | Path) -> dict[str, Price]:
    """Read a price table; every entry needs non-negative `input` and `output` (USD per 1M tokens)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"--prices {path}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError:
        raise BadInput(f"--prices {path}: not valid YAML or JSON") from None
    if not isinstance(data, dict) or not data:
        raise BadInput(f"--prices {path}: must map model names to {{input: USD, output: USD}} per 1M tokens")
    prices: dict[str, Price] = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != {"input", "output"}:
            raise BadInput(f"--prices {path}: {model}: needs exactly `input` and `output` (USD per 1M tokens)")
        values = [entry["input"], entry["output"]]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in values):
            raise BadInput(f"--prices {path}: {model}: prices must be non-negative numbers")
        prices[str(model)] = Price(float(values[0]), float(values[1]))
    return prices


def price_for(prices: dict[str, Price], label: str, model: str | None) -> Price | None:
    """The judge's price: by its full spec (`openai:gpt-4o`) first, then by the model name."""
    return prices.get(label) or (prices.get(model) if model else None)


class SpendingCap:
    """Money spent in this invocation and reserved for calls in flight, against `--max-cost`.

    A call reserves its worst case (estimated prompt + `max_tokens`) before it starts and settles
    at its real usage when it ends, so the cap is only passed when a prompt is underestimated.
    """

    def __init__(self, price: Price, max_cost: float | None):
        self.price = price
        self.max_cost = max_cost
        self.spent = 0.0
        self.reserved = 0.0

    def allows(self, tokens_in: int, tokens_out: int) -> bool:
        """Whether a new call of this worst case fits under the cap."""
        if self.max_cost is None:
            return True
        return self.spent + self.reserved + self.price.cost(tokens_in, tokens_out) <= self.max_cost

    def reserve(self, tokens_in: int, tokens_out: int) -> float:
        amount = self.price.cost(tokens_in, tokens_out)
        self.reserved += amount
        return amount

    def settle(self, reserved: float, tokens_in: int, tokens_out: int) -> None:
        self.reserved = max(0.0, self.reserved - reserved)
        self.spent += self.price.cost(tokens_in, tokens_out)


def describe_cost(price: Price | None, tokens_in: int, tokens_out: int) -> dict[str, Any] | None:
    if price is None:
        return None
    return {"usd": round(price.cost(tokens_in, tokens_out), 6),
            "usd_per_1m_input": price.input, "usd_per_1m_output": price.output}
