from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from policies.base import Policy
from policies.registry import available_policies, make_policy
from policies.simulator.eventlog import events_frame, write_events
from policies.simulator.replay import ORACLE, ReplayConfig, replay
from policies.simulator.scenario import available_scenarios, load_scenario
from policies.simulator.traces import load_trace
from policies.simulator.world import Outage
from telemetry.events import EVENT_FIELDS


@pytest.fixture(scope="module")
def trace():
    return load_trace("azure-conv", limit=1500)


def _outage_world(trace, scenario="steady"):
    start = trace["timestamp"].min()
    span = trace["timestamp"].max() - start
    world = load_scenario(scenario).bind(start, span)
    best = world.endpoint_ids[0]
    return replace(world, outages=(Outage(best, span / 3, 2 * span / 3),)), best, start, span


def test_same_seed_same_run_other_seed_other_run(trace):
    first = replay(trace, "outage-of-best", "discounted-ucb", ReplayConfig(seed=7))
    again = replay(trace, "outage-of-best", "discounted-ucb", ReplayConfig(seed=7))
    other = replay(trace, "outage-of-best", "discounted-ucb", ReplayConfig(seed=8))
    assert first.requests.equals(again.requests) and first.attempts.equals(again.attempts)
    assert not first.attempts.equals(other.attempts)


def test_runs_reuse_the_world_draws_and_never_share_policy_state(trace):
    from policies.registry import make_policy
    trained = make_policy("discounted-ucb")
    one = replay(trace, "steady", trained, ReplayConfig(seed=1))
    two = replay(trace, "steady", trained, ReplayConfig(seed=1))
    assert one.requests.equals(two.requests)  # the passed object was cloned, not trained in place
    kept = replay(trace, "steady", one.policy_object, ReplayConfig(seed=1), keep_state=True)
    assert not kept.requests.equals(one.requests)  # a trained copy routes differently from a fresh one
    assert trained.get_params() == one.policy_object.get_params()
    uniform = replay(trace, "steady", "uniform", ReplayConfig(seed=1))
    # Common random numbers: every policy faces the same oracle outcome for the same request
    # whenever no endpoint is loaded differently (the steady world has no hard limits).
    same = (uniform.requests["oracle_utility"] == one.requests["oracle_utility"]).mean()
    assert same > 0.5


def test_oracle_has_zero_regret_and_every_policy_non_negative(trace):
    for name in [ORACLE, *available_policies()]:
        result = replay(trace.head(400), "rate-limited-cheap", name, ReplayConfig(seed=2))
        regret = result.requests["regret"]
        assert regret.min() >= 0.0, name
        if name == ORACLE:
            assert regret.max() == 0.0
        assert result.requests["oracle_utility"].mean() >= result.requests["utility"].mean()
    assert replay(trace.head(400), "rate-limited-cheap", "uniform").requests["regret"].mean() > 0.1


@pytest.mark.parametrize("scenario", available_scenarios())
def test_oracle_regret_is_exactly_zero_in_every_scenario(trace, scenario):
    assert replay(trace.head(300), scenario, ORACLE).requests["regret"].abs().max() == 0.0


def test_price_cut_reaches_candidates_and_costs_at_the_same_arrival(trace):
    result = replay(trace, "price-cut", "cheapest")
    change = result.world.price_changes[0]
    relative = result.attempts["ts"] - result.world.start_ts
    before = result.attempts.filter(relative < change.at_s - 60)
    after = result.attempts.filter(relative >= change.at_s)
    assert set(before["endpoint_id"]) == {"groq/meta-llama/llama-2-70b-chat"}
    assert set(after["endpoint_id"]) == {change.endpoint_id}  # cheapest follows the cut at once
    assert (after["prompt_price"] == change.prompt_price).all()


def _first_choice_share(requests, endpoint, start, span):
    phase = ((pl.col("timestamp") - start) / span * 3).floor().clip(0, 2)
    return (requests.with_columns(phase=phase).group_by("phase").agg((pl.col("first_endpoint") == endpoint).mean())
            .sort("phase")["first_endpoint"].to_list())


@pytest.mark.parametrize("policy, config", [
    ("discounted-ucb", ReplayConfig(seed=3, breaker_failures=None)),
    ("linucb", ReplayConfig(seed=3, breaker_failures=None)),
    ("linucb", ReplayConfig(seed=3, breaker_feedback=True)),
])
def test_learned_policy_leaves_failed_endpoint_and_returns(trace, policy, config):
    world, best, start, span = _outage_world(trace)
    requests = replay(trace, world, policy, config).requests
    before, during, after = _first_choice_share(requests, best, start, span)
    assert during < before / 2
    assert after > during + 0.1
    inside = requests.filter(((pl.col("timestamp") - start) > span / 3 + 5) & ((pl.col("timestamp") - start) < 2 * span / 3))
    assert inside["success"].all()  # fallback saved every request the failed endpoint got


