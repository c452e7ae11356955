"""Every attempt through the real gateway lands in DuckDB, with its decision and propensity."""
from __future__ import annotations

import time

import httpx
import openai
import pytest

from router.app import create_app
from router.catalog import parse_catalog
from telemetry import analyst
from tests.conftest import ServerThread
from tests.router.conftest import AUTH, MASTER, catalog_dict, control

HELLO = [{"role": "user", "content": "Say hello"}]


def expected_distribution(prices: dict[str, tuple[float, float]], prompt_tokens: int, output_tokens: int,
                          min_prob: float) -> dict[str, float]:
    """OpenRouter's default by hand: weight 1/price², normalised, then the exploration floor."""
    weights = {e: 1.0 / (prompt_tokens * p + output_tokens * c) ** 2 for e, (p, c) in prices.items()}
    total = sum(weights.values())
    n = len(weights)
    return {e: (1 - n * min_prob) * w / total + min_prob for e, w in weights.items()}


def test_events_in_duckdb_match_the_requests_made(demo, settings):
    app = create_app(settings, catalog=parse_catalog(catalog_dict(demo)))
    generation_ids: dict[str, str] = {}
    with ServerThread(app) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        for i in range(6):
            generation_ids[f"plain{i}"] = client.chat.completions.create(
                model="test/llama", messages=HELLO, max_tokens=5).id
        control(demo, "alpha", mode="fail-500")
        for i in range(2):
            generation_ids[f"fallback{i}"] = client.chat.completions.create(
                model="test/llama", messages=HELLO, max_tokens=5,
                extra_body={"provider": {"order": ["alpha", "beta"]}}).id
        for i in range(2):
            chunks = list(client.chat.completions.create(
                model="test/llama", messages=HELLO, max_tokens=5, stream=True,
                extra_body={"provider": {"order": ["gamma"]}}))
            generation_ids[f"stream{i}"] = chunks[0].id
        detail = httpx.get(server.url + "/v1/generation", params={"id": generation_ids["fallback0"]},
                           headers=AUTH).json()["data"]
        assert detail["num_attempts"] == 2 and detail["provider"] == "beta"
        assert [(a["provider"], a["status"], a["error_class"]) for a in detail["attempts"]] == [
            ("alpha", 500, "5xx"), ("beta", 200, None)]
    # the server has shut down: everything queued must have been flushed
    events = analyst.events(settings.telemetry_path).sort(["ts", "attempt"])
    assert events.height == 6 + 2 * 2 + 2
    assert set(events["generation_id"]) == set(generation_ids.values())
    by_generation = {g: events.filter(events["generation_id"] == g) for g in generation_ids.values()}
    for name, generation_id in generation_ids.items():
        rows = by_generation[generation_id].sort("attempt").to_dicts()
        assert [r["attempt"] for r in rows] == list(range(len(rows)))
        final = rows[-1]
        assert final["error_class"] is None and final["completion_tokens"] == 5
        assert final["cost"] == pytest.approx(final["prompt_tokens"] * final["prompt_price"]
                                              + final["completion_tokens"] * final["completion_price"])
        assert final["stream"] is name.startswith("stream")
        if name.startswith("fallback"):
            assert [r["provider"] for r in rows] == ["alpha", "beta"] and rows[0]["cost"] == 0.0
            assert rows[0]["policy"] == "order" and rows[0]["propensity"] == 1.0
    # propensities of the load-balanced requests are exactly the policy's probabilities
    prices = {"alpha/test/llama": (3e-7, 6e-7), "beta/test/llama": (1e-7, 2e-7), "gamma/test/llama": (2e-7, 4e-7)}
    expected = expected_distribution(prices, prompt_tokens=7, output_tokens=5, min_prob=settings.min_prob)
    assert sum(expected.values()) == pytest.approx(1.0)
    plain = events.filter(events["generation_id"].is_in([generation_ids[f"plain{i}"] for i in range(6)]))
    for row in plain.filter(plain["attempt"] == 0).to_dicts():
        assert row["policy"] == "openrouter"
        assert set(row["candidates"]) == set(prices)
        assert row["propensity"] == pytest.approx(expected[row["endpoint_id"]], rel=1e-9)


def test_client_disconnect_cancels_the_upstream_call(demo, settings):
    control(demo, "alpha", mode="slow-stream")  # one token every 0.5 s
    app = create_app(settings.with_(stream_idle_timeout_s=5.0), catalog=parse_catalog(catalog_dict(demo)))
    with ServerThread(app) as server:
        with httpx.stream("POST", server.url + "/v1/chat/completions", headers=AUTH, timeout=10, json={
                "model": "test/llama", "messages": HELLO, "max_tokens": 50, "stream": True,
                "provider": {"order": ["alpha"], "allow_fallbacks": False}}) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and '"content":"[alpha]' in line.replace(" ", ""):
                    break  # got the first token: hang up
        generation_id = response.headers["x-generation-id"]
        # While the server still runs (its shutdown would cancel the stream too), the hang-up alone
        # must end the attempt: one token every 0.5 s, so within a few tokens' time.
        rows: list = []
        deadline = time.monotonic() + 3.0
        while not rows and time.monotonic() < deadline:
            time.sleep(0.1)
            app.state.telemetry.flush()
            rows = app.state.telemetry.read_frame("SELECT error_class, latency_s FROM events WHERE generation_id = $id",
                                                  {"id": generation_id}).to_dicts()
    assert len(rows) == 1 and rows[0]["error_class"] == "client-cancel"
    assert rows[0]["latency_s"] < 5.0  # cancelled long before the 50 tokens (25 s) would have streamed
