"""The gateway as a real server, driven by the official openai client (sync and async)."""
from __future__ import annotations

import asyncio
import time

import openai
import pytest

from tests.router.conftest import AUTH, MASTER, control, upstream_requests

HELLO = [{"role": "user", "content": "Say hello"}]


def client(gateway, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=20, **kw)


def test_chat_completion_has_generation_id_provider_and_cost(gateway):
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="test/llama", messages=HELLO, max_tokens=10, extra_body={"provider": {"order": ["alpha"]}})
    answer = raw.parse()
    assert answer.id.startswith("gen-")
    assert raw.headers["x-generation-id"] == answer.id
    assert answer.model == "test/llama"
    assert answer.provider == "alpha"  # extra fields survive the SDK's model
    assert answer.choices[0].message.content.startswith("[alpha]")
    usage = answer.usage
    assert usage.completion_tokens == 10
    expected = usage.prompt_tokens * 3e-7 + usage.completion_tokens * 6e-7
    assert usage.cost == pytest.approx(expected * 1.05, rel=1e-9)  # list price + 5% platform fee


def test_api_v1_prefix_and_async_client(gateway):
    async def run():
        async with openai.AsyncOpenAI(base_url=gateway.url + "/api/v1", api_key=MASTER, max_retries=0) as aclient:
            results = await asyncio.gather(*[
                aclient.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=5) for _ in range(8)])
        return results

    results = asyncio.run(run())
    assert len({r.id for r in results}) == 8
    assert all(r.choices[0].message.content for r in results)


def test_stream_relays_chunks_and_ends_with_usage(gateway):
    stream = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=12, stream=True,
        extra_body={"provider": {"order": ["beta"]}})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[beta]") and len(text.split()) == 12
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 12  # not buffered into one
    last = chunks[-1]
    assert last.usage is not None and last.usage.completion_tokens == 12
    assert last.usage.cost == pytest.approx((last.usage.prompt_tokens * 1e-7 + 12 * 2e-7) * 1.05)
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].id.startswith("gen-")


def test_stream_sends_keepalive_comments_while_waiting(gateway, demo):
    import httpx

    control(demo, "alpha", ttft_s=0.3)
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={
        "model": "test/llama", "messages": HELLO, "max_tokens": 3, "stream": True,
        "provider": {"order": ["alpha"]}}, timeout=10, headers=AUTH) as response:
        body = b"".join(response.iter_bytes())
    assert response.status_code == 200
    assert body.startswith(b": SWITCHYARD PROCESSING")
    assert body.rstrip().endswith(b"data: [DONE]")


@pytest.mark.parametrize("fault", ["fail-500", "fail-429", "hang", "drop", "invalid-json", "error-body"])
def test_falls_back_when_first_endpoint_fails(gateway, demo, fault):
    control(demo, "alpha", mode=fault)
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=5, extra_body={"provider": {"order": ["alpha", "beta"]}})
    assert answer.provider == "beta"
    assert upstream_requests(demo)["alpha"] == 1


@pytest.mark.parametrize("fault", ["fail-500", "fail-429", "hang", "drop", "malformed-sse"])
def test_stream_falls_back_before_first_token(gateway, demo, fault):
    control(demo, "alpha", mode=fault)
    chunks = list(client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=5, stream=True,
        extra_body={"provider": {"order": ["alpha", "beta"]}}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[beta]")


def _raw_stream(gateway, **body) -> list[dict]:
    import httpx
    import json

    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json={"stream": True, **body},
                      timeout=20, headers=AUTH) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line[6:]) for line in lines[:-1]]


def test_stream_failure_after_first_token_ends_with_error_chunk(gateway, demo):
    control(demo, "alpha", mode="broken-stream")
    chunks = _raw_stream(gateway, model="test/llama", messages=HELLO, max_tokens=20,
                         provider={"order": ["alpha", "beta"]})
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text.startswith("[alpha]")
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "error" and "stream broke" in last["error"]["message"]
    assert upstream_requests(demo)["beta"] == 0  # tokens were already sent: no silent switch
    # The official client surfaces that final chunk as an APIError, after the partial content.
    control(demo, "alpha", mode="broken-stream")
    received = []
    with pytest.raises(openai.APIError):
        for chunk in client(gateway).chat.completions.create(
                model="test/llama", messages=HELLO, max_tokens=20, stream=True,
                extra_body={"provider": {"order": ["alpha"]}}):
            received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received).startswith("[alpha]")


