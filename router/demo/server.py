"""The demo upstream server: every demo provider under `/{provider}/v1/...` on one loopback port.

OpenAI-style providers answer `/chat/completions`, `/completions`, `/embeddings` and `/models`;
Anthropic-style ones answer `/messages` with Anthropic's shapes and SSE events. Behaviour can be
changed at run time with `POST /_control/{provider}` (tests use it to inject faults), and
`GET /_stats` reports what each provider saw — request counts and the last key's fingerprint.
"""
from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from dataclasses import asdict
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .behaviour import Behaviour
from .replies import count_prompt_tokens, embedding_for, reply_words, tool_call_for, wants_tool_call

__all__ = ["build_demo_app", "DemoProviders"]


class _DropConnection(Exception):
    """Raised after the response started: the server closes the socket mid-response."""


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


class _State:
    def __init__(self, behaviours: dict[str, Behaviour], seed: int):
        self.behaviours = dict(behaviours)
        self.rng = np.random.default_rng(seed)
        self.requests: dict[str, int] = {name: 0 for name in behaviours}
        self.key_fingerprints: dict[str, str | None] = {}
        try:
            from policies.simulator.profiles import load_profiles
            self.profiles = load_profiles()
        except (ImportError, FileNotFoundError):  # profiles are optional: fixed timings still work
            self.profiles = {}


