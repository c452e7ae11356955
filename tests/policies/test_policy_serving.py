from __future__ import annotations

import numpy as np
import pytest

from policies import make_policy
from policies.serving import PolicySnapshot, explain, load_policy, policy_version, save_policy
from policy_world import FakeEndpoint, context_at, history
from telemetry.snapshot import EndpointStats

ENDPOINTS = [FakeEndpoint("fast/m", 0.2, 120.0, 0.01), FakeEndpoint("slow/m", 1.5, 30.0, 0.1, price_per_token=5e-7)]
CANDIDATES = [e.candidate for e in ENDPOINTS]


def _fitted(name: str = "regression"):
    return make_policy(name).fit(history(ENDPOINTS, 200, np.random.default_rng(0)))


def test_save_and_load_round_trip_with_a_content_version(tmp_path):
    policy = _fitted()
    version = save_policy(policy, tmp_path)
    assert version.startswith("regression-") and len(version) == len("regression-") + 12
    assert policy.version == version
    assert (tmp_path / f"{version}.pkl").exists()
    assert not list(tmp_path.glob("*.tmp"))

    loaded = load_policy(tmp_path / f"{version}.pkl")
    assert loaded.version == version
    context = context_at(0.0)
    assert loaded.distribution(CANDIDATES, context) == pytest.approx(policy.distribution(CANDIDATES, context))


def test_version_depends_on_content_only(tmp_path):
    first, same = _fitted(), _fitted()
    assert policy_version(first) == policy_version(same)
    assert save_policy(first, tmp_path) == save_policy(first, tmp_path)  # saving again: same version
    other = make_policy("regression").fit(history(ENDPOINTS, 200, np.random.default_rng(1)))
    assert policy_version(other) != policy_version(first)
    assert policy_version(make_policy("regression", temperature=0.2)) != policy_version(make_policy("regression"))


def test_load_rejects_files_that_are_not_policies(tmp_path):
    import pickle
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"not": "a policy"}))
    with pytest.raises(TypeError, match="does not hold a Policy"):
        load_policy(path)


def test_snapshot_is_immutable_and_decides_with_a_propensity():
    snapshot = PolicySnapshot.of(_fitted())
    with pytest.raises(AttributeError):
        snapshot.version = "other"  # type: ignore[misc]
    order, propensity, probabilities = snapshot.decide(CANDIDATES, context_at(0.0), np.random.default_rng(0))
    assert sorted(order) == ["fast/m", "slow/m"]
    assert propensity == pytest.approx(probabilities[order[0]])
    order, propensity, _ = snapshot.decide(CANDIDATES, context_at(0.0), np.random.default_rng(0), deterministic=True)
    assert propensity == 1.0


@pytest.mark.parametrize("name", ["regression", "thompson", "linucb", "discounted-ucb"])
def test_explain_lists_predictions_and_probabilities(name):
    rows = explain(_fitted(name), CANDIDATES, context_at(0.0))
    assert [r["endpoint_id"] for r in rows][0] == "fast/m"  # highest probability first
    assert sum(r["probability"] for r in rows) == pytest.approx(1.0)
    fast, slow = rows
    assert fast["latency_s"] < slow["latency_s"]
    assert fast["utility"] > slow["utility"]
    assert slow["price_usd"] < fast["price_usd"]


def test_explain_falls_back_to_live_stats_for_rule_policies():
    live = {"fast/m": EndpointStats("fast/m", successes_5m=9, failures_5m=1, ttft_p50_s=0.2, tokens_per_s_p50=100.0)}
    rows = {r["endpoint_id"]: r for r in explain(make_policy("uniform"), CANDIDATES, context_at(0.0, stats=live))}
    assert rows["fast/m"]["failure_prob"] == pytest.approx(0.1)
    assert rows["fast/m"]["latency_s"] == pytest.approx(0.2 + 200 / 100.0)
    assert rows["slow/m"]["latency_s"] is None and rows["slow/m"]["utility"] is None
