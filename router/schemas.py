"""Request models: OpenAI's chat/completions/embeddings schemas plus OpenRouter's extensions.

Top-level unknown fields are allowed and passed through to the upstream (providers accept many
vendor parameters); the `provider` object is closed, as in OpenRouter's schema, so a typo there
is a 400 instead of a silently ignored preference.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ProviderPreferences", "MaxPrice", "Message", "ChatCompletionRequest",
    "CompletionRequest", "EmbeddingRequest", "ROUTING_FIELDS",
]

# Fields that steer the gateway and are never forwarded upstream.
ROUTING_FIELDS = frozenset({"model", "models", "provider", "route", "transforms", "usage", "stream_options", "explain"})


class MaxPrice(BaseModel):
    """USD per million tokens (prompt/completion), per request, per image — as OpenRouter."""

    model_config = ConfigDict(extra="forbid", strict=True)
    prompt: float | None = Field(default=None, ge=0)
    completion: float | None = Field(default=None, ge=0)
    request: float | None = Field(default=None, ge=0)
    image: float | None = Field(default=None, ge=0)


class ProviderPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    order: list[str] | None = None
    allow_fallbacks: bool = True
    require_parameters: bool = False
    data_collection: Literal["allow", "deny"] = "allow"
    zdr: bool | None = None
    enforce_distillable_text: bool | None = None
    only: list[str] | None = None
    ignore: list[str] | None = None
    quantizations: list[str] | None = None
    sort: Literal["price", "throughput", "latency"] | None = None
    preferred_min_throughput: float | dict[str, float] | None = None
    preferred_max_latency: float | dict[str, float] | None = None
    max_price: MaxPrice | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _parts_have_type(cls, value):
        if isinstance(value, list):
            for index, part in enumerate(value):
                if not isinstance(part.get("type"), str):
                    raise ValueError(f"content part {index} needs a string 'type'")
        return value


class _RoutedRequest(BaseModel):
    # strict: the body is forwarded as sent, so "3" must not pass as max_tokens just because
    # pydantic could coerce it (OpenAI answers such a request with a 400 too).
    model_config = ConfigDict(extra="allow", strict=True)
    model: str | None = Field(default=None, min_length=1, max_length=256)
    models: list[str] | None = Field(default=None, max_length=32)
    provider: ProviderPreferences | None = None
    route: Literal["fallback"] | None = None  # legacy; `models` implies it
    transforms: list[str] | None = None  # legacy; accepted, no transform is applied
    usage: dict[str, Any] | None = None  # legacy {"include": true}; usage is always returned
    user: str | None = None
    explain: bool = False  # Switchyard: return the routing decision in `switchyard_metadata`

    @model_validator(mode="after")
    def _needs_a_model(self):
        if not self.model and not self.models:
            raise ValueError("either 'model' or a non-empty 'models' list is required")
        return self

    def model_chain(self) -> list[str]:
        """The primary model followed by the `models` fallbacks, without duplicates."""
        chain: list[str] = []
        for name in ([self.model] if self.model else []) + list(self.models or []):
            if name not in chain:
                chain.append(name)
        return chain


class ChatCompletionRequest(_RoutedRequest):
    messages: list[Message] = Field(min_length=1, max_length=10_000)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    def output_cap(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_RoutedRequest):
    prompt: str | list[str] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=10_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    def output_cap(self) -> int | None:
        return self.max_tokens


class EmbeddingRequest(_RoutedRequest):
    input: str | list[str] | list[int] | list[list[int]] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(default=None, ge=1)

    def output_cap(self) -> int | None:
        return 0
