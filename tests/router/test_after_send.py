"""Book-keeping after the answer is sent (`Dispatcher.complete(defer_bookkeeping=True)`): it still
happens when the client is gone, and exactly once."""
from __future__ import annotations

import asyncio
import json
import socket
import time
from decimal import Decimal

import httpx
import pytest

from router.app import AfterSendResponse
from tests.router.conftest import AUTH, control

HELLO = [{"role": "user", "content": "Say hello"}]


def test_the_after_job_runs_once_even_when_the_send_fails():
    ran = []
    response = AfterSendResponse(b'{"ok": true}', lambda: ran.append(1))
    sent = []

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "http.response.body":
            raise OSError("client went away")

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    with pytest.raises(OSError):
        asyncio.run(response({"type": "http", "method": "POST", "headers": []}, receive, send))
    assert sent == ["http.response.start", "http.response.body"] and ran == [1]


def test_a_client_that_hangs_up_before_the_answer_is_still_charged_and_recorded(gateway, demo):
    key = httpx.post(gateway.url + "/v1/keys", headers=AUTH, json={"name": "leaver", "account": "leavers"}).json()["key"]
    httpx.post(gateway.url + "/v1/credits", headers=AUTH, json={"account": "leavers", "amount": "1.00"}).raise_for_status()
    control(demo, "alpha", ttft_s=0.3)
    body = json.dumps({"model": "test/llama", "messages": HELLO, "max_tokens": 5,
                       "provider": {"order": ["alpha"], "allow_fallbacks": False}}).encode()
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as conn:
        conn.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"authorization: Bearer " + key.encode() + b"\r\ncontent-length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body)
        time.sleep(0.05)  # the gateway has the request and is waiting on the upstream: hang up now
    credits: dict = {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        credits = httpx.get(gateway.url + "/v1/credits", headers={"authorization": f"Bearer {key}"}).json()["data"]
        if Decimal(str(credits["total_usage"])) > 0:
            break
        time.sleep(0.05)
    writer = gateway.app.state.telemetry
    writer.flush()
    rows = writer.read_frame("SELECT cost, error_class FROM events WHERE provider = 'alpha'").to_dicts()
    assert len(rows) == 1 and rows[0]["error_class"] is None and rows[0]["cost"] > 0
    # charged exactly once: list cost plus the 5 % platform fee, and no hold left behind
    assert Decimal(str(credits["total_usage"])) == pytest.approx(Decimal(repr(rows[0]["cost"])) * Decimal("1.05"),
                                                                 abs=Decimal("1e-9"))
    assert Decimal(str(credits["reserved"])) == 0


def test_an_explained_answer_lists_its_successful_attempt(gateway):
    response = httpx.post(gateway.url + "/v1/chat/completions", headers={**AUTH, "x-switchyard-explain": "1"},
                          json={"model": "test/llama", "messages": HELLO, "max_tokens": 5,
                                "provider": {"order": ["beta"], "allow_fallbacks": False}})
    attempts = response.json()["switchyard_metadata"]["attempts"]
    assert [(a["provider"], a["status"], a["error_class"]) for a in attempts] == [("beta", 200, None)]
