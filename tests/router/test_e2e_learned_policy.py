"""A learned policy in the real gateway moves traffic to the better endpoint, logging propensities."""
from __future__ import annotations

from collections import Counter

import httpx
import openai
import pytest

from router.app import create_app
from router.catalog import parse_catalog
from telemetry import analyst
from tests.conftest import ServerThread
from tests.router.conftest import AUTH, MASTER, catalog_dict, control

HELLO = [{"role": "user", "content": "Say hello"}]


@pytest.mark.parametrize("policy", ["thompson", "discounted-ucb"])
def test_learned_policy_moves_traffic_to_the_best_endpoint(demo, settings, policy):
    control(demo, "alpha", ttft_s=0.005)                 # fast and reliable, but the dearest
    control(demo, "beta", ttft_s=0.005, error_rate=0.6)  # cheapest, fails 60% of the time
    control(demo, "gamma", ttft_s=0.25)                  # reliable but slow
    settings = settings.with_(policy=policy, min_prob=0.02, attempt_timeout_s=2.0)
    app = create_app(settings, catalog=parse_catalog(catalog_dict(demo)))
    first_choice = []
    with ServerThread(app) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER, max_retries=0)
        for _ in range(80):
            raw = client.chat.completions.with_raw_response.create(model="test/llama", messages=HELLO, max_tokens=5)
            first_choice.append(raw.parse().provider)
        explained = httpx.post(server.url + "/v1/chat/completions", headers={**AUTH, "x-switchyard-explain": "1"},
                               json={"model": "test/llama", "messages": HELLO, "max_tokens": 5}).json()
    late = Counter(first_choice[-30:])
    assert late["alpha"] >= 21, late  # ≥ 70% of the last 30 requests served by the best endpoint
    route = explained["switchyard_metadata"]["routes"][0]
    assert route["policy"] == policy and route["policy_version"].startswith(policy)
    top = route["candidates"][0]
    assert top["endpoint_id"] == "alpha/test/llama" and top["probability"] > 0.5
    events = analyst.events(settings.telemetry_path)
    decided = events.filter(events["attempt"] == 0)
    assert decided.height == 81 and set(decided["policy"]) == {policy}
    assert decided["propensity"].min() > 0 and decided["propensity"].max() <= 1
    assert decided["policy_version"].str.starts_with(policy).all()
