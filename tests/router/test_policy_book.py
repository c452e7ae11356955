"""The refit path serving uses: telemetry events -> fitted copy -> saved, versioned, swapped in."""
from __future__ import annotations

import numpy as np

from policies.base import Candidate, RequestFeatures, RoutingContext
from router.policy_book import PolicyBook
from telemetry.events import AttemptEvent
from telemetry.store import events_frame


def _events(n: int = 300) -> list[AttemptEvent]:
    rng = np.random.default_rng(0)
    events = []
    for i in range(n):
        endpoint = ("fast", "slow")[i % 2]
        latency = (0.2 if endpoint == "fast" else 3.0) * rng.uniform(0.9, 1.1)
        events.append(AttemptEvent(
            request_id=str(i), generation_id=f"gen-{i}", ts=1_800_000_000.0 + i, key_id="k", requested_model="m/x",
            served_model="m/x", endpoint_id=f"{endpoint}/m/x", provider=endpoint, attempt=0,
            candidates=("fast/m/x", "slow/m/x"), policy="uniform", policy_version="1", propensity=0.5,
            prompt_tokens=100, max_tokens=100, completion_tokens=100, ttft_s=latency / 4, latency_s=latency,
            tokens_per_s=100 / (latency * 0.75), status=200, prompt_price=1e-7, completion_price=1e-7,
            cost=2e-5))
    return events


def test_refit_swaps_in_a_versioned_fitted_policy(tmp_path):
    book = PolicyBook("regression", per_model={"m/x": "regression"}, min_prob=0.02)
    before = book.for_model("m/x")
    versions = book.refit(events_frame(_events()), tmp_path)
    after = book.for_model("m/x")
    assert after is not before and after.version in versions and after.version != before.version
    assert (tmp_path / f"{after.version}.pkl").exists()
    candidates = [Candidate(f"{p}/m/x", p, "m/x", 1e-7, 1e-7) for p in ("fast", "slow")]
    context = RoutingContext(features=RequestFeatures(prompt_tokens=100, expected_output_tokens=100), now=1.9e9)
    probabilities = after.distribution(candidates, context)
    assert probabilities["fast/m/x"] > 0.9


def test_online_policies_are_not_refitted_while_serving(tmp_path):
    book = PolicyBook("thompson")
    before = book.for_model("any")
    assert book.refit(events_frame(_events()), tmp_path) == []
    assert book.for_model("any") is before
    assert book.refit(events_frame(_events()), tmp_path, online_too=True)  # warm start at startup
    assert book.for_model("any") is not before
