"""The one objective: predicted price, speed and reliability of an endpoint -> a utility.

Serving, the simulator and off-policy evaluation all score endpoints with `utility`, so a policy
judged offline is judged by the same trade-off it serves with.

Units
-----
* price: USD for this request = `candidate.expected_cost(prompt_tokens, expected_output_tokens)`
* ttft_s, latency_s: seconds (latency is end-to-end, first byte sent to last byte received)
* tokens_per_s: output tokens per second during decoding
* failure_prob: probability in [0, 1] that the attempt fails (any counted error class)
* utility: higher is better, in *points*; with the default weights one point is one second of
  end-to-end latency, and a dollar is worth 1000 points (a second of waiting valued at $0.001).

`combine` is the formula itself and accepts numpy arrays (it only uses arithmetic), which lets
Monte-Carlo and batch callers score thousands of draws in one call; `utility` is the scalar entry
point most callers want.

>>> from policies.base import Candidate, RoutingContext, RequestFeatures
>>> c = Candidate("p/m", "p", "m", prompt_price=1e-6, completion_price=2e-6)
>>> ctx = RoutingContext(features=RequestFeatures(prompt_tokens=1000, expected_output_tokens=500))
>>> round(utility(c, ctx, Prediction(ttft_s=0.5, latency_s=3.0, tokens_per_s=200.0, failure_prob=0.0)), 3)
-5.25
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from .base import Candidate, Observation, RequestFeatures, RoutingContext

__all__ = ["Prediction", "Weights", "DEFAULT_WEIGHTS", "SORT_WEIGHTS", "weights_for", "expected_price",
           "combine", "scalar_combiner", "utility", "realised_utility"]


@dataclass(frozen=True, slots=True)
class Prediction:
    """Predicted outcome of sending the request to one endpoint (units in the module docstring)."""

    ttft_s: float
    latency_s: float
    tokens_per_s: float
    failure_prob: float

    @classmethod
    def from_speed(cls, ttft_s: float, tokens_per_s: float, output_tokens: int, failure_prob: float) -> "Prediction":
        """End-to-end latency as TTFT plus decode time, the shape llmperf measurements follow."""
        return cls(ttft_s, ttft_s + output_tokens / max(tokens_per_s, 1e-9), tokens_per_s, failure_prob)


@dataclass(frozen=True, slots=True)
class Weights:
    """Utility points per unit of each predicted figure (price and times count against)."""

    usd: float = 1000.0  # points lost per USD of expected price
    latency_s: float = 1.0  # points lost per second of end-to-end latency
    ttft_s: float = 0.5  # extra points lost per second to the first token (streaming users feel it)
    tokens_per_s: float = 0.0  # points gained per output token/s of decode speed
    failure: float = 10.0  # points lost per unit failure probability (a retry's wasted time)


DEFAULT_WEIGHTS = Weights()

# The request's `sort` (or `:floor` -> "price", `:nitro` -> "throughput") picks one of these. Each
# keeps small weights on the other figures so that ties on the main one break sensibly.
SORT_WEIGHTS: dict[str, Weights] = {
    "price": Weights(usd=1e6, latency_s=0.01, ttft_s=0.0, tokens_per_s=0.0, failure=0.1),
    "throughput": Weights(usd=1.0, latency_s=0.0, ttft_s=0.0, tokens_per_s=1.0, failure=10.0),
    "latency": Weights(usd=1.0, latency_s=0.1, ttft_s=1.0, tokens_per_s=0.0, failure=5.0),
}


def weights_for(sort: str | None, default: Weights = DEFAULT_WEIGHTS) -> Weights:
    """Weights for a request's `sort`; `None` means the configured default trade-off."""
    if sort is None:
        return default
    try:
        return SORT_WEIGHTS[sort]
    except KeyError:
        raise ValueError(f"unknown sort {sort!r}; valid: {', '.join(sorted(SORT_WEIGHTS))} or None") from None


def expected_price(candidate: Candidate, features: RequestFeatures) -> float:
    """USD this request is expected to cost on `candidate` (prompt as sent, output as expected)."""
    return candidate.expected_cost(features.prompt_tokens, features.expected_output_tokens)


def combine(weights: Weights, price_usd: Any, ttft_s: Any, latency_s: Any, tokens_per_s: Any, failure_prob: Any) -> Any:
    """The formula: floats or broadcastable numpy arrays in, utility points out.

    Terms with a zero weight are skipped, which saves array passes on the request path and keeps
    an unknown (inf/nan) figure from poisoning a utility that does not weigh it.
    """
    total = -weights.usd * price_usd
    if weights.latency_s:
        total = total - weights.latency_s * latency_s
    if weights.ttft_s:
        total = total - weights.ttft_s * ttft_s
    if weights.tokens_per_s:
        total = total + weights.tokens_per_s * tokens_per_s
    if weights.failure:
        total = total - weights.failure * failure_prob
    return total


def scalar_combiner(weights: Weights) -> Callable[[float, float, float, float, float], float]:
    """`partial(combine, weights)` for plain floats, as a single expression when the weights allow
    (the same operations in the same order, so the same floats): a policy scoring every candidate
    of every request in Python calls it often enough for `combine`'s tests of the weights to show.
    """
    kept = _SCALAR_COMBINERS.get(id(weights))  # by identity: hashing the weights costs as much as combine
    if kept is not None:
        return kept[1]
    usd, latency, ttft, failure = weights.usd, weights.latency_s, weights.ttft_s, weights.failure
    if latency and ttft and failure and not weights.tokens_per_s:  # the default trade-off's terms
        def combined(price_usd: float, ttft_s: float, latency_s: float, tokens_per_s: float,
                     failure_prob: float) -> float:
            return -usd * price_usd - latency * latency_s - ttft * ttft_s - failure * failure_prob
    else:
        combined = partial(combine, weights)
    if len(_SCALAR_COMBINERS) >= 64:
        _SCALAR_COMBINERS.clear()
    _SCALAR_COMBINERS[id(weights)] = (weights, combined)  # the weights kept alive, so their id stays theirs
    return combined


_SCALAR_COMBINERS: dict[int, tuple[Weights, Callable[..., float]]] = {}


def utility(candidate: Candidate, context: RoutingContext, prediction: Prediction,
            default: Weights = DEFAULT_WEIGHTS) -> float:
    """Utility of sending this request to `candidate`, given what is predicted for it.

    The request's `sort` chooses the trade-off; without one, `default` (the configured weights).
    """
    chosen = weights_for(context.sort, default)
    price = expected_price(candidate, context.features)
    return float(combine(chosen, price, prediction.ttft_s, prediction.latency_s, prediction.tokens_per_s,
                         prediction.failure_prob))


def realised_utility(observation: Observation, default: Weights = DEFAULT_WEIGHTS) -> float:
    """Utility of what actually happened on one attempt: the reward for bandits and OPE.

    Billed cost instead of expected price; a failure counts fully (failure term 1) and its TTFT is
    the time it took to fail, as the simulator scores realised outcomes (`simulator.oracle`).
    Unrecorded times count as 0 (nothing was waited for that we know of).
    """
    latency = observation.latency_s or 0.0
    ttft = (observation.ttft_s if observation.ttft_s is not None else latency) if observation.success else latency
    return float(combine(weights_for(observation.context.sort, default), observation.cost, ttft, latency,
                         observation.tokens_per_s or 0.0, 0.0 if observation.success else 1.0))
