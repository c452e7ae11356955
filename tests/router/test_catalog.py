from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from router.catalog import CatalogError, load_catalog, parse_catalog
from router.importers import import_catalog_file

PROVIDERS = {"p": {"base_url": "http://127.0.0.1:1/v1"}}


def test_default_catalog_loads_with_real_prices():
    catalog = load_catalog()
    model = catalog.model("meta-llama/llama-3.1-8b-instruct")
    assert len(model.endpoints) >= 3
    groq = catalog.endpoints["groq/meta-llama/llama-3.1-8b-instruct"]
    assert groq.prompt_price == pytest.approx(5e-8) and groq.completion_price == pytest.approx(8e-8)


@pytest.mark.parametrize("models, needle", [
    ([{"id": "m", "endpoints": [{"provider": "nope", "prompt_price": 0, "completion_price": 0}]}], "models.0.endpoints.0.provider"),
    ([{"id": "m", "endpoints": [{"provider": "p", "prompt_price": -1, "completion_price": 0}]}], "models.0.endpoints.0.prompt_price"),
    ([{"id": "m", "endpoints": [{"provider": "p", "prompt_price": 0, "completion_price": 0, "colour": 1}]}], "models.0.endpoints.0.colour"),
    ([{"id": "m", "endpoints": []}], "models.0.endpoints"),
    ([{"id": "m", "endpoints": [{"provider": "p", "prompt_price": 0, "completion_price": 0}]}] * 2, "models.1.id"),
])
def test_invalid_catalog_errors_name_the_key(models, needle):
    with pytest.raises(CatalogError, match=needle.replace(".", r"\.")):
        parse_catalog({"providers": PROVIDERS, "models": models})


def test_unknown_provider_error_lists_valid_ones():
    with pytest.raises(CatalogError, match="valid: p"):
        parse_catalog({"providers": PROVIDERS, "models": [
            {"id": "m", "endpoints": [{"provider": "q", "prompt_price": 0, "completion_price": 0}]}]})


def test_import_openrouter_snapshot():
    data, report = import_catalog_file("openrouter")
    catalog = parse_catalog(data)
    assert len(catalog.models) > 300 and "330 models" in report
    model = catalog.model("deepseek/deepseek-v4-flash-0731")
    assert model.endpoints[0].prompt_price == pytest.approx(1.4e-7)
    assert model.context_length == 1048576 and "tools" in model.supported_parameters


def test_import_litellm_groups_providers_and_drops_unit_errors():
    data, report = import_catalog_file("litellm")
    catalog = parse_catalog(data)
    assert len(catalog.models) > 500
    assert max(len(m.endpoints) for m in catalog.models.values()) >= 5  # one model, many providers
    assert all(e.completion_price <= 500e-6 for e in catalog.endpoints.values())
    assert catalog.endpoints["groq/llama-3.1-8b-instant"].prompt_price == pytest.approx(5e-8)


def test_cli_import_then_models(tmp_path):
    out = tmp_path / "catalog.yaml"
    subprocess.run([sys.executable, "-m", "router.cli", "catalog", "import", "litellm", "--out", str(out)],
                   check=True, capture_output=True)
    assert len(yaml.safe_load(out.read_text())["models"]) > 500
    listing = subprocess.run([sys.executable, "-m", "router.cli", "models", "--json", "--config", str(out)],
                             check=True, capture_output=True, text=True).stdout
    assert '"gpt-4o-mini"' in listing
