"""The gateway's long-lived resources, opened in the app's lifespan and closed in reverse order."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from telemetry.events import AttemptEvent
from telemetry.jobs import TelemetryJobs
from telemetry.metrics import Metrics
from telemetry.snapshot import LiveStats
from telemetry.writer import TelemetryWriter

from .accounting import Accountant
from .billing import Billing
from .catalog import Catalog
from .catalog_watch import CatalogWatcher
from .demo import Behaviour, DemoProviders
from .dispatch import Dispatcher
from .policy_book import PolicyBook
from .settings import Settings
from .transport import LeanTransport

__all__ = ["Services", "open_services", "demo_behaviours", "wants_demo"]

log = logging.getLogger("switchyard")


def demo_behaviours(catalog: Catalog, speed: float = 1.0) -> dict[str, Behaviour]:
    """One demo upstream per catalog provider, imitating the provider's measured profile."""
    return {name: Behaviour(api_style=p.api_style, profile=p.demo_profile, speed=speed)
            for name, p in catalog.providers.items()}


def wants_demo(settings: Settings, catalog: Catalog) -> bool:
    if settings.demo != "auto":
        return settings.demo == "on"
    has_any_key = any(
        name in settings.provider_keys or (p.key_env and os.environ.get(p.key_env))
        for name, p in catalog.providers.items())
    return not has_any_key


class PolicyRefitter:
    """The scheduled refit job: read recent telemetry, fit fresh policy copies, swap them in."""

    def __init__(self, policies: PolicyBook, writer: TelemetryWriter, settings: Settings):
        self.policies = policies
        self.writer = writer
        self.settings = settings
        self.directory = Path(settings.data_dir) / "policies"

    def run(self, online_too: bool = False) -> list[str]:
        import time

        since = time.time() - self.settings.policy_history_s
        try:
            events = self.writer.read_frame("SELECT * FROM events WHERE ts >= $since AND source = 'gateway' "
                                            "ORDER BY ts", {"since": since})
            return self.policies.refit(events, self.directory, online_too=online_too)
        except Exception:  # a failed refit keeps the serving policy; the next run tries again
            log.exception("policy refit failed")
            return []


class TelemetryRecorder:
    """What dispatch records into: the DuckDB writer's queue and the Prometheus counters."""

    def __init__(self, writer: TelemetryWriter | None, metrics: Metrics):
        self.writer = writer
        self.metrics = metrics

    def record(self, event: AttemptEvent) -> bool:
        self.metrics.observe(event)
        return self.writer.record(event) if self.writer is not None else True


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    transport: httpx.AsyncBaseTransport
    billing: Billing
    live_stats: LiveStats
    metrics: Metrics
    dispatcher: Dispatcher
    telemetry: TelemetryWriter | None = None
    jobs: TelemetryJobs | None = None
    refitter: "PolicyRefitter | None" = None
    demo: DemoProviders | None = None
    watcher: CatalogWatcher | None = None
    on_catalog_swap: Callable[[Catalog], None] | None = None  # the app keeps app.state.catalog current

    async def close(self) -> None:
        self.dispatcher.bookkeeper.flush()  # before the ledger and telemetry close
        if self.jobs is not None:
            self.jobs.shutdown(wait=True)
        await self.transport.aclose()
        if self.telemetry is not None:
            self.telemetry.stop()  # flushes everything queued
        self.billing.close()
        if self.demo is not None:
            self.demo.stop()


def open_services(settings: Settings, catalog: Catalog, transport: httpx.AsyncBaseTransport | None = None,
                  jobs: bool = True) -> Services:
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    demo = None
    if wants_demo(settings, catalog):
        demo = DemoProviders(demo_behaviours(catalog, settings.demo_speed), port=settings.demo_port,
                             seed=settings.seed or 0).start()
        catalog = catalog.with_base_urls({name: demo.base_url(name) for name in catalog.providers})
        log.info("demo mode: no provider key configured; demo upstreams on 127.0.0.1:%d", demo.port)
    if transport is None:
        transport = LeanTransport() if settings.http_transport == "lean" else httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=2000, max_keepalive_connections=500))
    billing = Billing.open(settings.billing_path, master_key=settings.master_key)
    writer = TelemetryWriter(settings.telemetry_path, max_queue=settings.telemetry_queue,
                             flush_interval_s=settings.telemetry_flush_s).start() if settings.telemetry else None
    metrics = Metrics(writer)
    live_stats = LiveStats(refresh_s=settings.stats_refresh_s)
    policies = PolicyBook(settings.policy, settings.policy_per_model, settings.policy_params,
                          min_prob=settings.min_prob, seed=settings.seed)
    dispatcher = Dispatcher(transport, catalog, settings, TelemetryRecorder(writer, metrics), live_stats, policies,
                            demo_mode=demo is not None, accountant=Accountant(billing))
    services_ref: list[Services] = []

    def swap_catalog(new: Catalog) -> None:
        dispatcher.catalog = new
        for services in services_ref:
            services.catalog = new
            if services.on_catalog_swap is not None:
                services.on_catalog_swap(new)

    demo_urls = {name: demo.base_url(name) for name in catalog.providers} if demo is not None else None
    watcher = CatalogWatcher(settings.catalog_path, catalog, swap_catalog, demo_urls)
    scheduled = None
    refitter = None
    if writer is not None and jobs:
        refitter = PolicyRefitter(policies, writer, settings)
        refitter.run(online_too=True)  # warm start from what earlier runs recorded
        scheduled = TelemetryJobs(writer, live_stats, price_source=watcher.prices,
                                  archive_dir=Path(settings.data_dir) / "archive",
                                  price_interval_s=settings.catalog_refresh_s).start()
        scheduled.refresh_prices()  # the catalog's prices are observed once at startup
        if settings.policy_refit_s > 0:
            scheduled.add_interval_job("policy-refit", refitter.run, settings.policy_refit_s)
    services = Services(settings=settings, catalog=catalog, transport=transport, billing=billing, live_stats=live_stats,
                        metrics=metrics, dispatcher=dispatcher, telemetry=writer, jobs=scheduled, refitter=refitter,
                        demo=demo, watcher=watcher)
    services_ref.append(services)
    return services


def describe(services: Services) -> dict[str, Any]:
    return {"demo": services.demo is not None, "models": len(services.catalog.models),
            "endpoints": len(services.catalog.endpoints), "telemetry": services.telemetry is not None}
