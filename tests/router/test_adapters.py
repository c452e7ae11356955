"""Adapters in-process with httpx.MockTransport: request building and response translation."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from router.adapters import AnthropicAdapter, OpenAIAdapter, UpstreamError, redact
from router.adapters.base import LineSplitter, SSEDecoder
from router.upstream import open_stream, send_json

_LINE_BREAKS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # all that str.splitlines splits on

CHAT = {"model": "claude-x", "messages": [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\": 1}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
], "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
    "tool_choice": "required", "stop": "END", "temperature": 0.2}


def run(coro):
    return asyncio.run(coro)


def test_anthropic_request_translation():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"] = json.loads(request.content)
        seen["headers"] = request.headers
        return httpx.Response(200, json={"id": "msg_1", "model": "claude-x", "stop_reason": "tool_use",
                                         "content": [{"type": "text", "text": "Let me look."},
                                                     {"type": "tool_use", "id": "tu_2", "name": "look", "input": {"x": 2}}],
                                         "usage": {"input_tokens": 11, "output_tokens": 7}})

    async def go():
        adapter = AnthropicAdapter()
        request = adapter.build_request("http://up/v1", "secret-key", "chat", CHAT, stream=False)
        return await send_json(httpx.MockTransport(handler), adapter, request, "chat", 5.0)

    data, status = run(go())
    body = seen["body"]
    assert seen["headers"]["x-api-key"] == "secret-key" and "anthropic-version" in seen["headers"]
    assert body["system"] == "be brief" and body["max_tokens"] == 4096 and body["stop_sequences"] == ["END"]
    assert body["tool_choice"] == {"type": "any"} and body["tools"][0]["input_schema"] == {"type": "object"}
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "user"]  # tool result merged into a user turn
    assert body["messages"][0]["content"][1]["source"] == {"type": "base64", "media_type": "image/png", "data": "AAAA"}
    assert body["messages"][1]["content"][0] == {"type": "tool_use", "id": "call_1", "name": "look", "input": {"x": 1}}
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    message = data["choices"][0]["message"]
    assert data["choices"][0]["finish_reason"] == "tool_calls" and message["content"] == "Let me look."
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"x": 2}
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_anthropic_stream_translation():
    events = [
        ("message_start", {"message": {"usage": {"input_tokens": 5}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
        ("content_block_start", {"index": 1, "content_block": {"type": "tool_use", "id": "tu", "name": "f"}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}}),
        ("content_block_delta", {"index": 1, "delta": {"type": "input_json_delta", "partial_json": "1}"}}),
        ("message_delta", {"delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}),
        ("message_stop", {}),
    ]
    body = "".join(f"event: {n}\ndata: {json.dumps({'type': n, **d})}\n\n" for n, d in events).encode()

    async def go():
        transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body))
        adapter = AnthropicAdapter()
        request = adapter.build_request("http://up/v1", None, "chat", CHAT, stream=True)
        response, batches = await open_stream(transport, adapter, request, 5.0)
        return [c async for batch in batches for c in batch]

    chunks = run(go())
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"content": "Hi"}
    assert deltas[2]["tool_calls"][0]["function"]["name"] == "f"
    assert "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:5]) == '{"a":1}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}


@pytest.mark.parametrize("status, body, error_class, retryable", [
    (429, {"error": {"message": "slow down"}}, "429", True),
    (503, {"error": {"message": "overloaded"}}, "5xx", True),
    (400, {"error": {"message": "bad param"}}, "user", False),
    (401, {"error": {"message": "Incorrect API key provided: sk-abcdefgh1234"}}, "bad-response", True),
])
def test_upstream_errors_are_classified_and_redacted(status, body, error_class, retryable):
    async def go():
        transport = httpx.MockTransport(lambda r: httpx.Response(status, json=body, headers={"retry-after": "3"}))
        adapter = OpenAIAdapter()
        request = adapter.build_request("http://up/v1", "k", "chat", {"model": "m", "messages": []}, False)
        await send_json(transport, adapter, request, "chat", 5.0)

    with pytest.raises(UpstreamError) as info:
        run(go())
    assert info.value.error_class == error_class and info.value.retryable is retryable
    assert "sk-abcdefgh1234" not in info.value.message
    assert info.value.retry_after_s == 3.0


def test_redact_hides_key_shapes():
    assert "sk-live" not in redact("bad key sk-live_ABCDEFGH12345 given")
    assert "abcdef123456" not in redact("api_key=abcdef123456xyz")


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.text(alphabet=st.characters(blacklist_characters=_LINE_BREAKS, blacklist_categories=("Cs",)),
                              max_size=12), max_size=8),
       endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=8, max_size=8),
       cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=5))
def test_sse_lines_split_on_every_line_ending_however_the_bytes_arrive(lines, endings, cuts):
    raw = "".join(line + ending for line, ending in zip(lines, endings)).encode()
    bounds = sorted({min(c, len(raw)) for c in cuts})
    splitter = LineSplitter()
    got = [line for a, b in zip([0, *bounds], [*bounds, len(raw)]) for line in splitter.feed(raw[a:b])]
    assert got + splitter.close() == raw.decode().splitlines()  # str.splitlines reads "\r\n" as one ending, as SSE does


def test_sse_decoder_assembles_events_across_blocks():
    raw = b": keep-alive\n\nevent: delta\ndata: {\"a\":\ndata: 1}\n\ndata: last"
    decoder = SSEDecoder()
    events = [e for i in range(0, len(raw), 7) for e in decoder.feed(raw[i:i + 7])]
    assert events == [("delta", '{"a":\n1}')]
    assert decoder.close() == [(None, "last")]  # an unterminated last event still counts


def test_chunks_before_an_error_in_the_same_read_come_first():
    ok = b"".join(b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": t}}]}).encode() + b"\n\n"
                  for t in ("a", "b"))
    body = ok + b'data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n'

    async def go():
        transport = httpx.MockTransport(lambda r: httpx.Response(200, content=body))
        adapter = OpenAIAdapter()
        request = adapter.build_request("http://up/v1", None, "chat", CHAT, stream=True)
        _response, batches = await open_stream(transport, adapter, request, 5.0)
        first = await anext(batches)
        with pytest.raises(UpstreamError) as info:
            await anext(batches)
        return first, info.value

    first, error = run(go())
    assert [c["choices"][0]["delta"]["content"] for c in first] == ["a", "b"]  # one read → one batch
    assert error.error_class == "mid-stream" and "overloaded" in error.message
