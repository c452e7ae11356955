"""Import real catalogs: OpenRouter's `/models` JSON and LiteLLM's price file, into our format.

Both return a plain catalog dict (the YAML/JSON file format of `router.catalog`) and a one-line
report of what was kept and skipped, so `switchyard catalog import FILE --out catalog.yaml`
followed by `switchyard serve --config catalog.yaml` serves hundreds of real models.
"""
from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["import_openrouter", "import_litellm", "import_catalog_file", "LITELLM_PROVIDERS", "SAMPLE_CATALOGS"]

SAMPLE_CATALOGS = {
    "openrouter": Path(__file__).parent / "data" / "catalogs" / "openrouter_models_2026-08-01.json.gz",
    "litellm": Path(__file__).parent / "data" / "catalogs" / "litellm_model_prices_2026-07-24.json.gz",
}
_MAX_PRICE_PER_TOKEN = 500 / 1_000_000  # LiteLLM has a few unit errors (~1e5x); real prices sit far below

# LiteLLM provider name -> (our provider name, base URL, API style, key env var). Providers missing
# here have no OpenAI- or Anthropic-compatible API we can call without a provider-specific adapter.
LITELLM_PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "openai": ("openai", "https://api.openai.com/v1", "openai", "OPENAI_API_KEY"),
    "anthropic": ("anthropic", "https://api.anthropic.com/v1", "anthropic", "ANTHROPIC_API_KEY"),
    "groq": ("groq", "https://api.groq.com/openai/v1", "openai", "GROQ_API_KEY"),
    "together_ai": ("together", "https://api.together.xyz/v1", "openai", "TOGETHER_API_KEY"),
    "fireworks_ai": ("fireworks", "https://api.fireworks.ai/inference/v1", "openai", "FIREWORKS_API_KEY"),
    "deepinfra": ("deepinfra", "https://api.deepinfra.com/v1/openai", "openai", "DEEPINFRA_API_KEY"),
    "mistral": ("mistral", "https://api.mistral.ai/v1", "openai", "MISTRAL_API_KEY"),
    "xai": ("xai", "https://api.x.ai/v1", "openai", "XAI_API_KEY"),
    "deepseek": ("deepseek", "https://api.deepseek.com/v1", "openai", "DEEPSEEK_API_KEY"),
    "cerebras": ("cerebras", "https://api.cerebras.ai/v1", "openai", "CEREBRAS_API_KEY"),
    "perplexity": ("perplexity", "https://api.perplexity.ai", "openai", "PERPLEXITYAI_API_KEY"),
    "novita": ("novita", "https://api.novita.ai/v3/openai", "openai", "NOVITA_API_KEY"),
    "nebius": ("nebius", "https://api.studio.nebius.ai/v1", "openai", "NEBIUS_API_KEY"),
    "sambanova": ("sambanova", "https://api.sambanova.ai/v1", "openai", "SAMBANOVA_API_KEY"),
    "hyperbolic": ("hyperbolic", "https://api.hyperbolic.xyz/v1", "openai", "HYPERBOLIC_API_KEY"),
    "lambda_ai": ("lambda", "https://api.lambda.ai/v1", "openai", "LAMBDA_API_KEY"),
    "moonshot": ("moonshot", "https://api.moonshot.ai/v1", "openai", "MOONSHOT_API_KEY"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com/v1beta/openai", "openai", "GEMINI_API_KEY"),
    "openrouter": ("openrouter", "https://openrouter.ai/api/v1", "openai", "OPENROUTER_API_KEY"),
}
_PARAMS = {"supports_function_calling": ("tools", "tool_choice"), "supports_response_schema": ("response_format",),
           "supports_reasoning": ("reasoning",)}


def _price(value: Any) -> float | None:
    try:
        price = float(value)
    except (TypeError, ValueError):
        return None
    return price if 0 <= price <= _MAX_PRICE_PER_TOKEN else None


