from __future__ import annotations

import itertools

import pytest

from telemetry.events import AttemptEvent

from telemetry_testdata import T0


@pytest.fixture
def make_event():
    """Build AttemptEvents with sensible defaults; override any field by keyword."""
    counter = itertools.count()

    def build(**overrides) -> AttemptEvent:
        n = next(counter)
        fields = dict(
            request_id=f"req-{n}", generation_id=f"gen-{n}", ts=T0 + n, key_id="key-hash",
            requested_model="meta/llama-3-8b", served_model="meta/llama-3-8b", endpoint_id="alpha/llama-3-8b",
            provider="alpha", attempt=0, candidates=("alpha/llama-3-8b", "beta/llama-3-8b"), policy="openrouter-default",
            policy_version="1", propensity=0.75, prompt_tokens=100, max_tokens=256, stream=True, has_tools=False,
            completion_tokens=50, ttft_s=0.3, latency_s=1.3, tokens_per_s=50.0, status=200, error_class=None,
            prompt_price=1e-6, completion_price=2e-6, cost=2e-4, is_byok=False, source="gateway",
        )
        fields.update(overrides)
        return AttemptEvent(**fields)

    return build


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "telemetry.duckdb"
