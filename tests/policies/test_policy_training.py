from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest

from policies import Candidate, make_policy
from policies.training import fit_from_events, observations_from_events, refit_snapshot
from telemetry.synthetic import synthetic_events_frame
from policy_world import context_at
from telemetry.events import EVENT_FIELDS, AttemptEvent


def _event(i: int, endpoint: str, error_class: str | None = None, **fields) -> AttemptEvent:
    base = dict(request_id=f"r{i}", generation_id=f"gen-{i}", ts=1_700_000_000.0 + i, key_id="k", requested_model="a/m",
                served_model="a/m", endpoint_id=endpoint, provider=endpoint.split("/")[0], attempt=0,
                candidates=("fast/a/m", "slow/a/m"), policy="uniform", policy_version="0", propensity=0.5,
                prompt_tokens=100, completion_tokens=0 if error_class else 50, error_class=error_class)
    base.update(fields)
    return AttemptEvent(**base)


def _frame(events: list[AttemptEvent]) -> pl.DataFrame:
    return pl.DataFrame([dataclasses.asdict(e) for e in events]).select(EVENT_FIELDS)


def test_events_become_observations_with_the_request_features():
    events = [_event(1, "slow/a/m", ttft_s=1.0, latency_s=2.0, tokens_per_s=50.0, stream=True, cost=1e-5),
              _event(0, "fast/a/m", error_class="timeout", max_tokens=300, has_tools=True)]
    first, second = observations_from_events(_frame(events))
    assert first.endpoint_id == "fast/a/m" and not first.success and first.error_class == "timeout"
    assert first.context.features.expected_output_tokens == 300 and first.context.features.has_tools
    assert second.success and second.ttft_s == 1.0 and second.tokens_per_s == 50.0 and second.cost == 1e-5
    assert second.context.features.stream and second.context.features.expected_output_tokens == 50
    assert second.now == second.context.now == 1_700_000_001.0
    assert second.context.features.hour_of_day == 22  # 1_700_000_001 is 22:13 UTC
    assert second.propensity == 0.5


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="ttft_s"):
        observations_from_events(pl.DataFrame({"ts": [0.0]}))


def test_fit_from_events_returns_a_fitted_copy():
    rng = np.random.default_rng(0)
    events = []
    for i in range(200):
        if i % 2:
            events.append(_event(i, "fast/a/m", ttft_s=0.2 * rng.lognormal(0, 0.1), tokens_per_s=100.0))
        else:
            events.append(_event(i, "slow/a/m", ttft_s=2.0 * rng.lognormal(0, 0.1), tokens_per_s=30.0))
    template = make_policy("regression", min_prob=0.0)
    fitted = fit_from_events(template, _frame(events))
    assert fitted is not template and not hasattr(template, "coef_")
    candidates = [Candidate("fast/a/m", "fast", "a/m", 1e-6, 1e-6), Candidate("slow/a/m", "slow", "a/m", 1e-6, 1e-6)]
    assert fitted.distribution(candidates, context_at(0.0))["fast/a/m"] > 0.9


def test_refit_snapshot_from_the_telemetry_schema(tmp_path):
    events = synthetic_events_frame(3000, n_endpoints=6, error_rate=0.1, seed=3)
    observations = observations_from_events(events)
    assert len(observations) == 3000
    assert all(o.ttft_s is None for o in observations if not o.success)
    snapshot = refit_snapshot(make_policy("regression"), events, tmp_path)
    assert snapshot.version.startswith("regression-") and (tmp_path / f"{snapshot.version}.pkl").exists()
    assert snapshot.policy.n_observations_ > 2500  # client-cancel and user errors are not counted
    in_memory = refit_snapshot(make_policy("regression"), events)
    assert in_memory.version == snapshot.version
