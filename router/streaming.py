"""SSE relay: upstream chunks go to the client as they arrive, with fallback before the first token.

Headers are committed only once some upstream answered 2xx, so a request whose every endpoint
fails fast still gets a proper HTTP error status. While waiting for the first token the relay
sends `: SWITCHYARD PROCESSING` comments; an upstream that fails before its first token is
replaced by the next endpoint unseen by the client. After the first token a failure ends the
stream with a chunk whose finish_reason is "error" — the stream never hangs. Whatever one
upstream read carried goes to the client in one write (see `router.upstream.open_stream`).
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import orjson
from starlette.responses import StreamingResponse

from .adapters import ADAPTERS, UpstreamError
from .dispatch import Dispatcher, Plan, Route
from .catalog import Endpoint
from .errors import error_body
from .tokens import estimate_text_tokens
from .upstream import open_stream

__all__ = ["open_relay", "Relay", "EventStreamResponse"]

KEEPALIVE = b": SWITCHYARD PROCESSING\n\n"
DONE = b"data: [DONE]\n\n"


class _Attempt:
    def __init__(self, route: Route, endpoint: Endpoint, number: int, started: float, is_byok: bool,
                 response: Any, batches: AsyncIterator[list[dict[str, Any]]]):
        self.route, self.endpoint, self.number, self.started, self.is_byok = route, endpoint, number, started, is_byok
        self.response, self.batches = response, batches


class Relay:
    def __init__(self, dispatcher: Dispatcher, plan: Plan, pending: list[tuple[Route, Endpoint]], attempt: _Attempt,
                 next_number: int):
        self.dispatcher = dispatcher
        self.plan = plan
        self.pending = pending
        self.current = attempt
        self.next_number = next_number
        self.usage: dict[str, Any] | None = None
        self.completion_chars = 0
        self.ttft_s: float | None = None
        self.finished = False

    def _frame(self, chunk: dict[str, Any]) -> bytes:
        chunk["id"] = self.plan.generation_id
        chunk["model"] = self.current.route.model.id
        chunk["provider"] = self.current.endpoint.provider.name
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def _frames(self, batch: list[dict[str, Any]]) -> bytes:
        """One upstream read's chunks as SSE frames, joined: the client gets them in one write."""
        frames = [self._frame(forwarded) for chunk in batch if (forwarded := self._take(chunk)) is not None]
        return b"".join(frames)

    def _take(self, chunk: dict[str, Any]) -> dict[str, Any] | None:
        """Note usage and text; returns the chunk to forward (usage-only chunks are held back)."""
        usage = chunk.pop("usage", None)
        if usage:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content") or choice.get("text") or ""
            self.completion_chars += len(content)
            for call in delta.get("tool_calls") or ():
                self.completion_chars += len((call.get("function") or {}).get("arguments") or "")
        if not chunk.get("choices"):
            return None
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        settings = self.dispatcher.settings
        clock = self.dispatcher.clock
        sent_data = False
        try:
            while True:
                attempt = self.current
                try:
                    if not sent_data:
                        # Before the first token: keep the client's connection alive, and bound the wait.
                        deadline = attempt.started + self.dispatcher.attempt_timeout(self.plan, attempt.endpoint)
                        while True:
                            batch = await self._first_batch(attempt, deadline)
                            if batch is _KEEPALIVE_MARK:
                                yield KEEPALIVE
                                continue
                            frames = self._frames(batch)
                            if frames:
                                break
                        self.ttft_s = clock() - attempt.started
                        sent_data = True
                        yield frames
                    async for batch in self._rest(attempt, settings.stream_idle_timeout_s):
                        frames = self._frames(batch)
                        if frames:
                            yield frames
                except UpstreamError as error:
                    if sent_data:
                        error = UpstreamError("mid-stream", error.message, status=error.status)
                    self._finish(attempt, error)
                    if not sent_data and error.retryable and await self._next():
                        continue
                    if sent_data:
                        yield self._frame({"object": "chat.completion.chunk", "created": int(self.plan.started),
                                           "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
                                           "error": error_body(502, error.message)["error"]}) + DONE
                    else:
                        failure = self.dispatcher.all_failed(self.plan, error)
                        yield b"data: " + orjson.dumps(failure.body()) + b"\n\n" + DONE
                    return
                self._finish(attempt, None)
                yield self._frame(self._usage_chunk(self._settle(attempt))) + DONE
                return
        except BaseException:
            # The client went away (or the server is stopping): cancel the upstream call and say so.
            if not self.finished:
                self._finish(self.current, None, error_class="client-cancel")
            raise
        finally:
            self.dispatcher.release(self.plan)  # no-op after a settle
            task = getattr(self.current, "next_task", None)
            if task is not None and not task.done():
                task.cancel()
            await self.current.response.aclose()

    async def _first_batch(self, attempt: _Attempt, deadline: float) -> Any:
        if not hasattr(attempt, "next_task") or attempt.next_task is None:
            attempt.next_task = asyncio.ensure_future(anext(attempt.batches, _END))
        remaining = deadline - self.dispatcher.clock()
        if remaining <= 0:
            attempt.next_task.cancel()
            raise UpstreamError("timeout", "upstream sent no token before the attempt timeout")
        done, _ = await asyncio.wait({attempt.next_task}, timeout=min(self.dispatcher.settings.keepalive_s, remaining))
        if not done:
            return _KEEPALIVE_MARK
        task, attempt.next_task = attempt.next_task, None
        batch = task.result()
        if batch is _END:
            raise UpstreamError("bad-response", "upstream stream ended before any token")
        return batch

    async def _rest(self, attempt: _Attempt, idle_s: float) -> AsyncIterator[list[dict[str, Any]]]:
        while True:
            try:
                async with asyncio.timeout(idle_s):
                    batch = await anext(attempt.batches, _END)
            except TimeoutError:
                raise UpstreamError("timeout", f"upstream stream stalled for {idle_s:.1f}s") from None
            if batch is _END:
                return
            yield batch

    async def _next(self) -> bool:
        """Open the next endpoint's stream; False when none is left."""
        await self.current.response.aclose()
        attempt = await _open_next(self.dispatcher, self.plan, self.pending, self.next_number)
        if attempt is None:
            return False
        self.current, self.next_number = attempt, attempt.number + 1
        self.usage, self.completion_chars, self.finished = None, 0, False
        return True

    def _finish(self, attempt: _Attempt, error: UpstreamError | None, error_class: str | None = None) -> float:
        self.finished = True
        prompt_tokens, completion_tokens = self._tokens()
        ok = error is None and error_class is None
        return self.dispatcher.finish(
            self.plan, attempt.route, attempt.endpoint, attempt.number, attempt.started, error=error,
            status=error.status if error else attempt.response.status_code, error_class=error_class,
            prompt_tokens=prompt_tokens if ok else 0, completion_tokens=completion_tokens if ok else 0,
            ttft_s=self.ttft_s, is_byok=attempt.is_byok)

    def _tokens(self) -> tuple[int, int]:
        usage = self.usage or {}
        prompt_tokens = int(usage.get("prompt_tokens") or self.plan.features.prompt_tokens)
        completion_tokens = int(usage.get("completion_tokens") or estimate_text_tokens("x" * self.completion_chars))
        return prompt_tokens, completion_tokens

    def _settle(self, attempt: _Attempt) -> float:
        prompt_tokens, completion_tokens = self._tokens()
        list_cost = attempt.endpoint.cost(prompt_tokens, completion_tokens)
        return self.dispatcher.settle(self.plan, attempt.endpoint, prompt_tokens, completion_tokens, attempt.is_byok,
                                      list_cost)

    def _usage_chunk(self, cost: float) -> dict[str, Any]:
        usage = self.usage or {}
        prompt_tokens, completion_tokens = self._tokens()
        chunk: dict[str, Any] = {
            "object": "chat.completion.chunk" if self.plan.kind == "chat" else "text_completion",
            "created": int(self.plan.started), "choices": [],
            "usage": {**usage, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens, "cost": round(cost, 12),
                      "is_byok": self.current.is_byok}}
        if self.plan.explain:
            chunk["switchyard_metadata"] = self.dispatcher.explanation(self.plan)
        return chunk


