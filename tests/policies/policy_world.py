"""A tiny seeded world of fake endpoints for driving policies in tests (not the full simulator)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
from policies.sampler import sample_order


@dataclass
class FakeEndpoint:
    endpoint_id: str
    ttft_s: float
    tokens_per_s: float
    failure_prob: float = 0.0
    price_per_token: float = 1e-6

    @property
    def candidate(self) -> Candidate:
        provider = self.endpoint_id.split("/")[0]
        return Candidate(self.endpoint_id, provider, "m", self.price_per_token, self.price_per_token)

    def outcome(self, context: RoutingContext, rng: np.random.Generator, noise_sd: float = 0.1) -> Observation:
        if rng.random() < self.failure_prob:
            return Observation(self.endpoint_id, context, success=False, error_class="5xx", now=context.now)
        ttft = self.ttft_s * math.exp(noise_sd * rng.standard_normal())
        tps = self.tokens_per_s * math.exp(noise_sd * rng.standard_normal())
        tokens = context.features.expected_output_tokens
        return Observation(self.endpoint_id, context, success=True, ttft_s=ttft, latency_s=ttft + tokens / tps,
                           output_tokens=tokens, tokens_per_s=tps, now=context.now)


def context_at(now: float, output_tokens: int = 200, prompt_tokens: int = 500, **kwargs) -> RoutingContext:
    features = RequestFeatures(prompt_tokens=prompt_tokens, expected_output_tokens=output_tokens)
    return RoutingContext(features=features, now=now, **kwargs)


def run(policy, endpoints: dict[str, FakeEndpoint], steps: int, start: float, rng: np.random.Generator,
        output_tokens: int = 200) -> list[str]:
    """Route `steps` requests one second apart, feeding each first attempt's outcome back."""
    candidates = [e.candidate for e in endpoints.values()]
    chosen = []
    for step in range(steps):
        context = context_at(start + step, output_tokens)
        order, _ = sample_order(policy.distribution(candidates, context), rng)
        policy.update(endpoints[order[0]].outcome(context, rng))
        chosen.append(order[0])
    return chosen


def history(endpoints: list[FakeEndpoint], n: int, rng: np.random.Generator, start: float = 0.0,
            output_range: tuple[int, int] = (200, 200)) -> list[Observation]:
    """`n` observations spread over the endpoints in turn, output lengths uniform in `output_range`."""
    observations = []
    for i in range(n):
        endpoint = endpoints[i % len(endpoints)]
        context = context_at(start + i, int(rng.integers(output_range[0], output_range[1] + 1)))
        observations.append(endpoint.outcome(context, rng))
    return observations
