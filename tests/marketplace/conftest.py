"""A real gateway on 127.0.0.1 serving the real LiteLLM catalog (744 models) from demo upstreams.

Traffic is driven through it once per session so live stats exist, and the telemetry store gets
fifty minutes of earlier (synthetic) events for one model, rolled up, so the history charts have
both rolled-up and not-yet-rolled-up minutes to draw.
"""
from __future__ import annotations

import httpx
import numpy as np
import polars as pl
import pytest

from router.app import create_app
from router.catalog import Catalog, parse_catalog
from router.importers import import_catalog_file
from router.settings import Settings
from telemetry.rollups import update_rollups
from telemetry.synthetic import synthetic_events_frame
from tests.conftest import ServerThread

MASTER = "sk-sy-test-master-0123456789abcdef"
AUTH = {"authorization": f"Bearer {MASTER}"}
BUSY_MODEL = "gpt-oss-120b"  # eight providers in the LiteLLM catalog
OTHER_MODELS = ("gpt-4o-mini", "claude-3-haiku-20240307")
HISTORY_MINUTES = 50


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    return parse_catalog(import_catalog_file("litellm")[0])


def _chat(client: httpx.Client, model: str, provider: str | None = None) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 24, "stream": True}
    if provider:
        body["provider"] = {"only": [provider]}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.status_code == 200, response.read()
        for _ in response.iter_lines():
            pass


def _earlier_events(catalog: Catalog, now: float) -> pl.DataFrame:
    """Synthetic attempts on BUSY_MODEL's endpoints over the HISTORY_MINUTES before `now`."""
    endpoints = [e.endpoint_id for e in catalog.model(BUSY_MODEL).endpoints]
    frame = synthetic_events_frame(40 * HISTORY_MINUTES, start_ts=now - HISTORY_MINUTES * 60 - 60,
                                   duration_s=HISTORY_MINUTES * 60, n_endpoints=len(endpoints), error_rate=0.04, seed=5)
    mapping = {f"provider-{i % 8}/model-{i // 8}": endpoint for i, endpoint in enumerate(endpoints)}
    endpoint = pl.col("endpoint_id").replace_strict(mapping)
    return frame.with_columns(endpoint_id=endpoint, provider=endpoint.str.split("/").list.first(),
                              requested_model=pl.lit(BUSY_MODEL), served_model=pl.lit(BUSY_MODEL),
                              source=pl.lit("test"), candidates=pl.concat_list(endpoint))


@pytest.fixture(scope="session")
def marketplace_gateway(real_catalog, tmp_path_factory):
    # stats_refresh_s=0: live stats are summarised at most every 0.25 s by default, and the traffic
    # below can finish inside that window, leaving the last endpoints out of the snapshot read next.
    settings = Settings(demo="on", demo_speed=20.0, data_dir=str(tmp_path_factory.mktemp("marketplace")), seed=11,
                        master_key=MASTER, stats_refresh_s=0.0)
    app = create_app(settings, catalog=real_catalog)
    with ServerThread(app) as server:
        state = app.state
        telemetry = getattr(state, "telemetry", None)
        if telemetry is not None:
            history = _earlier_events(real_catalog, state.dispatcher.clock())
            telemetry.call(lambda store: (store.append_frame(history), update_rollups(store)))
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            for endpoint in real_catalog.model(BUSY_MODEL).endpoints:
                for _ in range(3):
                    _chat(client, BUSY_MODEL, endpoint.provider.name)
            for model in OTHER_MODELS:
                for _ in range(4):
                    _chat(client, model)
        if telemetry is not None:
            telemetry.flush()
        server.app = app
        yield server


@pytest.fixture(scope="session")
def listing(marketplace_gateway) -> dict:
    response = httpx.get(marketplace_gateway.url + "/marketplace/api/models", timeout=30)
    response.raise_for_status()
    return response.json()


def finite(values) -> list[float]:
    return [v for v in values if v is not None and np.isfinite(v)]