def test_stream_that_stalls_mid_way_ends_within_idle_timeout(gateway, demo):
    control(demo, "alpha", mode="hang-mid-body")
    chunks = _raw_stream(gateway, model="test/llama", messages=HELLO, max_tokens=20, provider={"order": ["alpha"]})
    assert chunks[-1]["choices"][0]["finish_reason"] == "error"
    assert "stalled" in chunks[-1]["error"]["message"]


def test_models_list_fallback(gateway, demo):
    for name in ("alpha", "beta", "gamma"):
        control(demo, name, mode="fail-500")
    control(demo, "claude", mode="normal")
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=5, extra_body={"models": ["test/claude"]})
    assert answer.model == "test/claude" and answer.provider == "claude"


def test_all_attempts_failed_lists_what_was_tried(gateway, demo):
    for name in ("alpha", "beta", "gamma"):
        control(demo, name, mode="fail-500")
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="test/llama", messages=HELLO, max_tokens=5)
    assert info.value.status_code == 502
    message = info.value.body["message"]
    assert all(f"{p}/test/llama" in message for p in ("alpha", "beta", "gamma"))


def test_allow_fallbacks_false_tries_only_the_first(gateway, demo):
    control(demo, "alpha", mode="fail-500")
    with pytest.raises(openai.InternalServerError):
        client(gateway).chat.completions.create(
            model="test/llama", messages=HELLO, max_tokens=5,
            extra_body={"provider": {"order": ["alpha"], "allow_fallbacks": False}})
    assert upstream_requests(demo)["beta"] == 0


def test_floor_orders_by_price(gateway, demo):
    control(demo, "beta", mode="fail-500")
    answer = client(gateway).chat.completions.create(model="test/llama:floor", messages=HELLO, max_tokens=5)
    # beta is cheapest but failing; gamma is the next cheapest, alpha the dearest
    assert answer.provider == "gamma"
    assert upstream_requests(demo)["alpha"] == 0


def test_nitro_orders_by_measured_throughput(gateway, demo):
    control(demo, "alpha", tokens_per_s=200.0)
    control(demo, "beta", tokens_per_s=50.0)
    control(demo, "gamma", tokens_per_s=1000.0)
    c = client(gateway)
    for name in ("alpha", "beta", "gamma"):  # one measured request each
        c.chat.completions.create(model="test/llama", messages=HELLO, max_tokens=12,
                                  extra_body={"provider": {"only": [name]}})
    time.sleep(0.1)  # each measurement is booked `bookkeeping_delay_s` (5 ms) after its answer
    answers = [c.chat.completions.create(model="test/llama:nitro", messages=HELLO, max_tokens=5) for _ in range(3)]
    assert {a.provider for a in answers} == {"gamma"}


def test_tool_calls_pass_through_and_back(gateway):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    c = client(gateway)
    for model in ("test/llama", "test/claude"):
        first = c.chat.completions.create(model=model, messages=HELLO, tools=tools, max_tokens=30)
        call = first.choices[0].message.tool_calls[0]
        assert first.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "get_weather" and '"city"' in call.function.arguments
        second = c.chat.completions.create(model=model, tools=tools, max_tokens=5, messages=HELLO + [
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"}])
        assert second.choices[0].message.content and not second.choices[0].message.tool_calls


def test_anthropic_upstream_translated(gateway):
    c = client(gateway)
    answer = c.chat.completions.create(model="test/claude", max_tokens=7, messages=[
        {"role": "system", "content": "be brief"}, *HELLO])
    assert answer.choices[0].message.content.startswith("[claude]")
    assert answer.usage.completion_tokens == 7 and answer.choices[0].finish_reason == "stop"
    chunks = list(c.chat.completions.create(model="test/claude", max_tokens=7, messages=HELLO, stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices).startswith("[claude]")
    assert chunks[-1].usage.completion_tokens == 7


def test_legacy_completions_and_embeddings(gateway):
    c = client(gateway)
    completion = c.completions.create(model="test/llama", prompt="Once upon", max_tokens=4)
    assert completion.choices[0].text.startswith("[") and completion.id.startswith("gen-")
    embedding = c.embeddings.create(model="test/embed", input=["a", "b"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 64
    assert embedding.model == "test/embed"