def build_demo_app(behaviours: dict[str, Behaviour], seed: int = 0) -> Starlette:
    state = _State(behaviours, seed)

    def lookup(request: Request) -> tuple[str, Behaviour, str | None]:
        name = request.path_params["provider"]
        behaviour = state.behaviours.get(name)
        if behaviour is None:
            raise KeyError(name)
        state.requests[name] = state.requests.get(name, 0) + 1
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
        state.key_fingerprints[name] = hashlib.sha256(key.encode()).hexdigest()[:16] if key else None
        mode = behaviour.mode
        if behaviour.fail_first and state.requests[name] > behaviour.fail_first:
            mode = "normal"
        if mode == "normal":
            mode = behaviour.draw_failure(state.rng, state.profiles) or "normal"
        return name, behaviour, mode

    async def openai_endpoint(request: Request) -> Response:
        try:
            return await openai_reply(request)
        except (TypeError, KeyError, AttributeError, ValueError, IndexError):
            # A body of the right JSON shape but nonsense inside (fuzzed tools, say): a real provider's 400.
            return _json({"error": {"message": "invalid request body", "type": "invalid_request_error"}}, 400)

    async def openai_reply(request: Request) -> Response:
        try:
            name, behaviour, mode = lookup(request)
        except KeyError:
            return _json({"error": {"message": "unknown demo provider", "type": "not_found"}}, 404)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json({"error": {"message": "invalid JSON", "type": "invalid_request_error"}}, 400)
        kind = request.path_params["kind"]
        early = await _early_failure(mode, behaviour, anthropic=False)
        if early is not None:
            return early
        ttft, tps = behaviour.timing(state.rng, state.profiles)
        prompt_tokens = count_prompt_tokens(body)
        if kind == "embeddings":
            dimensions = body.get("dimensions")
            if dimensions is not None and (type(dimensions) is not int or not 1 <= dimensions <= 4096):
                return _json({"error": {"message": "'dimensions' must be an integer from 1 to 4096",
                                        "type": "invalid_request_error"}}, 400)
            await asyncio.sleep(ttft)
            inputs = body.get("input")
            inputs = [inputs] if isinstance(inputs, str) else inputs
            data = [{"object": "embedding", "index": i, "embedding": embedding_for(str(text), body.get("dimensions") or 64)}
                    for i, text in enumerate(inputs)]
            return _json({"object": "list", "data": data, "model": body.get("model"),
                          "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}})
        for field in ("max_tokens", "max_completion_tokens"):  # type errors are a 400, as OpenAI answers them
            if body.get(field) is not None and (not isinstance(body[field], int) or isinstance(body[field], bool)):
                return _json({"error": {"message": f"Invalid type for '{field}': expected an integer",
                                        "type": "invalid_request_error"}}, 400)
        n_tokens = min(body.get("max_completion_tokens") or body.get("max_tokens") or behaviour.output_tokens, 4096)
        words = reply_words(name, n_tokens)
        tool = None
        if kind == "chat/completions" and wants_tool_call(body):
            tool = tool_call_for(body["tools"][0])
        if body.get("stream"):
            return StreamingResponse(_openai_stream(kind, body, words, tool, ttft, tps, prompt_tokens, mode),
                                     media_type="text/event-stream")
        await asyncio.sleep(ttft + max(len(words) - 1, 0) / tps)
        if mode == "invalid-json":
            return Response(b"{not json", media_type="application/json")
        if mode == "error-body":
            return _json({"error": {"message": "demo upstream error in a 200 body", "code": 500}})
        if mode in ("drop", "hang-mid-body"):
            return _BrokenResponse(hang=mode == "hang-mid-body")
        text = "".join(words)
        completion_tokens = len(words)
        if kind == "completions":
            choice = {"index": 0, "text": text, "finish_reason": "length" if n_tokens == body.get("max_tokens") else "stop"}
            obj = "text_completion"
        elif tool is not None:
            choice = {"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None,
                "tool_calls": [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                "function": {"name": tool[0], "arguments": orjson.dumps(tool[1]).decode()}}]}}
            completion_tokens = 12
            obj = "chat.completion"
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            obj = "chat.completion"
        return _json({"id": f"demo-{uuid.uuid4().hex[:12]}", "object": obj, "created": int(time.time()),
                      "model": body.get("model"), "choices": [choice],
                      "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                "total_tokens": prompt_tokens + completion_tokens}})

    async def anthropic_endpoint(request: Request) -> Response:
        try:
            name, behaviour, mode = lookup(request)
        except KeyError:
            return _json({"type": "error", "error": {"type": "not_found_error", "message": "unknown provider"}}, 404)
        body = orjson.loads(await request.body())
        if not isinstance(body.get("max_tokens"), int):
            return _json({"type": "error", "error": {"type": "invalid_request_error",
                                                      "message": "max_tokens: Field required"}}, 400)
        early = await _early_failure(mode, behaviour, anthropic=True)
        if early is not None:
            return early
        ttft, tps = behaviour.timing(state.rng, state.profiles)
        prompt_tokens = count_prompt_tokens(body)
        words = reply_words(name, min(body["max_tokens"], behaviour.output_tokens))
        tool = tool_call_for(body["tools"][0]) if wants_tool_call(body) else None
        if body.get("stream"):
            return StreamingResponse(_anthropic_stream(body, words, tool, ttft, tps, prompt_tokens, mode),
                                     media_type="text/event-stream")
        await asyncio.sleep(ttft + max(len(words) - 1, 0) / tps)
        if tool is not None:
            content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": tool[0], "input": tool[1]}]
            stop_reason, output_tokens = "tool_use", 12
        else:
            content = [{"type": "text", "text": "".join(words)}]
            stop_reason, output_tokens = "end_turn", len(words)
        return _json({"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant",
                      "model": body.get("model"), "content": content, "stop_reason": stop_reason,
                      "usage": {"input_tokens": prompt_tokens, "output_tokens": output_tokens}})

    async def models(request: Request) -> Response:
        return _json({"object": "list", "data": [{"id": "demo", "object": "model"}]})

    async def control(request: Request) -> Response:
        name = request.path_params["provider"]
        if name not in state.behaviours:
            return _json({"error": {"message": "unknown provider"}}, 404)
        try:
            state.behaviours[name] = state.behaviours[name].with_(**orjson.loads(await request.body()))
        except (TypeError, ValueError) as exc:
            return _json({"error": {"message": str(exc)}}, 400)
        state.requests[name] = 0
        return _json(asdict(state.behaviours[name]))

    async def stats(request: Request) -> Response:
        return _json({"requests": state.requests, "key_fingerprints": state.key_fingerprints})

    routes = [
        Route("/{provider}/v1/{kind:path}", openai_endpoint, methods=["POST"]),
        Route("/{provider}/v1/models", models, methods=["GET"]),
        Route("/_control/{provider}", control, methods=["POST"]),
        Route("/_stats", stats, methods=["GET"]),
    ]

    app = Starlette(routes=routes)

    async def dispatch(scope, receive, send):
        # /messages is Anthropic's; everything else under /v1 is OpenAI's.
        if scope["type"] == "http" and scope["path"].endswith("/v1/messages"):
            scope = dict(scope)
            scope["path_params"] = {"provider": scope["path"].split("/")[1]}
            request = Request(scope, receive)
            response = await anthropic_endpoint(request)
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    dispatch.state = state  # type: ignore[attr-defined]
    return dispatch  # type: ignore[return-value]


async def _early_failure(mode: str, behaviour: Behaviour, anthropic: bool) -> Response | None:
    if mode == "fail-500":
        body = ({"type": "error", "error": {"type": "api_error", "message": "demo upstream failure"}} if anthropic
                else {"error": {"message": "demo upstream failure", "type": "server_error"}})
        return _json(body, 529 if anthropic else 500)
    if mode == "fail-429":
        body = ({"type": "error", "error": {"type": "rate_limit_error", "message": "demo rate limit"}} if anthropic
                else {"error": {"message": "demo rate limit", "type": "rate_limit_error"}})
        return _json(body, 429, headers={"retry-after": str(behaviour.retry_after_s)})
    if mode == "hang":
        await asyncio.sleep(3600)
    return None


class _BrokenResponse(Response):
    """Starts a 200 response, sends half a body, then drops the connection (or hangs)."""

    def __init__(self, hang: bool):
        super().__init__()
        self.hang = hang

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"id": "demo", "choi', "more_body": True})
        if self.hang:
            await asyncio.sleep(3600)
        raise _DropConnection("demo upstream dropped the connection")


def _sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


async def _openai_stream(kind, body, words, tool, ttft, tps, prompt_tokens, mode):
    created = int(time.time())
    chunk_id = f"demo-{uuid.uuid4().hex[:12]}"
    obj = "text_completion" if kind == "completions" else "chat.completion.chunk"

    def chunk(delta=None, finish=None, text=None):
        choice = {"index": 0, "finish_reason": finish}
        if kind == "completions":
            choice["text"] = text or ""
        else:
            choice["delta"] = delta or {}
        return {"id": chunk_id, "object": obj, "created": created, "model": body.get("model"), "choices": [choice]}

    await asyncio.sleep(ttft)
    if mode == "malformed-sse":
        yield b"data: {this is not json\n\n"
        return
    if mode in ("drop",):
        raise _DropConnection("demo upstream dropped the stream before the first token")
    if kind != "completions":
        yield _sse(chunk({"role": "assistant", "content": ""}))
    completion_tokens = len(words)
    if tool is not None:
        yield _sse(chunk({"tool_calls": [{"index": 0, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                                          "function": {"name": tool[0], "arguments": ""}}]}))
        yield _sse(chunk({"tool_calls": [{"index": 0, "function": {"arguments": orjson.dumps(tool[1]).decode()}}]}))
        finish, completion_tokens = "tool_calls", 12
    else:
        delay = 1.0 / tps if mode != "slow-stream" else 0.5
        for i, word in enumerate(words):
            if i:
                await asyncio.sleep(delay)
            yield _sse(chunk({"content": word}, text=word))
            if mode == "broken-stream" and i == 2:
                raise _DropConnection("demo upstream cut the stream")
            if mode == "hang-mid-body" and i == 2:
                await asyncio.sleep(3600)
        finish = "stop"
    yield _sse(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        yield _sse({"id": chunk_id, "object": obj, "created": created, "model": body.get("model"), "choices": [],
                    "usage": usage})
    yield b"data: [DONE]\n\n"


async def _anthropic_stream(body, words, tool, ttft, tps, prompt_tokens, mode):
    def event(name: str, data: dict) -> bytes:
        return f"event: {name}\n".encode() + _sse({"type": name, **data})

    await asyncio.sleep(ttft)
    yield event("message_start", {"message": {"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message",
                                              "role": "assistant", "model": body.get("model"), "content": [],
                                              "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}})
    if tool is not None:
        yield event("content_block_start", {"index": 0, "content_block": {
            "type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:12]}", "name": tool[0], "input": {}}})
        yield event("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                                  "partial_json": orjson.dumps(tool[1]).decode()}})
        yield event("content_block_stop", {"index": 0})
        stop_reason, output_tokens = "tool_use", 12
    else:
        yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        for i, word in enumerate(words):
            if i:
                await asyncio.sleep(1.0 / tps)
            yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": word}})
            if mode == "broken-stream" and i == 2:
                raise _DropConnection("demo upstream cut the stream")
        yield event("content_block_stop", {"index": 0})
        stop_reason, output_tokens = "end_turn", len(words)
    yield event("message_delta", {"delta": {"stop_reason": stop_reason}, "usage": {"output_tokens": output_tokens}})
    yield event("message_stop", {})


class DemoProviders:
    """Run the demo upstream server on loopback in a background thread (its own event loop)."""

    def __init__(self, behaviours: dict[str, Behaviour], host: str = "127.0.0.1", port: int = 0, seed: int = 0):
        import uvicorn

        self.app = build_demo_app(behaviours, seed)
        config = uvicorn.Config(self.app, host=host, port=port, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.host = host
        self._thread = threading.Thread(target=self.server.run, name="switchyard-demo-providers", daemon=True)

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    def base_url(self, provider: str) -> str:
        return f"http://{self.host}:{self.port}/{provider}/v1"

    def start(self, timeout_s: float = 10.0) -> "DemoProviders":
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("demo providers did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> "DemoProviders":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
