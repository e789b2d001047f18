"""What LLM calls cost in US dollars: list prices per million tokens of common API models, and the arithmetic.

The table holds the providers' standard (non-batch, no prompt caching) list prices as published on their pricing
pages (see :data:`PRICES_SOURCE`) on the date in :data:`PRICES_AS_OF` (Claude Sonnet 4 / 4.5: prompts of up to 200K
tokens; longer ones cost more). Prices change: a task can set its own with
``llm.options.price: {input: USD_PER_MTOK, output: USD_PER_MTOK}``, which wins over the table. Model ids match by
exact name or as a dated snapshot / ``-latest`` alias of a listed name (``claude-sonnet-4-5-20250929`` is priced as
``claude-sonnet-4-5``). Local, embedded, oracle and fake backends run on local compute and cost $0; an API model
not in the table (or an OpenAI-compatible server of your own) has no price (None). With ``llm.options.batch`` on,
a listed price is halved (:data:`BATCH_DISCOUNT`: both providers' batch APIs cost half the list price); a task's
own ``price`` is taken as given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

PRICES_AS_OF = "2025-11"
PRICES_SOURCE = f"anthropic.com/pricing and openai.com/api/pricing, standard list prices as of {PRICES_AS_OF}"
#: providers whose calls run on this machine (or are simulated): no per-token price
FREE_PROVIDERS = frozenset({"local", "oracle", "fake"})
#: the model each API backend uses when a spec names none (``anthropic`` = ``anthropic:claude-haiku-4-5``); the
#: backends' own ``DEFAULT_MODEL`` (tests check the two agree)
DEFAULT_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4.1-mini"}
#: what the providers' batch APIs (Anthropic Message Batches, the OpenAI Batch API) charge, as a share of list price
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """US dollars per million prompt (input) and completion (output) tokens, and where the figures come from."""

    input_per_mtok: float
    output_per_mtok: float
    source: str = ""

    @property
    def free(self) -> bool:
        return self.input_per_mtok == 0 and self.output_per_mtok == 0

    def describe(self) -> str:
        """E.g. ``$3 / $15 per million input / output tokens``."""
        return f"${_num(self.input_per_mtok)} / ${_num(self.output_per_mtok)} per million input / output tokens"


#: provider -> model -> (input, output) USD per million tokens
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "anthropic": {
        "claude-opus-4-5": (5.0, 25.0),
        "claude-opus-4-1": (15.0, 75.0),
        "claude-opus-4": (15.0, 75.0),
        "claude-opus-4-0": (15.0, 75.0),
        "claude-sonnet-4-5": (3.0, 15.0),
        "claude-sonnet-4": (3.0, 15.0),
        "claude-sonnet-4-0": (3.0, 15.0),
        "claude-3-7-sonnet": (3.0, 15.0),
        "claude-3-5-sonnet": (3.0, 15.0),
        "claude-haiku-4-5": (1.0, 5.0),
        "claude-3-5-haiku": (0.8, 4.0),
        "claude-3-opus": (15.0, 75.0),
        "claude-3-haiku": (0.25, 1.25),
    },
    "openai": {
        "gpt-5": (1.25, 10.0),
        "gpt-5-mini": (0.25, 2.0),
        "gpt-5-nano": (0.05, 0.4),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4.1-mini": (0.4, 1.6),
        "gpt-4.1-nano": (0.1, 0.4),
        "gpt-4o": (2.5, 10.0),
        "gpt-4o-2024-05-13": (5.0, 15.0),  # the first gpt-4o snapshot kept its launch price
        "gpt-4o-mini": (0.15, 0.6),
        "o1": (15.0, 60.0),
        "o3": (2.0, 8.0),
        "o3-mini": (1.1, 4.4),
        "o4-mini": (1.1, 4.4),
        "gpt-4-turbo": (10.0, 30.0),
        "gpt-3.5-turbo": (0.5, 1.5),
    },
}

#: a dated snapshot or alias suffix: -20250929, -2024-08-06, -latest
_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


def listed_price(provider: str, model: str) -> Price | None:
    """The table's price of ``provider``'s ``model`` (exact name first, then the name without a snapshot suffix)."""
    table = PRICES.get(provider, {})
    model = model.strip() or DEFAULT_MODELS.get(provider, "")
    found = table.get(model)
    if found is None and (m := _SNAPSHOT.match(model)):
        found = table.get(m["base"])
    return None if found is None else Price(*found, source=PRICES_SOURCE)


def override_price(value: object) -> Price:
    """The price a task sets in ``llm.options.price`` (``{input: .., output: ..}``, USD per million tokens, >= 0).

    Raises ValueError with a one-line message that says what to write."""
    example = "e.g. price: {input: 3, output: 15} (USD per million tokens)"
    if not isinstance(value, Mapping):
        raise ValueError(f"price must be a mapping with input and output; {example}")
    extra = sorted(str(k) for k in value if k not in ("input", "output"))
    if extra:
        raise ValueError(f"price has unknown key(s) {', '.join(extra)}; give only input and output, {example}")
    numbers: list[float] = []
    for key in ("input", "output"):
        if key not in value:
            raise ValueError(f"price needs {key}; {example}")
        x = value[key]
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not x >= 0 or x == float("inf"):
            raise ValueError(f"price.{key} must be a number >= 0, got {x!r}; {example}")
        numbers.append(float(x))
    return Price(numbers[0], numbers[1], source="llm.options.price")


def price_for(spec: str, options: Mapping[str, object] | None = None) -> Price | None:
    """The price of the calls of an LLM ``spec`` (``provider:model``) with its ``llm.options``: the task's own
    ``price`` when set, $0 for local compute, the table's list price for an API model, else None (unknown)."""
    options = options or {}
    if options.get("price") is not None:
        return override_price(options["price"])
    provider, _, model = spec.partition(":")
    provider = provider.strip()
    if provider in FREE_PROVIDERS:
        return Price(0.0, 0.0, source="local compute")
    if provider == "openai":
        base_url = str(options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "")
        if base_url and "api.openai.com" not in base_url:
            return None  # a server of one's own: no list price
    listed = listed_price(provider, model)
    if listed is None or not options.get("batch"):
        return listed
    return Price(listed.input_per_mtok * BATCH_DISCOUNT, listed.output_per_mtok * BATCH_DISCOUNT,
                 source=f"{listed.source}, at the batch discount ({BATCH_DISCOUNT:g} of list)")  # fmt: skip


def cost_usd(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    """What ``prompt_tokens`` in and ``completion_tokens`` out cost at ``price``, in US dollars."""
    return (prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok) / 1_000_000


def format_usd(amount: float | None) -> str:
    """Dollars for tables and messages: ``–`` when unknown, ``$0`` for nothing, cents (or finer below a cent)."""
    if amount is None:
        return "–"
    if amount == 0:
        return "$0"
    if amount < 0.01:
        return f"${amount:.4f}"
    return f"${amount:,.2f}"


def _num(x: float) -> str:
    return f"{x:g}"
