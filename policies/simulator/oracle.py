"""Ground-truth outcomes of every endpoint for every request, the oracle's choice, and regret.

Realised outcomes are scored with the shared objective (`policies.objective.combine`, the same
formula serving uses on predictions) with the failure term set to 1 for a request that failed
after every fallback: utility = tokens/s weight x speed - usd x cost - latency - ttft - failure.

The oracle knows what each endpoint *would* do with this request at this moment (including the
load it is under in the run being scored) and picks the endpoint whose outcome has the highest
utility. A policy's realised outcome is never better than the best single-endpoint outcome: failed
attempts cost nothing but add time, and time only lowers utility. So regret is >= 0 request by
request, and exactly 0 for the oracle, whose scalar replay path mirrors these vectorised formulas
operation for operation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..objective import Weights, combine
from .world import FAIL_429, FAIL_TIMEOUT, OK, PotentialOutcomes, World

__all__ = ["EndpointOutcomes", "endpoint_outcomes", "outcome_utility", "oracle_utility"]


@dataclass(frozen=True)
class EndpointOutcomes:
    """What each endpoint (columns) would deliver for each request (rows), load included."""

    code: np.ndarray
    ttft_s: np.ndarray
    latency_s: np.ndarray  # end to end on success; time until the error on failure
    tokens_per_s: np.ndarray  # 0 on failure or single-token answers
    cost: np.ndarray  # USD, 0 on failure


def endpoint_outcomes(world: World, potential: PotentialOutcomes, in_flight: np.ndarray,
                      prompt_tokens: np.ndarray, output_tokens: np.ndarray, stream: np.ndarray,
                      timeout_s: float = np.inf) -> EndpointOutcomes:
    """Each endpoint's outcome as a first attempt: load applied, then dispatch's attempt timeout
    (on the first byte for streams, on the last byte otherwise)."""
    load = world.load_factor(in_flight)
    code = np.where(world.over_limit(in_flight), np.int8(FAIL_429), potential.code)
    ok = code == OK
    ttft = potential.ttft_s * load
    decode = potential.decode_s * load
    latency = np.where(ok, ttft + decode, world.failure_time(ttft, code))
    verdict = np.where(ok & stream[:, None], ttft, latency)  # when the timeout stops waiting
    timed_out = verdict > timeout_s
    code = np.where(timed_out, np.int8(FAIL_TIMEOUT), code)
    latency = np.where(timed_out, timeout_s, latency)
    ok = code == OK
    output = output_tokens[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        speed = np.where(ok & (output > 1), output / decode, 0.0)
    cost = np.where(ok, prompt_tokens[:, None] * potential.prompt_price + output * potential.completion_price, 0.0)
    return EndpointOutcomes(code, ttft, latency, speed, cost)


def outcome_utility(weights: Weights, success: np.ndarray, ttft_s: np.ndarray, latency_s: np.ndarray,
                    tokens_per_s: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Utility of realised outcomes; a failed request's TTFT is the time it took to fail."""
    return combine(weights, cost, np.where(success, ttft_s, latency_s), latency_s, tokens_per_s,
                   np.where(success, 0.0, 1.0))


def oracle_utility(weights: Weights, outcomes: EndpointOutcomes) -> tuple[np.ndarray, np.ndarray]:
    """(best utility, best endpoint column) per request."""
    utilities = outcome_utility(weights, outcomes.code == OK, outcomes.ttft_s, outcomes.latency_s,
                                outcomes.tokens_per_s, outcomes.cost)
    best = np.argmax(utilities, axis=1)
    return utilities[np.arange(len(best)), best], best
