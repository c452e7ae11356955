"""The model catalog: models, provider endpoints and their prices, validated once at startup.

File format (YAML or JSON)::

    providers:
      groq: {base_url: https://api.groq.com/openai/v1, api_style: openai, key_env: GROQ_API_KEY}
    models:
      - id: meta-llama/llama-3.1-8b-instruct
        context_length: 131072
        endpoints:
          - {provider: groq, upstream_model: llama-3.1-8b-instant,
             prompt_price: 5.0e-8, completion_price: 8.0e-8}

Prices are USD per token, as in OpenRouter's `/models` pricing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.base import Candidate

__all__ = ["Catalog", "Endpoint", "ModelInfo", "ProviderInfo", "CatalogError", "load_catalog", "parse_catalog",
           "DEFAULT_CATALOG_PATH"]

DEFAULT_CATALOG_PATH = Path(__file__).parent / "data" / "default_catalog.yaml"
DEFAULT_PARAMETERS = ("max_tokens", "temperature", "top_p", "stop", "seed", "tools", "tool_choice",
                      "response_format", "frequency_penalty", "presence_penalty")


class CatalogError(ValueError):
    """The catalog file is invalid; the message names the offending key."""


# ---- file schema (validation only; the runtime objects below are frozen dataclasses) ----------
class _ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base_url: str = Field(pattern=r"^https?://")
    api_style: Literal["openai", "anthropic"] = "openai"
    key_env: str | None = None
    demo_profile: str | None = None  # latency profile the local demo upstream imitates
    timeout_s: float | None = Field(default=None, gt=0)
    data_collection: Literal["allow", "deny"] = "deny"  # whether the provider may train on prompts
    zdr: bool = False


class _EndpointSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str
    upstream_model: str | None = None
    prompt_price: float = Field(ge=0)
    completion_price: float = Field(ge=0)
    request_price: float = Field(default=0.0, ge=0)
    context_length: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    quantization: str | None = None
    supported_parameters: list[str] | None = None


class _ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    name: str | None = None
    description: str = ""
    created: int = 0
    kind: Literal["chat", "embedding"] = "chat"
    context_length: int = Field(default=8192, gt=0)
    input_modalities: list[str] = ["text"]
    output_modalities: list[str] = ["text"]
    tokenizer: str | None = None
    endpoints: list[_EndpointSpec] = Field(min_length=1)


class _CatalogSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: dict[str, _ProviderSpec]
    models: list[_ModelSpec]


# ---- runtime objects ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProviderInfo:
    name: str
    base_url: str
    api_style: str = "openai"
    key_env: str | None = None
    demo_profile: str | None = None
    timeout_s: float | None = None
    data_collection: str = "deny"
    zdr: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    endpoint_id: str
    model_id: str
    provider: ProviderInfo
    upstream_model: str
    prompt_price: float
    completion_price: float
    request_price: float
    context_length: int
    max_output_tokens: int | None
    quantization: str | None
    supported_parameters: frozenset[str]
    candidate: Candidate  # the policy-facing view, built once

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.request_price + prompt_tokens * self.prompt_price + completion_tokens * self.completion_price


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    description: str
    created: int
    kind: str
    context_length: int
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    tokenizer: str | None
    endpoints: tuple[Endpoint, ...]

    @property
    def supported_parameters(self) -> list[str]:
        return sorted(set().union(*(e.supported_parameters for e in self.endpoints)))

    @property
    def cheapest(self) -> Endpoint:
        return min(self.endpoints, key=lambda e: (e.prompt_price + e.completion_price, e.endpoint_id))


@dataclass(frozen=True)
class Catalog:
    providers: dict[str, ProviderInfo]
    models: dict[str, ModelInfo]
    endpoints: dict[str, Endpoint] = field(default_factory=dict)

    def model(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)

    def with_base_urls(self, base_urls: dict[str, str]) -> "Catalog":
        """A copy whose providers point elsewhere (the local demo upstreams)."""
        providers = {name: _replace(p, base_url=base_urls.get(name, p.base_url)) for name, p in self.providers.items()}
        return _build(providers, [m for m in self.models.values()])


def _replace(provider: ProviderInfo, **changes: Any) -> ProviderInfo:
    values = {name: getattr(provider, name) for name in provider.__dataclass_fields__}
    values.update(changes)
    return ProviderInfo(**values)


def _build(providers: dict[str, ProviderInfo], models: list[ModelInfo]) -> Catalog:
    rebuilt: dict[str, ModelInfo] = {}
    endpoints: dict[str, Endpoint] = {}
    for model in models:
        new_endpoints = tuple(_endpoint_with_provider(e, providers[e.provider.name]) for e in model.endpoints)
        rebuilt[model.id] = ModelInfo(**{**{k: getattr(model, k) for k in model.__dataclass_fields__},
                                         "endpoints": new_endpoints})
        endpoints.update((e.endpoint_id, e) for e in new_endpoints)
    return Catalog(providers=providers, models=rebuilt, endpoints=endpoints)


def _endpoint_with_provider(endpoint: Endpoint, provider: ProviderInfo) -> Endpoint:
    values = {name: getattr(endpoint, name) for name in endpoint.__dataclass_fields__}
    values["provider"] = provider
    return Endpoint(**values)


def parse_catalog(data: Any, source: str = "<catalog>") -> Catalog:
    try:
        spec = _CatalogSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:10]
        )
        raise CatalogError(f"{source}: {problems}") from None
    providers = {name: ProviderInfo(name=name, **p.model_dump()) for name, p in spec.providers.items()}
    models: dict[str, ModelInfo] = {}
    endpoints: dict[str, Endpoint] = {}
    for index, m in enumerate(spec.models):
        if m.id in models:
            raise CatalogError(f"{source}: models.{index}.id: duplicate model id {m.id!r}")
        built: list[Endpoint] = []
        for e_index, e in enumerate(m.endpoints):
            if e.provider not in providers:
                raise CatalogError(
                    f"{source}: models.{index}.endpoints.{e_index}.provider: unknown provider {e.provider!r}; "
                    f"valid: {', '.join(sorted(providers))}")
            endpoint_id = f"{e.provider}/{m.id}"
            if endpoint_id in endpoints:
                raise CatalogError(f"{source}: models.{index}.endpoints.{e_index}: duplicate endpoint {endpoint_id!r}")
            context_length = e.context_length or m.context_length
            params = frozenset(e.supported_parameters if e.supported_parameters is not None else DEFAULT_PARAMETERS)
            candidate = Candidate(endpoint_id=endpoint_id, provider=e.provider, model=m.id,
                                  prompt_price=e.prompt_price, completion_price=e.completion_price,
                                  context_length=context_length, max_output_tokens=e.max_output_tokens,
                                  quantization=e.quantization, request_price=e.request_price)
            endpoint = Endpoint(endpoint_id=endpoint_id, model_id=m.id, provider=providers[e.provider],
                                upstream_model=e.upstream_model or m.id, prompt_price=e.prompt_price,
                                completion_price=e.completion_price, request_price=e.request_price,
                                context_length=context_length, max_output_tokens=e.max_output_tokens,
                                quantization=e.quantization, supported_parameters=params, candidate=candidate)
            built.append(endpoint)
            endpoints[endpoint_id] = endpoint
        models[m.id] = ModelInfo(id=m.id, name=m.name or m.id, description=m.description, created=m.created,
                                 kind=m.kind, context_length=m.context_length,
                                 input_modalities=tuple(m.input_modalities),
                                 output_modalities=tuple(m.output_modalities), tokenizer=m.tokenizer,
                                 endpoints=tuple(built))
    return Catalog(providers=providers, models=models, endpoints=endpoints)


def load_catalog(path: str | Path | None = None) -> Catalog:
    path = Path(path) if path else DEFAULT_CATALOG_PATH
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CatalogError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    return parse_catalog(data, source=str(path))
