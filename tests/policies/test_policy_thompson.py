"""Thompson sampling's cached draws: how far the propensities are from the exact win probabilities."""
import numpy as np
import pytest

from policies.base import Observation, RequestFeatures, RoutingContext
from policies.registry import make_policy

from policy_world import FakeEndpoint, context_at

ENDPOINTS = [FakeEndpoint("a/m", 0.5, 60.0, 0.02), FakeEndpoint("b/m", 0.55, 58.0, 0.03),
             FakeEndpoint("c/m", 0.6, 62.0, 0.02, price_per_token=0.5e-6)]
CANDIDATES = [e.candidate for e in ENDPOINTS]
STEPS = 300


def _observations(seed):
    rng = np.random.default_rng(100 + seed)
    return [ENDPOINTS[step % 3].outcome(context_at(float(step)), rng) for step in range(STEPS)]


def _served(tolerance, seed, observations):
    """Propensities after deciding before every update, as serving and replay do."""
    policy = make_policy("thompson", seed=seed, redraw_tolerance=tolerance, min_prob=0.0)
    for observation in observations:
        policy.distribution(CANDIDATES, observation.context)
        policy.update(observation)
    return np.array(list(policy.distribution(CANDIDATES, context_at(float(STEPS))).values()))


def _exact(observations):
    """Win probabilities of the final posterior, from 50,000 fresh draws (Monte-Carlo error < 0.005)."""
    policy = make_policy("thompson", seed=0, n_draws=50_000, min_prob=0.0)
    policy.fit(observations)
    return np.array(list(policy.distribution(CANDIDATES, context_at(float(STEPS))).values()))


def test_redraw_tolerance_adds_little_to_the_monte_carlo_error():
    errors = {0.0: [], 0.25: []}
    for seed in range(10):
        observations = _observations(seed)
        exact = _exact(observations)
        for tolerance in errors:
            errors[tolerance].append(np.abs(_served(tolerance, seed, observations) - exact).max())
    fresh, cached = np.mean(errors[0.0]), np.mean(errors[0.25])
    # Measured (largest error over the three propensities, mean of 10 runs): fresh draws after
    # every update err by 0.031 (the Monte-Carlo error of 128 draws), the default tolerance by
    # 0.043: drawing from a posterior at most a quarter of its spread behind adds about a third.
    assert fresh < 0.05
    assert cached < 0.06 and cached < 1.5 * fresh + 0.01


def test_draws_are_redrawn_only_when_the_posterior_moved():
    policy = make_policy("thompson", seed=0, half_life_s=None)
    observations = _observations(0)
    draws_made = 0
    for observation in observations:
        before = policy.__dict__.get("draws_")
        before = None if before is None else before.copy()
        policy.distribution(CANDIDATES, observation.context)
        after = policy.draws_
        draws_made += before is None or before.shape != after.shape or not np.array_equal(before, after)
        policy.update(observation)
    # Every endpoint is new at first and moves a lot early on; later updates barely move it.
    assert 3 <= draws_made < len(observations) / 3
    always = make_policy("thompson", seed=0, half_life_s=None, redraw_tolerance=0.0)
    changed = 0
    for observation in observations:
        before = always.__dict__.get("draws_")
        before = None if before is None else before.copy()
        always.distribution(CANDIDATES, observation.context)
        changed += before is None or not np.array_equal(before, always.draws_)
        always.update(observation)
    assert changed == len(observations)  # tolerance 0: fresh draws after every update


@pytest.mark.parametrize("sort", ["price", "latency"])
def test_an_explicit_sort_scores_the_same_draws_with_its_weights(sort):
    policy = make_policy("thompson", seed=0, min_prob=0.0)
    policy.fit(_observations(1))
    default = policy.distribution(CANDIDATES, context_at(float(STEPS)))
    sorted_ = policy.distribution(CANDIDATES, context_at(float(STEPS), sort=sort))
    assert sum(sorted_.values()) == pytest.approx(1.0)
    if sort == "price":  # the cheapest endpoint wins every draw when price dominates
        assert sorted_ == {"a/m": 0.0, "b/m": 0.0, "c/m": 1.0} and default["c/m"] < 1.0


