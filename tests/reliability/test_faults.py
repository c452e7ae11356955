"""Every upstream fault ends in an answer or a clean OpenAI-shaped error, within the deadline.

Complements tests/router/test_e2e_chat.py (which checks that each fault falls back to a healthy
endpoint) with what it does not cover: wall-time bounds when no endpoint can serve, faults on the
only endpoint, slow streams, 429 with Retry-After, and failures in bursts.
Settings here: attempt timeout 0.4 s, stream idle timeout 0.4 s, request deadline 1.0 s.
"""
from __future__ import annotations

import pytest

from router.app import create_app
from router.catalog import parse_catalog
from router.settings import Settings
from tests.conftest import ServerThread

from .conftest import BEHAVIOURS, MASTER, assert_openai_error, call
from .harness import Listener, catalog_for, control, free_port

DEADLINE_S = 1.0
MARGIN_S = 0.6  # scheduling slack on a shared 2-core machine, not the gateway's tolerance


NON_STREAM_FAULTS = {"fail-500": 502, "fail-429": 429, "hang": 504, "hang-mid-body": 504, "drop": 502,
                     "invalid-json": 502, "error-body": 502}


@pytest.mark.parametrize("fault, status", NON_STREAM_FAULTS.items())
def test_fault_on_the_only_endpoint_is_a_clean_error_within_the_deadline(make_gateway, reset, fault, status):
    gateway = make_gateway()
    control(reset, "alpha", mode=fault)
    got, body, wall, _ = call(gateway, provider={"only": ["alpha"]})
    assert got == status
    error = assert_openai_error(body, status)
    assert [a["endpoint"] for a in error["metadata"]["attempts"]] == ["alpha/rel/chat"]
    assert wall < DEADLINE_S + MARGIN_S


# Faults before the first token: a clean HTTP error (nothing was committed) or, once an upstream
# answered 2xx, an error event in the stream. Faults after it: an error chunk (finish_reason "error").
STREAM_FAULTS = ["fail-500", "fail-429", "hang", "drop", "malformed-sse", "broken-stream", "hang-mid-body"]


@pytest.mark.parametrize("fault", STREAM_FAULTS)
def test_stream_fault_on_the_only_endpoint_never_hangs(make_gateway, reset, fault):
    gateway = make_gateway()
    control(reset, "alpha", mode=fault)
    status, body, wall, _ = call(gateway, stream=True, max_tokens=8, provider={"only": ["alpha"]})
    assert wall < DEADLINE_S + MARGIN_S
    if status != 200:
        assert_openai_error(body, status)
        return
    last = body[-1]
    if "choices" in last:  # failed after the first token
        assert last["choices"][0]["finish_reason"] == "error"
        assert last["error"]["code"] == 502 and last["error"]["message"]
    else:  # failed before the first token, after headers were committed
        assert_openai_error(last, last["error"]["code"])


@pytest.mark.parametrize("stream", [False, True])
def test_every_endpoint_hanging_is_cut_at_the_request_deadline(make_gateway, reset, stream):
    gateway = make_gateway()
    for name in ("alpha", "beta", "gamma", "delta"):
        control(reset, name, mode="hang")
    status, body, wall, _ = call(gateway, stream=stream)
    assert status == 504
    attempts = assert_openai_error(body, 504)["metadata"]["attempts"]
    # 0.4 s + 0.4 s + the 0.2 s left: the third attempt is cut short (a fourth may start with ~0 s left).
    assert {a["error_class"] for a in attempts} == {"timeout"} and 3 <= len(attempts) <= 4
    assert DEADLINE_S - 0.05 <= wall < DEADLINE_S + MARGIN_S


def test_non_stream_hang_mid_body_falls_back_after_one_attempt_timeout(make_gateway, reset):
    gateway = make_gateway()
    control(reset, "alpha", mode="hang-mid-body")
    status, body, wall, _ = call(gateway, provider={"order": ["alpha", "beta"]})
    assert status == 200 and body["provider"] == "beta"
    assert [a["error_class"] for a in body["switchyard_metadata"]["attempts"]] == ["timeout", None]
    assert 0.35 <= wall < 0.4 + MARGIN_S


