"""OPE on simulated gateway telemetry: log with one policy, estimate another, replay it for the truth."""
from dataclasses import replace

import pytest

from policies.ope import BanditLog, evaluate
from policies.registry import make_policy
from policies.simulator.eventlog import events_frame
from policies.simulator.replay import ReplayConfig, replay
from policies.simulator.scenario import load_scenario
from policies.simulator.traces import load_trace


@pytest.fixture(scope="module")
def setting():
    trace = load_trace("azure-conv", limit=3000)
    start = trace["timestamp"].min()
    world = load_scenario("steady").bind(start, trace["timestamp"].max() - start)
    # No capacity limits: a policy's load on an endpoint would otherwise change what others observe.
    world = replace(world, endpoints=tuple(replace(e, capacity=None) for e in world.endpoints))
    logged = replay(trace, world, "uniform", ReplayConfig(seed=11))
    return trace, world, BanditLog.from_events(events_frame(logged, trace)), logged


def test_log_from_events_matches_the_replay(setting):
    trace, world, log, logged = setting
    assert log.n == trace.height and log.n_actions == 5
    assert abs(log.rewards.mean() - logged.requests["utility"].mean()) < 1e-6
    assert (log.propensities == pytest.approx(0.2))


@pytest.mark.parametrize("target", ["cheapest", "openrouter"])
def test_estimators_recover_the_on_policy_value(setting, target):
    trace, world, log, _ = setting
    truth = replay(trace, world, target, ReplayConfig(seed=11)).requests["utility"].mean()
    for estimate in evaluate(log, make_policy(target), n_bootstrap=300, seed=2):
        assert abs(estimate.value - truth) < 0.1 * abs(truth), estimate
        if estimate.estimator != "DM":
            assert estimate.covers(truth), estimate