def test_dispatch_breaker_feedback_tells_the_policy_about_the_outage(trace):
    """Serving as built: a breaker-skipped endpoint is reported to the policy as a failure."""
    world, best, start, span = _outage_world(trace)
    gateway = replay(trace, world, "linucb", ReplayConfig(seed=3))
    silent = replay(trace, world, "linucb", ReplayConfig(seed=3, breaker_feedback=False))
    before, during, _ = _first_choice_share(gateway.requests, best, start, span)
    assert during < before / 2  # the policy hears of the skips and leaves the dead endpoint...
    silent_before, silent_during, _ = _first_choice_share(silent.requests, best, start, span)
    assert silent_during > 0.8 * silent_before  # ...which it keeps choosing first when it hears nothing
    in_outage = ((pl.col("timestamp") - start) > span / 3 + 30) & ((pl.col("timestamp") - start) < 2 * span / 3)
    attempted = silent.attempts.join(silent.requests.filter(in_outage).select("request"), on="request")
    assert (attempted["endpoint_id"] == best).mean() < 0.05  # the open breaker skips it either way
    assert gateway.requests["regret"].min() >= 0.0 and silent.requests["regret"].min() >= 0.0


def test_fallback_follows_sampled_order_like_dispatch(trace):
    world, best, start, span = _outage_world(trace)
    result = replay(trace, world, "cheapest", ReplayConfig(seed=4, breaker_failures=None))
    attempts = result.attempts
    retried = attempts.filter(pl.col("attempt") == 1)
    assert retried.height > 0
    first = attempts.filter(pl.col("attempt") == 0).join(retried.select("request"), on="request")
    assert (first["code"] != 0).all()  # a second attempt only after a failure
    assert result.requests["success"].all()


def test_feedback_delay_slows_learning(trace):
    world, *_ = _outage_world(trace)
    prompt = replay(trace, world, "discounted-ucb", ReplayConfig(seed=5, breaker_failures=None))
    late = replay(trace, world, "discounted-ucb", ReplayConfig(seed=5, breaker_failures=None, feedback_delay_s=120.0))
    assert late.requests["n_attempts"].sum() > prompt.requests["n_attempts"].sum()


def test_events_have_the_gateway_schema_and_round_trip(tmp_path, trace):
    result = replay(trace.head(300), "outage-of-best", "openrouter")
    events = events_frame(result, trace.head(300), run_id="t")
    assert tuple(events.columns) == EVENT_FIELDS
    assert events.height == result.attempts.height
    assert (events["source"] == "simulator").all()
    assert events.filter(pl.col("attempt") == 0)["propensity"].is_between(0, 1).all()
    assert events["candidates"].list.len().min() == 5
    path = tmp_path / "telemetry.duckdb"
    assert write_events(path, [events]) == events.height
    replayed = load_trace(path)
    assert replayed.height == 300
    assert replayed["prompt_tokens"].to_list() == trace.head(300)["prompt_tokens"].to_list()


class _Counting(Policy):
    name = "counting-test"

    def __init__(self):
        pass

    def distribution(self, candidates, context):
        self.calls_ = getattr(self, "calls_", 0) + 1
        return {c.endpoint_id: 1.0 / len(candidates) for c in candidates}

    def update(self, observation):
        self.updates_ = getattr(self, "updates_", 0) + 1
        assert observation.now >= observation.context.now


def test_policy_sees_every_request_and_every_attempt_outcome(trace):
    result = replay(trace.head(200), "rate-limited-cheap", _Counting())
    policy = result.policy_object
    assert policy.calls_ == 200
    assert 0 < policy.updates_ <= result.attempts.height
    assert np.isclose(result.requests["propensity"].mean(), 1 / 6)