def test_slow_stream_within_the_idle_timeout_completes(make_gateway, reset):
    gateway = make_gateway(stream_idle_timeout_s=1.0, request_deadline_s=5.0)
    control(reset, "alpha", mode="slow-stream")  # 0.5 s between tokens
    status, chunks, wall, _ = call(gateway, stream=True, max_tokens=3, provider={"only": ["alpha"]})
    assert status == 200
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert len(text.split()) == 3 and chunks[-1]["usage"]["completion_tokens"] == 3
    assert 0.9 <= wall < 1.0 + MARGIN_S


def test_slow_stream_beyond_the_idle_timeout_ends_with_an_error_chunk(make_gateway, reset):
    gateway = make_gateway(stream_idle_timeout_s=0.3)
    control(reset, "alpha", mode="slow-stream")
    status, chunks, wall, _ = call(gateway, stream=True, max_tokens=6, provider={"only": ["alpha"]})
    assert status == 200
    assert chunks[-1]["choices"][0]["finish_reason"] == "error" and "stalled" in chunks[-1]["error"]["message"]
    assert wall < 0.3 + MARGIN_S


@pytest.mark.parametrize("stream", [False, True])
def test_429_with_retry_after_is_passed_on_when_no_endpoint_can_serve(make_gateway, reset, stream):
    gateway = make_gateway()
    control(reset, "alpha", mode="fail-429", retry_after_s=7.0)
    status, body, _, headers = call(gateway, stream=stream, provider={"only": ["alpha"]})
    assert status == 429
    assert_openai_error(body, 429)
    assert headers.get("retry-after") == "7"  # the official SDKs wait this long before retrying


def test_429_with_retry_after_falls_back_at_once(make_gateway, reset):
    gateway = make_gateway()
    control(reset, "alpha", mode="fail-429", retry_after_s=30.0)
    status, body, wall, _ = call(gateway, provider={"order": ["alpha", "beta"]})
    assert status == 200 and body["provider"] == "beta"
    assert wall < MARGIN_S  # the gateway does not sit out the Retry-After itself


def test_refused_and_reset_connections_fall_back_or_fail_fast(reset, tmp_path):
    """Two upstreams that never answer HTTP at all: a closed port (connection refused) and one
    that accepts and at once closes the socket (reset before any header)."""
    slammer = Listener()  # accepts, then closes without a byte
    catalog = catalog_for(reset, BEHAVIOURS, [])
    catalog["providers"]["refused"] = {"base_url": f"http://127.0.0.1:{free_port()}/v1"}
    catalog["providers"]["slammer"] = {"base_url": slammer.url + "/v1"}
    catalog["models"] = [{"id": "rel/edge", "endpoints": [
        {"provider": name, "prompt_price": 1e-7, "completion_price": 1e-7} for name in ("refused", "slammer", "alpha")]}]
    settings = Settings(demo="off", data_dir=str(tmp_path), master_key=MASTER, telemetry=False,
                        attempt_timeout_s=0.4, request_deadline_s=DEADLINE_S)
    try:
        with ServerThread(create_app(settings, catalog=parse_catalog(catalog))) as gateway:
            for stream in (False, True):
                status, body, wall, _ = call(gateway, stream=stream, model="rel/edge",
                                             provider={"order": ["refused", "slammer", "alpha"]})
                assert status == 200 and wall < MARGIN_S
                served = body["provider"] if not stream else body[0]["provider"]
                assert served == "alpha"
                status, body, wall, _ = call(gateway, stream=stream, model="rel/edge",
                                             provider={"only": ["refused", "slammer"]})
                assert status == 502 and wall < MARGIN_S
                classes = [a["error_class"] for a in assert_openai_error(body, 502)["metadata"]["attempts"]]
                assert classes == ["connect", "connect"]
        assert slammer.connections >= 2
    finally:
        slammer.close()
