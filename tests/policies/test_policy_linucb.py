"""LinUCB's recursive updates against the ridge regressions they stand for."""
import math

import numpy as np

from policies.base import Candidate, Observation
from policies.registry import make_policy
from policy_world import context_at


def test_recursive_updates_equal_the_direct_ridge_solutions():
    rng = np.random.default_rng(0)
    policy = make_policy("linucb", ridge=2.0, prior_ttft_s=1.0, prior_tokens_per_s=50.0, prior_failure=0.1)
    rows_all, failed, rows_ok, log_speeds = [], [], [], []
    for step in range(300):
        context = context_at(float(step), output_tokens=int(rng.integers(10, 900)),
                             prompt_tokens=int(rng.integers(1, 5000)))
        x = context.features.as_vector()
        if rng.random() < 0.2:
            policy.update(Observation("e/m", context, False, "5xx", now=context.now))
            rows_all.append(x), failed.append(1.0)
        else:
            ttft, tps = float(rng.lognormal(-1.0, 0.3)), float(rng.lognormal(4.0, 0.2))
            policy.update(Observation("e/m", context, True, None, ttft, ttft + 100 / tps, 100, tps, now=context.now))
            rows_all.append(x), failed.append(0.0), rows_ok.append(x)
            log_speeds.append((math.log(ttft / 1.0), math.log(tps / 50.0)))
        if step % 3 == 0:  # client errors teach nothing
            policy.update(Observation("e/m", context, False, "client-cancel", now=context.now))
    X_all, X_ok = np.array(rows_all), np.array(rows_ok)
    gram_all = X_all.T @ X_all + 2.0 * np.eye(6)
    gram_ok = X_ok.T @ X_ok + 2.0 * np.eye(6)
    model = policy.model_[policy.rows_["e/m"]]
    np.testing.assert_allclose(model[:, 2], np.linalg.solve(gram_all, X_all.T @ (np.array(failed) - 0.1)),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model[:, :2], np.linalg.solve(gram_ok, X_ok.T @ np.array(log_speeds)),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model[:, 3:9], np.linalg.inv(gram_all), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(model[:, 9:15], np.linalg.inv(gram_ok), rtol=1e-6, atol=1e-12)


def test_an_endpoint_never_seen_predicts_the_prior():
    policy = make_policy("linucb")
    policy.update(Observation("seen/m", context_at(0.0), True, None, 0.2, 2.0, 100, 80.0, now=0.0))
    candidates = [Candidate(e, e.split("/")[0], "m", 1e-6, 1e-6) for e in ("seen/m", "new/m")]
    seen, unseen = policy.predict(candidates, context_at(1.0))
    assert unseen.ttft_s == 1.0 and unseen.tokens_per_s == 50.0 and seen.ttft_s < 1.0
