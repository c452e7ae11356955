"""The policy contract shared by serving, the simulator and off-policy evaluation.

A policy turns the candidate endpoints of one request into probabilities; one pure sampler
(`policies.sampler`) turns those into an attempt order and the chosen endpoint's propensity.
Policies do no I/O, read no clock and use no global randomness: time arrives in the context,
randomness through a seeded generator owned by the caller.
"""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

__all__ = ["Candidate", "RequestFeatures", "RoutingContext", "Observation", "Policy", "EMPTY_STATS"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One provider endpoint able to serve the request (prices in USD per token)."""

    endpoint_id: str  # "provider/author/model", unique across the catalog
    provider: str
    model: str
    prompt_price: float
    completion_price: float
    context_length: int = 0
    max_output_tokens: int | None = None
    quantization: str | None = None
    request_price: float = 0.0  # flat per-request fee, if any

    def expected_cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return self.request_price + prompt_tokens * self.prompt_price + output_tokens * self.completion_price


@dataclass(frozen=True, slots=True)
class RequestFeatures:
    """What a policy may know about a request before it is sent."""

    prompt_tokens: int = 0
    max_tokens: int | None = None  # requested output cap; None = provider default
    expected_output_tokens: int = 256  # best guess of output length (max_tokens or a prior)
    stream: bool = False
    has_tools: bool = False
    hour_of_day: int = 0

    def as_vector(self) -> tuple[float, ...]:
        """Numeric encoding used by contextual and regression policies (bias term first)."""
        return (
            1.0,
            self.prompt_tokens / 1000.0,
            self.expected_output_tokens / 1000.0,
            1.0 if self.stream else 0.0,
            1.0 if self.has_tools else 0.0,
            self.hour_of_day / 23.0,
        )


EMPTY_STATS: Mapping[str, Any] = {}  # read-only by convention


@dataclass(frozen=True, slots=True)
class RoutingContext:
    """Everything a policy reads besides the candidates: features, time, live stats, the sort."""

    features: RequestFeatures = field(default_factory=RequestFeatures)
    now: float = 0.0  # unix seconds, supplied by the caller (serving clock or simulated clock)
    stats: Mapping[str, Any] = field(default_factory=dict)  # endpoint_id -> telemetry.snapshot.EndpointStats
    sort: str | None = None  # "price" | "throughput" | "latency" | None (learned trade-off)
    in_flight: Mapping[str, int] = field(default_factory=dict)  # endpoint_id -> requests currently in flight


@dataclass(frozen=True, slots=True)
class Observation:
    """The outcome of one attempt, fed back through `Policy.update`."""

    endpoint_id: str
    context: RoutingContext
    success: bool
    error_class: str | None = None  # timeout|connect|429|5xx|bad-response|mid-stream|client-cancel|user
    ttft_s: float | None = None
    latency_s: float | None = None
    output_tokens: int = 0
    tokens_per_s: float | None = None
    cost: float = 0.0
    propensity: float = 1.0
    now: float = 0.0


class Policy:
    """Base class: subclasses set `name` and implement `distribution`.

    scikit-learn rules: `__init__` only stores its keyword parameters, learned state ends in `_`,
    `fit` returns self, `clone()` gives an unfitted copy with the same parameters.
    """

    name: ClassVar[str] = "base"
    version: str = "0"
    # True for policies that learn only through `fit` (e.g. regression): serving and the simulator
    # refit them from recorded outcomes on a schedule.
    needs_refit: ClassVar[bool] = False
    # False for policies that never read `context.stats` or `context.in_flight`: the simulator then
    # skips maintaining them for the run.
    reads_live_stats: ClassVar[bool] = True

    def distribution(self, candidates: Sequence[Candidate], context: RoutingContext) -> dict[str, float]:
        raise NotImplementedError

    def update(self, observation: Observation) -> None:  # stateless policies learn nothing
        return None

    @property
    def learns_online(self) -> bool:
        """Whether `update` changes the policy (serving must not replace such a policy by a refit)."""
        return type(self).update is not Policy.update

    def fit(self, observations: Sequence[Observation]) -> "Policy":
        for observation in observations:
            self.update(observation)
        return self

    def get_params(self) -> dict[str, Any]:
        params = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name != "self" and hasattr(self, name):
                params[name] = getattr(self, name)
        return params

    def clone(self) -> "Policy":
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
