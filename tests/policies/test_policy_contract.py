"""The contract every registered policy keeps (STYLE.md habit 10)."""
from __future__ import annotations

import inspect
import random

import numpy as np
import pytest

from policies import available_policies, make_policy, sample_order
from policies.sampler import apply_floor
from policy_world import FakeEndpoint, context_at, history

ENDPOINTS = [
    FakeEndpoint("alpha/m", ttft_s=0.3, tokens_per_s=90.0, failure_prob=0.05, price_per_token=2e-6),
    FakeEndpoint("beta/m", ttft_s=0.8, tokens_per_s=40.0, failure_prob=0.2, price_per_token=1e-6),
    FakeEndpoint("gamma/m", ttft_s=1.5, tokens_per_s=150.0, failure_prob=0.0, price_per_token=4e-6),
    FakeEndpoint("delta/m", ttft_s=0.5, tokens_per_s=60.0, failure_prob=0.5, price_per_token=5e-7),
]
CANDIDATES = [e.candidate for e in ENDPOINTS]
IDS = {c.endpoint_id for c in CANDIDATES}
CONTEXTS = [
    context_at(1000.0),
    context_at(1000.0, sort="price"),
    context_at(1000.0, sort="throughput"),
    context_at(1000.0, sort="latency", in_flight={"alpha/m": 3}),
    context_at(1000.0, output_tokens=4000, prompt_tokens=0),
]
# Whether `update` moves a policy's distribution: every registered policy must be in one set.
ONLINE = {"round-robin", "fastest", "latency-based", "thompson", "discounted-ucb", "linucb"}
NOT_ONLINE = {"uniform", "cheapest", "least-busy", "openrouter", "regression"}  # rule-based or refit-only


def _accepts(name: str, parameter: str) -> bool:
    policy = make_policy(name)
    return parameter in inspect.signature(type(policy).__init__).parameters


def _trained(name: str, **params):
    policy = make_policy(name, **params)
    return policy.fit(history(ENDPOINTS, 80, np.random.default_rng(0)))


@pytest.fixture(params=available_policies())
def name(request) -> str:
    return request.param


def test_probabilities_sum_to_one_over_exactly_the_candidates(name):
    for policy in (make_policy(name), _trained(name)):
        for context in CONTEXTS:
            probabilities = policy.distribution(CANDIDATES, context)
            assert set(probabilities) == IDS
            assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-9)
            assert all(p >= 0.0 for p in probabilities.values())
        assert policy.distribution([], CONTEXTS[0]) == {}
        single = policy.distribution(CANDIDATES[:1], CONTEXTS[0])
        assert single == pytest.approx({CANDIDATES[0].endpoint_id: 1.0})


def test_every_policy_accepts_an_exploration_floor_and_keeps_it(name):
    assert _accepts(name, "min_prob")
    policy = _trained(name, min_prob=0.05)
    for context in CONTEXTS:
        probabilities = policy.distribution(CANDIDATES, context)
        assert min(probabilities.values()) >= 0.05 - 1e-12
        assert sum(probabilities.values()) == pytest.approx(1.0)


def test_floor_of_zero_lets_a_rule_policy_be_decisive():
    # The floor test above must be able to fail: without a floor, cheapest puts 0 on the others.
    probabilities = make_policy("cheapest", min_prob=0.0).distribution(CANDIDATES, CONTEXTS[0])
    assert probabilities["delta/m"] == 1.0
    assert apply_floor(probabilities, 0.05)["alpha/m"] == pytest.approx(0.05)


def _decisions(policy, n_steps: int = 40) -> list[tuple[str, ...]]:
    sampler_rng = np.random.default_rng(11)
    world_rng = np.random.default_rng(12)
    by_id = {e.endpoint_id: e for e in ENDPOINTS}
    decisions = []
    for step in range(n_steps):
        context = context_at(2000.0 + step)
        order, propensity = sample_order(policy.distribution(CANDIDATES, context), sampler_rng)
        decisions.append((*order, round(propensity, 12)))
        policy.update(by_id[order[0]].outcome(context, world_rng))
    return decisions


