"""The circuit breaker through the real gateway: opens, skips, half-opens with one trial, closes.

Counts come from the demo upstream's own /_stats, so "skipped" means no request reached it.
Gateway settings: breaker_failures=3, breaker_cooldown_s=0.5.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .conftest import AUTH, call
from .harness import control, upstream_stats

ORDER = {"order": ["alpha", "beta"], "only": ["alpha", "beta"]}


def served_by(gateway, n: int) -> list[str]:
    providers = []
    for _ in range(n):
        status, body, _, _ = call(gateway, provider=ORDER)
        assert status == 200
        providers.append(body["provider"])
    return providers


def test_breaker_opens_after_repeated_failures_and_skips_the_endpoint(make_gateway, reset):
    gateway = make_gateway(breaker_cooldown_s=60.0)
    control(reset, "alpha", mode="fail-500")
    assert served_by(gateway, 3) == ["beta"] * 3
    assert upstream_stats(reset)["alpha"] == 3
    status, body, wall, _ = call(gateway, provider=ORDER)
    assert status == 200 and body["provider"] == "beta"
    assert body["switchyard_metadata"]["attempts"][0]["error_class"] == "circuit-open"
    assert served_by(gateway, 5) == ["beta"] * 5
    assert upstream_stats(reset)["alpha"] == 3  # open: not one more request reached alpha


def test_breaker_half_opens_after_the_cooldown_and_closes_on_success(make_gateway, reset):
    gateway = make_gateway()
    control(reset, "alpha", mode="fail-500")
    served_by(gateway, 3)
    control(reset, "alpha", mode="normal")  # alpha recovers (and its request counter restarts)
    assert served_by(gateway, 2) == ["beta"] * 2  # still open: the cooldown has not passed
    assert upstream_stats(reset)["alpha"] == 0
    time.sleep(0.6)
    assert served_by(gateway, 3) == ["alpha"] * 3  # the trial succeeded and closed the breaker


def test_failed_trial_reopens_for_a_full_cooldown(make_gateway, reset):
    gateway = make_gateway()
    control(reset, "alpha", mode="fail-500")
    served_by(gateway, 3)
    time.sleep(0.6)
    assert served_by(gateway, 4) == ["beta"] * 4
    assert upstream_stats(reset)["alpha"] == 4  # exactly one trial after the cooldown, then open again


def test_half_open_lets_exactly_one_trial_through_under_concurrency(make_gateway, reset):
    gateway = make_gateway(attempt_timeout_s=0.5, request_deadline_s=2.0)
    control(reset, "alpha", mode="fail-500")
    served_by(gateway, 3)
    control(reset, "alpha", mode="hang")  # the trial will take a whole attempt timeout
    time.sleep(0.6)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(gateway, provider=ORDER), range(8)))
    assert all(status == 200 and body["provider"] == "beta" for status, body, _, _ in results)
    assert upstream_stats(reset)["alpha"] == 1


def test_failures_in_bursts_are_absorbed_and_the_endpoint_returns(make_gateway, reset):
    """alpha fails its next 6 requests (a burst), then recovers: no request fails meanwhile, and
    alpha sees only the breaker's threshold plus one trial per cooldown."""
    gateway = make_gateway()
    control(reset, "alpha", mode="fail-500", fail_first=6)
    providers = []
    started = time.monotonic()
    while time.monotonic() - started < 4.0 and providers[-3:] != ["alpha"] * 3:
        providers += served_by(gateway, 1)
        time.sleep(0.05)
    assert providers[-3:] == ["alpha"] * 3, providers  # back in service once the burst ended
    assert providers.count("beta") >= 6  # every failed alpha attempt fell back to beta
    # 3 to open, then one trial per 0.5 s cooldown until the 7th request succeeds
    assert upstream_stats(reset)["alpha"] == 6 + 3


def test_every_breaker_open_is_a_fast_503_without_upstream_calls(make_gateway, reset):
    gateway = make_gateway(breaker_cooldown_s=60.0)
    for name in ("alpha", "beta"):
        control(reset, name, mode="fail-500")
    for _ in range(3):
        assert call(gateway, provider=ORDER)[0] == 502
    before = upstream_stats(reset)
    status, body, wall, _ = call(gateway, provider=ORDER)
    assert status == 503 and body["error"]["type"] == "service_unavailable"
    assert {a["error_class"] for a in body["error"]["metadata"]["attempts"]} == {"circuit-open"}
    assert upstream_stats(reset) == before and wall < 0.5


def test_a_cancelled_trial_does_not_leave_the_breaker_stuck(make_gateway, reset):
    """The half-open trial is a stream whose client goes away mid-way: the next request after the
    cooldown must still be allowed to try the endpoint again."""
    gateway = make_gateway(stream_idle_timeout_s=2.0, request_deadline_s=5.0)
    control(reset, "alpha", mode="fail-500")
    served_by(gateway, 3)
    control(reset, "alpha", mode="slow-stream")
    time.sleep(0.6)
    body = {"model": "rel/chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
            "stream": True, "provider": ORDER}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=10) as r:
        for line in r.iter_lines():
            if '"content"' in line:
                break  # the trial is streaming from alpha: hang up on it
    time.sleep(0.3)
    control(reset, "alpha", mode="normal")
    time.sleep(0.6)
    providers = []
    for _ in range(20):
        providers += served_by(gateway, 1)
        if providers[-1] == "alpha":
            break
        time.sleep(0.1)
    assert providers[-1] == "alpha", providers