_END = object()
_KEEPALIVE_MARK = object()


async def _open_next(dispatcher: Dispatcher, plan: Plan, pending: list[tuple[Route, Endpoint]],
                     number: int) -> _Attempt | None:
    while pending:
        route, endpoint = pending.pop(0)
        if not dispatcher.begin(plan, route, endpoint):
            continue
        started = dispatcher.clock()
        is_byok = False
        try:
            timeout = dispatcher.attempt_timeout(plan, endpoint)
            request, is_byok = dispatcher.build_request(plan, endpoint, stream=True)
            response, batches = await open_stream(dispatcher.transport, ADAPTERS[endpoint.provider.api_style], request,
                                                 timeout)
        except UpstreamError as error:
            dispatcher.finish(plan, route, endpoint, number, started, error=error, status=error.status,
                              is_byok=is_byok)
            number += 1
            if not error.retryable:
                raise dispatcher.all_failed(plan, error)
            continue
        except BaseException:
            dispatcher.finish(plan, route, endpoint, number, started, error=None, error_class="client-cancel")
            raise
        attempt = _Attempt(route, endpoint, number, started, is_byok, response, batches)
        attempt.next_task = None
        return attempt
    return None


async def open_relay(dispatcher: Dispatcher, plan: Plan) -> Relay:
    """Open the first upstream that answers 2xx; raises GatewayError when every endpoint failed first."""
    pending = plan.attempt_list()
    attempt = await _open_next(dispatcher, plan, pending, 0)
    if attempt is None:
        raise dispatcher.all_failed(plan, None)
    return Relay(dispatcher, plan, pending, attempt, attempt.number + 1)


class EventStreamResponse(StreamingResponse):
    """Starlette's StreamingResponse, watching for the client's hang-up with one plain asyncio task.

    Starlette runs the body and a disconnect listener in an anyio task group: two tasks and cancel
    scopes, ~8 % of a streamed request's CPU in the gateway (py-spy, concurrency 8). Here the body
    is sent from the request's own task, and a watcher cancels that task if the client leaves
    first, which runs the relay's clean-up (the upstream call is dropped, the attempt booked as
    `client-cancel`).
    """

    async def __call__(self, scope, receive, send) -> None:
        streaming = asyncio.current_task()
        finished = False

        async def watch() -> bool:
            while (await receive())["type"] != "http.disconnect":
                pass
            if finished:  # uvicorn also says "disconnect" once the response is complete
                return False
            streaming.cancel()
            return True

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if watcher.done() and not watcher.cancelled() and watcher.result() and streaming.uncancel() == 0:
                return  # the client left; nothing more to send
            raise
        finally:
            finished = True
            watcher.cancel()