def import_openrouter(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """OpenRouter `/api/v1/models` -> one model per entry, served through OpenRouter itself."""
    models, skipped = [], Counter()
    for entry in data.get("data", []):
        pricing = entry.get("pricing") or {}
        prompt, completion = _price(pricing.get("prompt")), _price(pricing.get("completion"))
        if prompt is None or completion is None:
            skipped["no valid price"] += 1
            continue
        architecture = entry.get("architecture") or {}
        top = entry.get("top_provider") or {}
        endpoint = {"provider": "openrouter", "upstream_model": entry["id"], "prompt_price": prompt,
                    "completion_price": completion, "request_price": _price(pricing.get("request")) or 0.0}
        if top.get("max_completion_tokens"):
            endpoint["max_output_tokens"] = int(top["max_completion_tokens"])
        if entry.get("supported_parameters"):
            endpoint["supported_parameters"] = list(entry["supported_parameters"])
        output = architecture.get("output_modalities") or ["text"]
        models.append({
            "id": entry["id"], "name": entry.get("name") or entry["id"], "description": entry.get("description") or "",
            "created": int(entry.get("created") or 0), "kind": "embedding" if output == ["embeddings"] else "chat",
            "context_length": int(entry.get("context_length") or top.get("context_length") or 4096),
            "input_modalities": architecture.get("input_modalities") or ["text"], "output_modalities": output,
            "tokenizer": architecture.get("tokenizer"), "endpoints": [endpoint]})
    providers = {"openrouter": {"base_url": LITELLM_PROVIDERS["openrouter"][1], "api_style": "openai",
                                "key_env": "OPENROUTER_API_KEY"}}
    report = f"openrouter: {len(models)} models imported, skipped {dict(skipped) or 0}"
    return {"providers": providers, "models": models}, report


def _base_name(key: str) -> str:
    return key.rsplit("/", 1)[-1].lower()


def import_litellm(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """LiteLLM price file -> models grouped by base name, one endpoint per provider offering it.

    Grouping is by the part of the LiteLLM key after the last '/', lower-cased; providers that
    name the same weights differently (llama-v3p1-8b-instruct vs Meta-Llama-3.1-8B-Instruct) stay
    separate models, which is honest if not ideal.
    """
    grouped: dict[str, dict[str, Any]] = {}
    providers: dict[str, dict[str, Any]] = {}
    skipped = Counter()
    for key, entry in data.items():
        if not isinstance(entry, dict) or entry.get("mode") not in ("chat", "embedding"):
            skipped["not chat/embedding"] += 1
            continue
        mapping = LITELLM_PROVIDERS.get(entry.get("litellm_provider", ""))
        if mapping is None:
            skipped["provider without a compatible API"] += 1
            continue
        prompt = _price(entry.get("input_cost_per_token"))
        completion = _price(entry.get("output_cost_per_token", 0.0))
        if prompt is None or completion is None:
            skipped["missing or implausible price"] += 1
            continue
        name, base_url, style, key_env = mapping
        providers[name] = {"base_url": base_url, "api_style": style, "key_env": key_env}
        upstream = key.split("/", 1)[1] if key.startswith(entry["litellm_provider"] + "/") else key
        model_id = _base_name(key)
        if not model_id:
            skipped["no model name"] += 1
            continue
        context = int(entry.get("max_input_tokens") or entry.get("max_tokens") or 8192)
        model = grouped.setdefault(model_id, {
            "id": model_id, "name": model_id, "kind": entry["mode"] if entry["mode"] == "embedding" else "chat",
            "context_length": context, "input_modalities": ["text", "image"] if entry.get("supports_vision") else ["text"],
            "output_modalities": ["embeddings"] if entry["mode"] == "embedding" else ["text"], "endpoints": []})
        if any(e["provider"] == name for e in model["endpoints"]) or model["kind"] != (
                "embedding" if entry["mode"] == "embedding" else "chat"):
            skipped["duplicate"] += 1
            continue
        params = ["max_tokens", "temperature", "top_p", "stop", "seed"]
        for flag, names in _PARAMS.items():
            if entry.get(flag):
                params.extend(names)
        endpoint = {"provider": name, "upstream_model": upstream, "prompt_price": prompt, "completion_price": completion,
                    "context_length": context, "supported_parameters": params}
        max_output = entry.get("max_output_tokens")
        if isinstance(max_output, int) and max_output > 0:
            endpoint["max_output_tokens"] = max_output
        model["endpoints"].append(endpoint)
        model["context_length"] = max(model["context_length"], context)
    models = sorted(grouped.values(), key=lambda m: m["id"])
    n_endpoints = sum(len(m["endpoints"]) for m in models)
    report = (f"litellm: {len(models)} models / {n_endpoints} endpoints from {len(providers)} providers imported, "
              f"skipped {dict(skipped)}")
    return {"providers": providers, "models": models}, report


def _read_json(path: Path) -> Any:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return json.loads(raw)


def import_catalog_file(path: str | Path, fmt: str = "auto") -> tuple[dict[str, Any], str]:
    """Detect the format (OpenRouter has a top-level `data` list) and import."""
    path = Path(SAMPLE_CATALOGS.get(str(path), path))  # "openrouter"/"litellm" name the shipped snapshots
    data = _read_json(path)
    if fmt == "auto":
        fmt = "openrouter" if isinstance(data, dict) and isinstance(data.get("data"), list) else "litellm"
    return import_openrouter(data) if fmt == "openrouter" else import_litellm(data)
