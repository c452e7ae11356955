import numpy as np
import pytest
from pydantic import ValidationError

from policies.simulator.scenario import available_scenarios, incident_duration_s, load_scenario
from policies.simulator.world import FAIL_5XX, FAIL_429, OK


def test_shipped_scenarios():
    assert set(available_scenarios()) >= {"steady", "outage-of-best", "price-cut", "slow-degradation",
                                           "rate-limited-cheap"}
    for name in available_scenarios():
        world = load_scenario(name).bind(1000.0, 3600.0)
        assert world.synthetic and world.sources and len(world.endpoints) >= 5


def test_outage_uses_real_incident_quantile_and_fails_everything_inside():
    world = load_scenario("outage-of-best").bind(0.0, 3600.0)
    outage = world.outages[0]
    assert outage.start_s == 900.0
    assert outage.end_s - outage.start_s == pytest.approx(incident_duration_s(0.25))
    assert 10 * 60 < incident_duration_s(0.25) < 60 * 60
    times = np.array([100.0, 1000.0, 2000.0, 3500.0])
    outcomes = world.sample(np.random.default_rng(0), times, np.full(4, 100))
    column = world.index(outage.endpoint_id)
    inside = (times >= outage.start_s) & (times < outage.end_s)
    assert (outcomes.code[inside, column] == FAIL_5XX).all()


def test_price_change_and_degradation_apply_from_their_time():
    world = load_scenario("price-cut").bind(0.0, 1000.0)
    change = world.price_changes[0]
    before, after = world.candidates_at(499.0), world.candidates_at(500.0)
    column = world.index(change.endpoint_id)
    assert before[column].prompt_price == 9e-7 and after[column].prompt_price == change.prompt_price
    degraded = load_scenario("slow-degradation").bind(0.0, 1000.0)
    times = np.array([0.0, 900.0] * 2000)
    outcomes = degraded.sample(np.random.default_rng(1), times, np.full(times.size, 200))
    groq = degraded.index("groq/meta-llama/llama-2-70b-chat")
    early, late = outcomes.ttft_s[times == 0.0, groq], outcomes.ttft_s[times == 900.0, groq]
    assert np.median(late) / np.median(early) == pytest.approx(5.0, rel=0.1)
    assert (outcomes.code[times == 900.0, groq] != OK).mean() > 0.1


def test_load_slows_and_hard_limit_rejects():
    world = load_scenario("rate-limited-cheap").bind(0.0, 100.0)
    budget = world.index("budget/meta-llama/llama-2-70b-chat")
    in_flight = np.zeros((3, len(world.endpoints)))
    in_flight[:, budget] = [1, 4, 6]
    assert world.load_factor(in_flight)[:, budget].tolist() == [1.0, 2.0, 3.0]
    assert world.over_limit(in_flight)[:, budget].tolist() == [False, True, True]
    assert world.load_factor(in_flight)[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert FAIL_429 != FAIL_5XX


def test_bad_scenario_names_the_problem(tmp_path):
    with pytest.raises(KeyError, match="steady"):
        load_scenario("no-such-world")
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nendpoints:\n  - {endpoint_id: a, provider: a, model: m, profile: nope, "
                    "prompt_price: 1, completion_price: 1}\n")
    with pytest.raises(ValidationError, match="groq-70b"):
        load_scenario(path)


def test_replacing_endpoints_rebuilds_the_index():
    from dataclasses import replace
    world = load_scenario("rate-limited-cheap").bind(0.0, 100.0)
    fewer = replace(world, endpoints=world.endpoints[3:])
    assert fewer.index(world.endpoint_ids[3]) == 0 and world.index(world.endpoint_ids[3]) == 3
    with pytest.raises(KeyError):
        fewer.index(world.endpoint_ids[0])
