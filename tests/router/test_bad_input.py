"""Bad input gets a 4xx in OpenAI's error shape, mapped to the right openai exception class."""
from __future__ import annotations

import httpx
import openai
import pytest

from tests.router.conftest import AUTH, MASTER

HELLO = [{"role": "user", "content": "hi"}]


def client(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0, timeout=10)


def _assert_shape(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and words in error["message"] and error["type"]


def test_malformed_json_is_400(gateway):
    response = httpx.post(gateway.url + "/v1/chat/completions", content=b'{"model": "test/llama", "mess',
                          headers={"content-type": "application/json", **AUTH})
    _assert_shape(response, 400, "not valid JSON")


def test_non_object_body_is_400(gateway):
    _assert_shape(httpx.post(gateway.url + "/v1/chat/completions", json=[1, 2], headers=AUTH), 400, "JSON object")


@pytest.mark.parametrize("body, words", [
    ({"model": "test/llama"}, "messages"),
    ({"model": "test/llama", "messages": []}, "messages"),
    ({"model": "test/llama", "messages": "hi"}, "messages"),
    ({"model": "test/llama", "messages": [{"role": "wizard", "content": "x"}]}, "role"),
    ({"model": "test/llama", "messages": HELLO, "temperature": "hot"}, "temperature"),
    ({"model": "test/llama", "messages": HELLO, "max_tokens": -5}, "max_tokens"),
    ({"messages": HELLO}, "model"),
    ({"model": "test/llama", "messages": HELLO, "provider": {"sort": "vibes"}}, "provider.sort"),
])
def test_ill_typed_fields_are_400_naming_the_field(gateway, body, words):
    _assert_shape(httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=AUTH), 400, words)


def test_sdk_exception_classes(gateway):
    c = client(gateway)
    with pytest.raises(openai.BadRequestError, match="messages"):
        c.chat.completions.create(model="test/llama", messages=[])
    with pytest.raises(openai.NotFoundError, match="not found"):
        c.chat.completions.create(model="nobody/nothing", messages=HELLO)
    with pytest.raises(openai.BadRequestError, match="provider.colour"):
        c.chat.completions.create(model="test/llama", messages=HELLO, extra_body={"provider": {"colour": "red"}})
    with pytest.raises(openai.NotFoundError, match="no endpoint can serve"):
        c.chat.completions.create(model="test/llama", messages=HELLO, extra_body={"provider": {"only": ["zeta"]}})
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model="test/llama", messages=[{"role": "user", "content": "x" * 70_000}])
    assert info.value.status_code == 413


def test_all_thirteen_provider_fields_accepted(gateway):
    provider = {"order": ["beta", "alpha"], "allow_fallbacks": True, "require_parameters": False,
                "data_collection": "allow", "zdr": False, "enforce_distillable_text": False, "only": ["alpha", "beta"],
                "ignore": ["gamma"], "quantizations": ["fp8", "fp16"], "sort": "price",
                "preferred_min_throughput": 10, "preferred_max_latency": {"p50": 5}, "max_price": {"prompt": 1, "completion": 1}}
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=HELLO, max_tokens=3,
        extra_body={"provider": provider, "route": "fallback", "transforms": [], "usage": {"include": True}})
    assert answer.provider == "beta"


@pytest.mark.parametrize("provider, expected_reason", [
    ({"quantizations": ["int4"]}, "quantization"),
    ({"max_price": {"prompt": 0.05}}, "max_price"),
    ({"ignore": ["alpha", "beta", "gamma"]}, "ignore"),
    ({"require_parameters": True}, "does not support"),
])
def test_hard_constraints_filter_candidates(gateway, provider, expected_reason):
    body = {"model": "test/llama", "messages": HELLO, "provider": provider}
    if provider.get("require_parameters"):
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        body["provider"]["only"] = ["gamma"]
    response = httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=AUTH)
    _assert_shape(response, 404, expected_reason)


def test_context_length_filter_skips_small_endpoints(gateway, demo):
    # gamma has a 2048-token window: a ~3000-token prompt must go elsewhere.
    answer = client(gateway).chat.completions.create(
        model="test/llama", messages=[{"role": "user", "content": "word " * 2400}], max_tokens=3,
        extra_body={"provider": {"order": ["gamma", "beta"]}})
    assert answer.provider == "beta"


def test_chat_request_to_embedding_model_is_400(gateway):
    with pytest.raises(openai.BadRequestError, match="embedding model"):
        client(gateway).chat.completions.create(model="test/embed", messages=HELLO)


def test_variant_suffix_and_ids_that_contain_it(gateway):
    c = client(gateway)
    assert c.chat.completions.create(model="test/llama:floor", messages=HELLO, max_tokens=2).model == "test/llama"
    with pytest.raises(openai.NotFoundError, match="not free"):  # no free endpoint for this model
        c.chat.completions.create(model="test/llama:free", messages=HELLO, max_tokens=2)
    free = c.chat.completions.create(model="test/gratis:free", messages=HELLO, max_tokens=2)  # an id, not a variant
    assert free.model == "test/gratis:free" and free.usage.cost == 0


@pytest.mark.parametrize("field, value", [("max_tokens", "3"), ("temperature", "0.5"), ("stream", "true"),
                                          ("n", 1.0), ("seed", "7")])
def test_fields_are_not_coerced_since_the_body_is_forwarded_as_sent(gateway, field, value):
    body = {"model": "test/llama", "messages": HELLO, field: value}
    _assert_shape(httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=AUTH), 400, field)