def test_a_batch_of_requests_gets_what_each_would_get_alone():
    policy = make_policy("thompson", seed=0)
    policy.fit(_observations(2))
    now = float(STEPS)
    version = policy.distribution_version(CANDIDATES, now)
    features = [RequestFeatures(prompt, None, output) for prompt, output in ((10, 5), (5000, 900), (1, 1), (800, 256))]
    batch = policy.distribution_batch(CANDIDATES, features)
    for row, feature in zip(batch, features):
        assert row == list(policy.distribution(CANDIDATES, RoutingContext(feature, now)).values())
    assert policy.distribution_version(CANDIDATES, now) == version  # deciding drew nothing new
    for _ in range(20):  # a run of failures moves the posterior: new draws, a new version
        policy.update(Observation("a/m", context_at(now), False, "5xx", now=now))
    assert policy.distribution_version(CANDIDATES, now) != version


def test_exact_ties_go_to_the_first_candidate_as_win_frequencies_does():
    from policies.exploration import win_frequencies
    policy = make_policy("thompson", seed=0, min_prob=0.0)
    policy.fit(_observations(4))
    context = context_at(float(STEPS))
    policy.distribution(CANDIDATES, context)  # draws for every candidate
    twins = [CANDIDATES[0], CANDIDATES[1]]  # same prices; give them the same draws
    row_a, row_b = policy.rows_["a/m"], policy.rows_["b/m"]
    policy.base_[row_b], policy.per_token_[row_b] = policy.base_[row_a], policy.per_token_[row_a]
    assert policy.distribution(twins, context) == {"a/m": 1.0, "b/m": 0.0}
    rows = [row_a, row_b, policy.rows_["c/m"]]
    shares = policy.distribution_batch(CANDIDATES, [context.features, context.features])
    prices = np.array([c.expected_cost(context.features.prompt_tokens, context.features.expected_output_tokens)
                       for c in CANDIDATES])
    scores = policy.base_[rows] - 1000.0 * prices[:, None] - 1.0 * 200 * policy.per_token_[rows]
    assert shares[0] == shares[1] == win_frequencies(scores.T).tolist()
    assert shares[0][1] == 0.0


@pytest.mark.parametrize("n_requests", [4, 40, 300])
def test_draws_settled_for_a_batch_count_as_scoring_each_request_would(n_requests):
    from policies.bandits.thompson import _settled_draws

    endpoints = [FakeEndpoint("fast/m", 0.2, 120.0, 0.01), FakeEndpoint("a/m", 0.8, 50.0, 0.02),
                 FakeEndpoint("b/m", 0.8, 50.0, 0.02, price_per_token=1.2e-6)]
    candidates = tuple(e.candidate for e in endpoints)
    rng = np.random.default_rng(5)
    policy = make_policy("thompson", seed=0)
    policy.fit([endpoints[step % 3].outcome(context_at(float(step)), rng) for step in range(60)])
    now = 61.0
    policy.distribution_version(candidates, now)
    features = [RequestFeatures(int(p), None, int(o)) for p, o in
                zip(rng.integers(1, 20_000, n_requests), rng.integers(1, 1500, n_requests))]
    # The batch mixes draws settled for all its requests (fast/m far ahead, or a/m vs b/m decided
    # by price) with contested ones: both paths are taken.
    rows = [policy.rows_[c.endpoint_id] for c in candidates]
    prices = np.array([[c.expected_cost(f.prompt_tokens, f.expected_output_tokens) for f in features]
                       for c in candidates])
    output = np.array([f.expected_output_tokens for f in features], dtype=float)
    settled, _ = _settled_draws(policy.base_[rows], policy.per_token_[rows], 1000.0 * prices, 1.0 * output)
    assert settled.any() and not settled.all()
    batch = policy.distribution_batch(candidates, features)
    for row, feature in zip(batch, features):
        assert row == list(policy.distribution(candidates, RoutingContext(feature, now)).values())
