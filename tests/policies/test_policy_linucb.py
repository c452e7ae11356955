"""LinUCB's batched refreshes against the ridge regressions they stand for."""
import math

import numpy as np
import pytest

from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
from policies.registry import make_policy
from policy_world import context_at


@pytest.mark.parametrize("refresh_every", [1, 16])
def test_refreshed_model_equals_the_direct_ridge_solutions(refresh_every):
    rng = np.random.default_rng(0)
    policy = make_policy("linucb", ridge=2.0, prior_ttft_s=1.0, prior_tokens_per_s=50.0, prior_failure=0.1,
                         refresh_every=refresh_every)
    counted = []  # (x, failed, log speeds or None) of every observation that counts, in order
    for step in range(300):
        context = context_at(float(step), output_tokens=int(rng.integers(10, 900)),
                             prompt_tokens=int(rng.integers(1, 5000)))
        x = context.features.as_vector()
        if rng.random() < 0.2:
            policy.update(Observation("e/m", context, False, "5xx", now=context.now))
            counted.append((x, 1.0, None))
        else:
            ttft, tps = float(rng.lognormal(-1.0, 0.3)), float(rng.lognormal(4.0, 0.2))
            policy.update(Observation("e/m", context, True, None, ttft, ttft + 100 / tps, 100, tps, now=context.now))
            counted.append((x, 0.0, (math.log(ttft / 1.0), math.log(tps / 50.0))))
        if step % 3 == 0:  # client errors teach nothing
            policy.update(Observation("e/m", context, False, "client-cancel", now=context.now))
    # The model stands for every observation up to the last refresh; the rest wait for the next one
    # (fewer than refresh_every successes: a failure refreshes at once).
    applied = counted[:len(counted) - len(policy.pending_)]
    assert len(policy.pending_) < refresh_every and all(failed == 0.0 for _, failed, _ in counted[len(applied):])
    X_all = np.array([x for x, _, _ in applied])
    X_ok = np.array([x for x, _, speeds in applied if speeds is not None])
    gram_all = X_all.T @ X_all + 2.0 * np.eye(6)
    gram_ok = X_ok.T @ X_ok + 2.0 * np.eye(6)
    failed = np.array([f for _, f, _ in applied])
    log_speeds = np.array([speeds for _, _, speeds in applied if speeds is not None])
    model = policy.model_[policy.rows_["e/m"]]
    np.testing.assert_allclose(model[:, 2], np.linalg.solve(gram_all, X_all.T @ (failed - 0.1)),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model[:, :2], np.linalg.solve(gram_ok, X_ok.T @ log_speeds),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model[:, 3:9], np.linalg.inv(gram_all), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(model[:, 9:15], np.linalg.inv(gram_ok), rtol=1e-6, atol=1e-12)


def test_successes_wait_for_the_refresh_failures_and_fit_refresh_at_once():
    candidates = [Candidate(e, e.split("/")[0], "m", 1e-7, 1e-7) for e in ("good/m", "other/m")]
    slow = Observation("good/m", context_at(0.0), True, None, 5.0, 9.0, 200, 10.0, now=0.0)
    policy = make_policy("linucb", refresh_every=6, min_prob=0.0)
    before = policy.predict(candidates, context_at(1.0))[0]
    for _ in range(5):
        policy.update(slow)
    assert policy.predict(candidates, context_at(1.0))[0] == before  # five of six: not refreshed yet
    policy.update(slow)
    refreshed = policy.predict(candidates, context_at(1.0))[0]
    assert refreshed.ttft_s > before.ttft_s and policy.pending_ == []
    policy.update(Observation("good/m", context_at(0.0), False, "5xx", now=0.0))  # news: no waiting
    assert policy.predict(candidates, context_at(1.0))[0].failure_prob > refreshed.failure_prob
    fitted = make_policy("linucb", refresh_every=6).fit([slow] * 5)
    assert fitted.predict(candidates, context_at(1.0))[0].ttft_s > before.ttft_s


def test_an_endpoint_never_seen_predicts_the_prior():
    policy = make_policy("linucb", refresh_every=1)
    policy.update(Observation("seen/m", context_at(0.0), True, None, 0.2, 2.0, 100, 80.0, now=0.0))
    candidates = [Candidate(e, e.split("/")[0], "m", 1e-6, 1e-6) for e in ("seen/m", "new/m")]
    seen, unseen = policy.predict(candidates, context_at(1.0))
    assert unseen.ttft_s == 1.0 and unseen.tokens_per_s == 50.0 and seen.ttft_s < 1.0
    assert unseen.failure_prob == 0.1


def test_a_batch_of_requests_gets_what_each_would_get_alone():
    rng = np.random.default_rng(3)
    candidates = [Candidate(f"p{i}/m", f"p{i}", "m", 1e-7 * (i + 1), 2e-7 * (3 - i), request_price=1e-5 * i)
                  for i in range(3)] + [Candidate("unseen/m", "unseen", "m", 1e-7, 1e-7)]
    policy = make_policy("linucb", refresh_every=8)
    for step in range(203):  # leaves observations pending: the batch must not see them either
        context = context_at(float(step), output_tokens=int(rng.integers(10, 900)),
                             prompt_tokens=int(rng.integers(1, 5000)))
        endpoint = f"p{step % 3}/m"
        if rng.random() < 0.1 * (step % 3):
            policy.update(Observation(endpoint, context, False, "5xx", now=context.now))
        else:
            ttft = float(rng.lognormal(-1.0 + 0.3 * (step % 3), 0.3))
            policy.update(Observation(endpoint, context, True, None, ttft, None, 100,
                                      float(rng.lognormal(4.0, 0.2)), now=context.now))
    version = policy.distribution_version(candidates, 300.0)
    features = [RequestFeatures(int(p), None, int(o), bool(s)) for p, o, s in
                zip(rng.integers(1, 8000, 200), rng.integers(1, 2000, 200), rng.random(200) < 0.5)]
    batch = policy.distribution_batch(candidates, features)
    winners = set()
    for row, feature in zip(batch, features):
        alone = policy.distribution(candidates, RoutingContext(feature, 300.0))
        assert row == list(alone.values())
        winners.add(max(alone, key=alone.get))
    assert len(winners) > 1  # the features decide: the comparison covers more than one winner
    assert policy.distribution_version(candidates, 300.0) == version


def test_refresh_inverts_as_numpy_does_and_a_singular_gram_still_raises():
    from policies.bandits.linucb import _inverse

    rng = np.random.default_rng(1)
    x = rng.random((2, 9, 6))
    grams = x.transpose(0, 2, 1) @ x + np.eye(6)
    assert np.array_equal(_inverse(grams, 1.0), np.linalg.inv(grams))
    with pytest.raises(np.linalg.LinAlgError):  # without a ridge a Gram matrix may be singular
        _inverse(np.zeros((2, 6, 6)), 0.0)