def test_same_seed_reproduces_the_same_choices(name):
    params = {"seed": 5} if _accepts(name, "seed") else {}
    # Global generators are reseeded differently between the runs: a policy using them would differ.
    np.random.seed(1)
    random.seed(1)
    first = _decisions(_trained(name, **params))
    np.random.seed(2)
    random.seed(2)
    assert _decisions(_trained(name, **params)) == first


def test_the_seed_is_what_drives_randomised_policies():
    names = [n for n in available_policies() if _accepts(n, "seed")]
    assert "thompson" in names
    for name in names:
        assert _decisions(_trained(name, seed=5)) != _decisions(_trained(name, seed=6)), name


def test_clone_resets_learned_state_and_keeps_parameters(name):
    policy = _trained(name, min_prob=0.03)
    policy.distribution(CANDIDATES, CONTEXTS[0])
    clone = policy.clone()
    assert type(clone) is type(policy)
    assert clone.get_params() == policy.get_params()
    assert clone.min_prob == 0.03
    assert [k for k in vars(clone) if k.endswith("_")] == []
    if name in ONLINE or name == "regression":
        assert [k for k in vars(policy) if k.endswith("_")], "a learning policy should have learned state"


def test_fit_starts_from_scratch(name):
    params = {"seed": 5} if _accepts(name, "seed") else {}
    observations = history(ENDPOINTS, 81, np.random.default_rng(0))
    once = make_policy(name, **params).fit(observations)
    twice = make_policy(name, **params).fit(observations).fit(observations)
    for context in CONTEXTS:
        assert twice.distribution(CANDIDATES, context) == pytest.approx(once.distribution(CANDIDATES, context))


def test_update_changes_what_it_should(name):
    """Online policies move away from an endpoint observed slow and failing; others ignore updates."""
    assert name in ONLINE | NOT_ONLINE, f"declare in ONLINE or NOT_ONLINE whether {name!r} learns from update"
    policy = make_policy(name)
    context = context_at(3000.0)
    if name == "round-robin":
        turns = []
        for step in range(5):
            probabilities = policy.distribution(CANDIDATES, context)
            turns.append(max(probabilities, key=probabilities.get))
            policy.update(ENDPOINTS[0].outcome(context, np.random.default_rng(step)))
        assert turns == ["alpha/m", "beta/m", "gamma/m", "delta/m", "alpha/m"]
        return
    before = policy.distribution(CANDIDATES, context)
    slow = FakeEndpoint("alpha/m", ttft_s=8.0, tokens_per_s=5.0, failure_prob=0.0)
    rng = np.random.default_rng(3)
    for step in range(30):
        step_context = context_at(2900.0 + step)
        policy.update(slow.outcome(step_context, rng))
        for endpoint in ENDPOINTS[1:]:
            policy.update(FakeEndpoint(endpoint.endpoint_id, 0.2, 200.0).outcome(step_context, rng))
    after = policy.distribution(CANDIDATES, context)
    if name in NOT_ONLINE:
        assert after == pytest.approx(before)
    else:
        assert after["alpha/m"] <= before["alpha/m"] + 1e-12
        assert after["alpha/m"] < 0.05
        assert after["alpha/m"] < max(after.values())


def test_regression_learns_only_through_fit():
    policy = make_policy("regression", min_prob=0.0)
    context = context_at(1000.0)
    assert policy.distribution(CANDIDATES, context) == pytest.approx({i: 0.25 for i in IDS})
    fitted = policy.fit(history(ENDPOINTS, 400, np.random.default_rng(1)))
    assert fitted is policy
    # gamma never fails and decodes fastest; delta fails half the time.
    probabilities = policy.distribution(CANDIDATES, context)
    assert probabilities["delta/m"] < 0.05


def test_make_policy_names_bad_keys_and_lists_valid_ones():
    with pytest.raises(KeyError, match="valid: .*thompson"):
        make_policy("thompsonn")
    with pytest.raises(TypeError, match=r"no parameter 'halflife'; valid: .*half_life_s"):
        make_policy("thompson", halflife=60)
    with pytest.raises(TypeError, match=r"no field 'speed'; valid: usd, latency_s"):
        make_policy("regression", weights={"speed": 1.0})
    policy = make_policy("linucb", weights={"usd": 5.0, "failure": 2})
    assert policy.weights.usd == 5.0 and policy.weights.failure == 2.0 and policy.weights.latency_s == 1.0
