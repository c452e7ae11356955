import numpy as np
import pytest

from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
from policies.registry import available_policies, make_policy
from policies.simulator.deciding import aligned_probabilities, outcome_learner


def _candidates():
    return [Candidate(f"p{i}/a/m", f"p{i}", "m", (1 + i) * 1e-7, (3 - i % 3) * 2e-7) for i in range(5)]


def _contexts(rng):
    for step in range(30):
        features = RequestFeatures(int(rng.integers(1, 4000)), None, int(rng.integers(1, 900)),
                                   bool(step % 2), bool(step % 3 == 0), step % 24)
        yield RoutingContext(features, now=10.0 * step, in_flight={f"p{i}/a/m": int(rng.integers(0, 5)) for i in range(5)})


@pytest.mark.parametrize("name", [n for n in available_policies() if aligned_probabilities(make_policy(n))])
def test_aligned_probabilities_are_distributions_floats_in_candidate_order(name):
    policy = make_policy(name)
    aligned = aligned_probabilities(policy)
    rng = np.random.default_rng(0)
    candidates = _candidates()
    for context in _contexts(rng):
        expected = policy.distribution(candidates, context)
        got = aligned(candidates, context)
        assert got == list(expected.values()) and list(expected) == [c.endpoint_id for c in candidates]
        chosen = candidates[int(np.argmax(got))].endpoint_id
        success = bool(rng.random() < 0.8)
        policy.update(Observation(chosen, context, success, None if success else "5xx", 0.4, 2.0, 100, 60.0,
                                  1e-4, got[0], context.now + 2.0))


def test_only_policies_whose_distribution_has_a_list_form_get_the_list_path():
    assert aligned_probabilities(make_policy("uniform")) is not None  # ScoringPolicy's distribution
    openrouter = make_policy("openrouter")
    assert aligned_probabilities(openrouter) == openrouter.distribution_values  # defined beside distribution
    overridden = type("Overridden", (type(openrouter),), {"distribution": lambda self, c, ctx: {}})()
    assert aligned_probabilities(overridden) is None  # its list form would no longer match


LEARNERS = [n for n in available_policies() if outcome_learner(make_policy(n)) is not None]


def test_the_bandits_take_the_field_path_and_other_policies_get_observations():
    assert {"thompson", "linucb", "discounted-ucb"} <= set(LEARNERS)
    assert outcome_learner(make_policy("regression")) is None  # learns through fit, from whole observations
    assert outcome_learner(make_policy("round-robin")) is None


@pytest.mark.parametrize("name", LEARNERS)
def test_learning_from_fields_equals_learning_from_observations(name):
    params = {"linucb": {"refresh_every": 4}, "thompson": {"seed": 0}}.get(name, {})
    by_observation, by_fields = make_policy(name, **params), make_policy(name, **params)
    learn = outcome_learner(by_fields)
    rng = np.random.default_rng(1)
    candidates = _candidates()
    for context in _contexts(rng):
        chosen = candidates[int(rng.integers(0, 5))].endpoint_id
        success = bool(rng.random() < 0.7)
        error = None if success else ("5xx", "client-cancel", "timeout")[int(rng.integers(0, 3))]
        ttft = float(rng.lognormal(-1.0, 0.3)) if success else None
        tokens_per_s = float(rng.lognormal(4.0, 0.2)) if success and rng.random() < 0.5 else None  # else from latency
        fields = (chosen, context.features, success, error, ttft, 3.0, 150 if success else 0, tokens_per_s,
                  context.now + 3.0)
        by_observation.update(Observation(chosen, context, *fields[2:8], 1e-4, 0.5, fields[8]))
        learn(*fields)
        assert by_fields.distribution(candidates, context) == by_observation.distribution(candidates, context)
        assert by_fields.predict(candidates, context) == by_observation.predict(candidates, context)


@pytest.mark.parametrize("name", ["thompson", "linucb"])
def test_a_replay_is_the_same_whether_the_policy_learns_from_fields_or_observations(name):
    from policies.simulator.replay import ReplayConfig, replay
    from policies.simulator.traces import load_trace

    policy = make_policy(name, seed=0) if name == "thompson" else make_policy(name)
    # The same policy with its own `update`: the simulator then builds an Observation per attempt.
    observed = type("Observed", (type(policy),), {"update": lambda self, observation: super(
        type(self), self).update(observation)})(**policy.get_params())
    assert outcome_learner(policy) is not None and outcome_learner(observed) is None
    trace = load_trace("azure-conv", limit=3000)
    config = ReplayConfig(seed=2)
    fast, slow = replay(trace, "outage-of-best", policy, config), replay(trace, "outage-of-best", observed, config)
    assert fast.attempts.height > trace.height  # failures and fallbacks (and breaker skips) were learned from
    assert fast.requests.equals(slow.requests) and fast.attempts.equals(slow.attempts)
