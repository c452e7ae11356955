"""Learning behaviour: bandits follow a provider that fails and recovers; regression learns crossovers."""
from __future__ import annotations

import numpy as np
import pytest

from policies import make_policy, sample_order
from telemetry.snapshot import EndpointStats
from policy_world import FakeEndpoint, context_at, history, run


def _world(failing_prob: float) -> dict[str, FakeEndpoint]:
    endpoints = [
        FakeEndpoint("best/m", ttft_s=0.3, tokens_per_s=120.0, failure_prob=failing_prob),
        FakeEndpoint("okay/m", ttft_s=0.9, tokens_per_s=60.0, failure_prob=0.02),
        FakeEndpoint("poor/m", ttft_s=1.5, tokens_per_s=35.0, failure_prob=0.05),
    ]
    return {e.endpoint_id: e for e in endpoints}


def _share(chosen: list[str], endpoint_id: str) -> float:
    return chosen.count(endpoint_id) / len(chosen)


@pytest.mark.parametrize("name, params, recovers", [
    ("thompson", {"half_life_s": 60.0, "seed": 1}, True),
    ("discounted-ucb", {"half_life_s": 60.0}, True),
    ("linucb", {}, False),  # no forgetting: it moves away, but is not expected to come back quickly
])
def test_bandit_leaves_a_failing_endpoint_and_returns_after_it_recovers(name, params, recovers):
    policy = make_policy(name, min_prob=0.01, **params)
    rng = np.random.default_rng(7)

    healthy = run(policy, _world(0.01), steps=300, start=0.0, rng=rng)
    assert _share(healthy[-100:], "best/m") > 0.7

    failing = run(policy, _world(1.0), steps=300, start=300.0, rng=rng)
    assert _share(failing[-100:], "best/m") < 0.1

    if recovers:
        recovered = run(policy, _world(0.01), steps=500, start=600.0, rng=rng)
        assert _share(recovered[-100:], "best/m") > 0.7


def test_without_forgetting_thompson_is_slow_to_return():
    """The recovery above is owed to discounting: the same run without it stays away longer."""
    rng = np.random.default_rng(7)
    policy = make_policy("thompson", min_prob=0.01, seed=1, half_life_s=None)
    run(policy, _world(0.01), steps=300, start=0.0, rng=rng)
    run(policy, _world(1.0), steps=300, start=300.0, rng=rng)
    recovered = run(policy, _world(0.01), steps=500, start=600.0, rng=rng)
    assert _share(recovered[:200], "best/m") < 0.5


QUICK_START = FakeEndpoint("quickstart/m", ttft_s=0.2, tokens_per_s=20.0)  # short answers: 10 tok in 0.7 s
FAST_DECODE = FakeEndpoint("fastdecode/m", ttft_s=1.5, tokens_per_s=150.0)  # long answers: 1500 tok in 11.5 s


def test_regression_learns_which_endpoint_is_faster_for_short_and_long_outputs():
    observations = history([QUICK_START, FAST_DECODE], 600, np.random.default_rng(2), output_range=(10, 2000))
    policy = make_policy("regression", min_prob=0.0).fit(observations)
    candidates = [QUICK_START.candidate, FAST_DECODE.candidate]

    short = policy.distribution(candidates, context_at(10_000.0, output_tokens=20))
    long = policy.distribution(candidates, context_at(10_000.0, output_tokens=1500))

    assert short["quickstart/m"] > 0.9
    assert long["fastdecode/m"] > 0.9
    predicted = policy.predict(candidates, context_at(10_000.0, output_tokens=1500))
    assert predicted[1].latency_s == pytest.approx(1.5 + 1500 / 150.0, rel=0.15)


def test_regression_learns_failure_rates_and_reads_recent_health():
    flaky = FakeEndpoint("flaky/m", ttft_s=0.2, tokens_per_s=100.0, failure_prob=0.6)
    steady = FakeEndpoint("steady/m", ttft_s=0.4, tokens_per_s=80.0, failure_prob=0.0)
    policy = make_policy("regression", min_prob=0.0).fit(history([flaky, steady], 400, np.random.default_rng(4)))
    candidates = [flaky.candidate, steady.candidate]
    live = {"flaky/m": EndpointStats("flaky/m", successes_5m=40, failures_5m=60),
            "steady/m": EndpointStats("steady/m", successes_5m=100)}
    predictions = policy.predict(candidates, context_at(500.0, stats=live))
    assert predictions[0].failure_prob == pytest.approx(0.6, abs=0.15)
    assert predictions[1].failure_prob < 0.05
    assert policy.distribution(candidates, context_at(500.0, stats=live))["steady/m"] > 0.9


def test_regression_uses_live_health_to_predict_an_outage():
    """An endpoint that only fails during an outage: the model ties its failures to recent health."""
    healthy = FakeEndpoint("outage/m", ttft_s=0.2, tokens_per_s=100.0, failure_prob=0.0)
    down = FakeEndpoint("outage/m", ttft_s=0.2, tokens_per_s=100.0, failure_prob=1.0)
    other = FakeEndpoint("other/m", ttft_s=0.5, tokens_per_s=80.0, failure_prob=0.0)
    rng = np.random.default_rng(5)
    observations = (history([healthy, other], 1000, rng, start=0.0) + history([down, other], 400, rng, start=1000.0)
                    + history([healthy, other], 1000, rng, start=1400.0))
    policy = make_policy("regression", min_prob=0.0).fit(observations)
    candidates = [healthy.candidate, other.candidate]
    in_outage = {"outage/m": EndpointStats("outage/m", failures_5m=20)}
    all_good = {"outage/m": EndpointStats("outage/m", successes_5m=20)}
    assert policy.predict(candidates, context_at(9000.0, stats=in_outage))[0].failure_prob > 0.5
    assert policy.predict(candidates, context_at(9000.0, stats=all_good))[0].failure_prob < 0.1
    assert policy.distribution(candidates, context_at(9000.0, stats=all_good))["outage/m"] > 0.5
    assert policy.distribution(candidates, context_at(9000.0, stats=in_outage))["outage/m"] < 0.1


def test_regression_fitted_on_nothing_predicts_the_prior_for_everyone():
    policy = make_policy("regression", min_prob=0.0).fit([])
    candidates = [QUICK_START.candidate, FAST_DECODE.candidate]
    assert policy.distribution(candidates, context_at(0.0)) == pytest.approx({"quickstart/m": 0.5, "fastdecode/m": 0.5})
    prediction = policy.predict(candidates, context_at(0.0))[0]
    assert prediction.ttft_s == pytest.approx(1.0) and prediction.tokens_per_s == pytest.approx(50.0)
    assert prediction.failure_prob == pytest.approx(0.1)


def test_linucb_learns_the_output_length_crossover_online():
    """The contextual bandit, fed only its own choices, routes short and long requests differently."""
    policy = make_policy("linucb", min_prob=0.02)
    endpoints = {e.endpoint_id: e for e in (QUICK_START, FAST_DECODE)}
    candidates = [QUICK_START.candidate, FAST_DECODE.candidate]
    rng = np.random.default_rng(6)
    for step in range(600):
        context = context_at(float(step), output_tokens=int(rng.integers(10, 2000)))
        order, _ = sample_order(policy.distribution(candidates, context), rng)
        policy.update(endpoints[order[0]].outcome(context, rng))
    assert policy.distribution(candidates, context_at(700.0, output_tokens=20))["quickstart/m"] > 0.9
    assert policy.distribution(candidates, context_at(700.0, output_tokens=1800))["fastdecode/m"] > 0.9
