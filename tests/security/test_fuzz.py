"""Property-based fuzzing of the public API from its OpenAPI schema (schemathesis + hypothesis).

The app's handlers read their bodies themselves (so that errors never echo a provider key), so the
generated OpenAPI document has no request bodies; this suite adds them from the same pydantic
models the handlers validate with, then lets schemathesis generate valid and invalid requests for
every operation and sends them over real HTTP. The property: no 5xx, no hang, every error in
OpenAI's shape. `FUZZ_EXAMPLES` bounds the default run; raise it for a longer hunt.
"""
from __future__ import annotations

import os

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.billing.routes import ByokBody, CreateKeyBody, TopUpBody, UpdateKeyBody
from router.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

from .conftest import AUTH

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402

FUZZ_EXAMPLES = int(os.environ.get("SWITCHYARD_FUZZ_EXAMPLES", "10"))
BODIES = {
    ("post", "/v1/chat/completions"): ChatCompletionRequest,
    ("post", "/v1/completions"): CompletionRequest,
    ("post", "/v1/embeddings"): EmbeddingRequest,
    ("post", "/v1/keys"): CreateKeyBody,
    ("patch", "/v1/keys/{key_id}"): UpdateKeyBody,
    ("post", "/v1/credits"): TopUpBody,
    ("post", "/v1/byok"): ByokBody,
}
MODEL_IDS = {"/v1/chat/completions": ["sec/chat", "sec/chat:floor", "sec/embed", "nobody/none"],
             "/v1/completions": ["sec/chat", "sec/chat:nitro"], "/v1/embeddings": ["sec/embed", "sec/chat"]}


def fuzz_spec(app) -> dict:
    """The app's OpenAPI document plus request bodies from the handlers' own pydantic models."""
    spec = app.openapi()
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    for (method, path), model in BODIES.items():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        if path in MODEL_IDS:  # real model ids, so that requests get past the catalog into dispatch
            schema["properties"]["model"] = {"enum": MODEL_IDS[path]}
            schema["properties"]["models"] = {"type": "array", "maxItems": 3, "items": {"enum": MODEL_IDS[path]}}
            schema["required"] = sorted({*schema.get("required", ()), "model"})
        spec["paths"][path][method]["requestBody"] = {
            "required": True, "content": {"application/json": {"schema": schema}}}
    # Rules the models enforce in validators, which JSON Schema cannot see: content parts carry a type.
    content = components["Message"]["properties"]["content"]
    for option in content["anyOf"]:
        if option.get("type") == "array":
            option["items"] = {"type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}
    return spec


@pytest.fixture(scope="module")
def operations(gateway):
    schema = schemathesis.openapi.from_dict(fuzz_spec(gateway.app))
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


LABELS = ["POST /v1/chat/completions", "POST /v1/completions", "POST /v1/embeddings", "GET /v1/models",
          "GET /v1/models/{author}/{slug}/endpoints", "GET /v1/generation", "GET /v1/key", "GET /v1/credits",
          "POST /v1/credits", "GET /v1/keys", "POST /v1/keys", "GET /v1/keys/{key_id}", "PATCH /v1/keys/{key_id}",
          "DELETE /v1/keys/{key_id}", "GET /v1/byok", "POST /v1/byok", "DELETE /v1/byok/{provider}",
          "GET /health", "GET /metrics"]


def test_every_operation_is_fuzzed(operations):
    assert sorted(operations) == sorted(LABELS)


# Invalid requests only where there is a body to break (elsewhere negative mode has nothing to negate).
WITH_BODY = [f"{method.upper()} {path}" for method, path in BODIES]
CASES = [(label, GenerationMode.POSITIVE) for label in LABELS] + [(label, GenerationMode.NEGATIVE)
                                                                   for label in WITH_BODY]


@pytest.mark.parametrize("label, mode", CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_fuzzed_requests_never_get_a_5xx(gateway, operations, label, mode):
    operation = operations[label]

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        case = data.draw(operation.as_strategy(generation_mode=mode))
        sent = case.as_transport_kwargs(base_url=gateway.url)
        headers = {**sent["headers"], **AUTH}  # the management key: reach past authentication
        body = {"content": sent["data"]} if "data" in sent else {"json": sent["json"]} if "json" in sent else {}
        try:
            response = httpx.request(sent["method"], sent["url"], params=sent.get("params"), headers=headers,
                                     timeout=15, **body)
        except (httpx.LocalProtocolError, UnicodeEncodeError):
            return  # a header no HTTP client can send (a newline, non-latin-1): nothing reached the server
        assert response.status_code < 500, (sent, response.text[:500])
        if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
            error = response.json()["error"]
            assert error["code"] == response.status_code and isinstance(error["message"], str)

    run()

