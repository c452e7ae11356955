"""Each baseline does what its name promises (the contract suite covers the shared rules)."""
from __future__ import annotations

import numpy as np
import pytest

from policies import Observation, make_policy
from policies.base import Candidate
from policy_world import context_at
from telemetry.snapshot import EndpointStats

CANDIDATES = [Candidate(e, e.split("/")[0], "m", price, price) for e, price in
              [("a/m", 3e-6), ("b/m", 1e-6), ("c/m", 2e-6)]]


def _observe(policy, endpoint_id: str, latency_s: float | None, success: bool = True, output_tokens: int = 0):
    policy.update(Observation(endpoint_id, context_at(0.0), success=success, latency_s=latency_s,
                              output_tokens=output_tokens, error_class=None if success else "timeout"))


def test_uniform_is_uniform():
    assert make_policy("uniform").distribution(CANDIDATES, context_at(0.0)) == pytest.approx(
        {"a/m": 1 / 3, "b/m": 1 / 3, "c/m": 1 / 3})


def test_cheapest_picks_the_lowest_expected_price():
    probabilities = make_policy("cheapest").distribution(CANDIDATES, context_at(0.0))
    assert probabilities == {"a/m": 0.0, "b/m": 1.0, "c/m": 0.0}


def test_cheapest_weighs_prompt_and_completion_prices_by_the_request():
    prompt_heavy = [Candidate("p/m", "p", "m", 1e-6, 1e-5), Candidate("q/m", "q", "m", 5e-6, 1e-6)]
    assert make_policy("cheapest").distribution(prompt_heavy, context_at(0.0, prompt_tokens=10_000, output_tokens=10))["p/m"] == 1.0
    assert make_policy("cheapest").distribution(prompt_heavy, context_at(0.0, prompt_tokens=10, output_tokens=10_000))["q/m"] == 1.0


def test_fastest_uses_live_stats_before_its_own_median():
    policy = make_policy("fastest", window=3)
    for latency in (5.0, 1.0, 1.2, 1.1):  # the window drops the 5.0
        _observe(policy, "a/m", latency)
    _observe(policy, "b/m", 1.5)
    _observe(policy, "c/m", 2.0)
    assert policy.distribution(CANDIDATES, context_at(0.0))["a/m"] == 1.0
    live = {"a/m": EndpointStats("a/m", latency_p50_s=9.0)}
    assert policy.distribution(CANDIDATES, context_at(0.0, stats=live))["b/m"] == 1.0


def test_latency_based_picks_among_the_lowest_within_the_buffer_and_penalises_failures():
    policy = make_policy("latency-based", buffer=0.25)
    _observe(policy, "a/m", 10.0, output_tokens=100)  # 0.1 s per token
    _observe(policy, "b/m", 11.0, output_tokens=100)  # 0.11: within 25 %
    _observe(policy, "c/m", 20.0, output_tokens=100)
    assert policy.distribution(CANDIDATES, context_at(0.0)) == pytest.approx({"a/m": 0.5, "b/m": 0.5, "c/m": 0.0})
    _observe(policy, "a/m", None, success=False)
    assert policy.distribution(CANDIDATES, context_at(0.0))["b/m"] == 1.0


def test_latency_based_tries_unseen_endpoints_first():
    policy = make_policy("latency-based")
    _observe(policy, "a/m", 1.0)
    assert policy.distribution(CANDIDATES, context_at(0.0)) == pytest.approx({"a/m": 0.0, "b/m": 0.5, "c/m": 0.5})


def test_least_busy_follows_in_flight_counts():
    probabilities = make_policy("least-busy").distribution(CANDIDATES, context_at(0.0, in_flight={"a/m": 2, "b/m": 1, "c/m": 1}))
    assert probabilities == {"a/m": 0.0, "b/m": 0.5, "c/m": 0.5}


def test_openrouter_default_deprioritises_recent_outages():
    failures = EndpointStats("b/m", failure_times=(95.0, 96.0, 97.0))
    healthy = make_policy("openrouter").distribution(CANDIDATES, context_at(100.0))
    outage = make_policy("openrouter").distribution(CANDIDATES, context_at(100.0, stats={"b/m": failures}))
    long_after = make_policy("openrouter").distribution(CANDIDATES, context_at(200.0, stats={"b/m": failures}))
    assert healthy["b/m"] > 0.7  # 1/price^2: the cheapest dominates
    assert outage["b/m"] < 0.01
    assert long_after == pytest.approx(healthy)


def test_round_robin_cycles_and_keeps_exact_propensities_with_a_floor():
    policy = make_policy("round-robin", min_prob=0.1)
    seen = []
    for step in range(6):
        probabilities = policy.distribution(CANDIDATES, context_at(float(step)))
        seen.append(max(probabilities, key=probabilities.get))
        assert probabilities[seen[-1]] == pytest.approx(0.8)
        _observe(policy, seen[-1], 1.0)
    assert seen == ["a/m", "b/m", "c/m"] * 2
    assert np.isclose(sum(probabilities.values()), 1.0)