def test_dispatch_timeouts_cap_attempts_and_keep_regret_exact(trace):
    from policies.simulator.world import Degradation, FAIL_TIMEOUT
    start = trace["timestamp"].min()
    world = load_scenario("steady").bind(start, trace["timestamp"].max() - start)
    slow = world.endpoint_ids[0]
    world = replace(world, degradations=(Degradation(slow, 0.0, 1e-6, latency_factor=200.0),))
    streamed = trace.head(300).with_columns(stream=pl.Series([i % 2 == 0 for i in range(300)]))
    for name in (ORACLE, "cheapest"):
        result = replay(streamed, world, name, ReplayConfig(attempt_timeout_s=20.0))
        timed_out = result.attempts.filter(pl.col("code") == FAIL_TIMEOUT)
        assert result.requests["regret"].min() >= 0.0
        if name == ORACLE:
            assert result.requests["regret"].max() == 0.0 and timed_out.height == 0
            continue
        assert timed_out.height > 0 and (timed_out["latency_s"] == 20.0).all()
        assert (timed_out["endpoint_id"] == slow).all()
        assert result.requests["success"].all()  # every timed-out request fell back and was served
        # Streams only wait for the first byte: some streamed requests finish on the slow endpoint.
        served_slow = result.requests.filter(pl.col("served_endpoint") == slow)["request"]
        assert served_slow.len() > 0 and all(i % 2 == 0 for i in served_slow)


def test_fit_only_policy_is_refitted_during_replay(trace):
    """regression learns only by fit: replay refits it on a schedule, as serving's refit job does."""
    refitted = replay(trace, "steady", "regression", ReplayConfig(seed=1, refit_every_s=120.0))
    frozen = replay(trace, "steady", "regression", ReplayConfig(seed=1, refit_every_s=None))
    def fitted(policy):  # scikit-learn convention: learned state ends in "_"
        return [name for name in vars(policy) if name.endswith("_") and not name.startswith("_")]

    assert fitted(refitted.policy_object) and not fitted(frozen.policy_object)
    assert refitted.requests["regret"].mean() < 0.7 * frozen.requests["regret"].mean()


@pytest.mark.parametrize("scenario", ["steady", "outage-of-best"])
@pytest.mark.parametrize("name", ["thompson", "linucb"])
def test_batched_decisions_replay_exactly_as_one_at_a_time(trace, scenario, name):
    batched = replay(trace, scenario, name, ReplayConfig(seed=6))
    single = replay(trace, scenario, name, ReplayConfig(seed=6, batch_decisions=False))
    assert batched.requests.equals(single.requests) and batched.attempts.equals(single.attempts)
    if name == "thompson":
        assert single.requests["propensity"].n_unique() > 10  # real Monte-Carlo propensities were compared
    else:  # greedy: the floor or all but the floor, and both occur
        assert single.requests["propensity"].n_unique() >= 2


@pytest.mark.parametrize("name", [n for n in available_policies() if not getattr(make_policy(n), "reads_live_stats", True)])
def test_policies_that_skip_live_stats_route_as_if_they_had_them(trace, name):
    policy = make_policy(name)
    if "seed" in policy.get_params():
        policy = make_policy(name, seed=3)
    with_stats = type("WithLiveStats", (type(policy),), {"reads_live_stats": True})(**policy.get_params())
    skipped = replay(trace.head(600), "outage-of-best", policy, ReplayConfig(seed=9))
    kept = replay(trace.head(600), "outage-of-best", with_stats, ReplayConfig(seed=9))
    assert skipped.requests.equals(kept.requests) and skipped.attempts.equals(kept.attempts)


@pytest.mark.parametrize("name", [n for n in available_policies() if not getattr(make_policy(n), "reads_in_flight", True)])
def test_policies_that_skip_in_flight_counts_route_as_if_they_had_them(trace, name):
    policy = make_policy(name)
    assert policy.reads_live_stats  # they read stats, so the loop keeps those
    with_counts = type("WithInFlight", (type(policy),), {"reads_in_flight": True})(**policy.get_params())
    skipped = replay(trace.head(600), "outage-of-best", policy, ReplayConfig(seed=9))
    kept = replay(trace.head(600), "outage-of-best", with_counts, ReplayConfig(seed=9))
    assert skipped.requests.equals(kept.requests) and skipped.attempts.equals(kept.attempts)


def test_only_policies_that_read_in_flight_counts_get_them():
    seen = []
    least_busy = make_policy("least-busy")
    spy = type("Spy", (type(least_busy),), {"_probabilities": lambda self, candidates, context: (
        seen.append(dict(context.in_flight)), super(type(self), self)._probabilities(candidates, context))[1]})()
    replay(load_trace("azure-conv", limit=50), "steady", spy, ReplayConfig(seed=1))
    assert seen and all(len(counts) == 5 for counts in seen)  # every endpoint's count, as serving passes
    assert {"openrouter", "fastest"} <= {n for n in available_policies()
                                         if not getattr(make_policy(n), "reads_in_flight", True)}
