import numpy as np
import pytest

from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
from policies.registry import available_policies, make_policy
from policies.simulator.deciding import aligned_probabilities


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


def test_only_scoring_policies_with_the_base_distribution_get_the_list_path():
    assert aligned_probabilities(make_policy("openrouter")) is None
    assert aligned_probabilities(make_policy("uniform")) is not None
