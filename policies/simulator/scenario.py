"""World scenarios in YAML: validated once into frozen models, then bound to a trace's time span.

Times are given either as a fraction of the replayed trace's span (`start: 0.25`) or in seconds
from its start (`start_s: 900`), so one scenario fits any trace and any time compression. Outage
durations may be drawn from the real incident-duration quantiles (`incident_quantile: 0.25`,
derived from status-page data by `import_data.py`), given in seconds, or as a fraction of the span.
Shipped scenarios live in `scenarios/`; `available_scenarios()` lists them.
"""
from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from .profiles import load_profiles
from .world import Degradation, EndpointSpec, Outage, PriceChange, World

__all__ = ["Scenario", "load_scenario", "available_scenarios", "incident_duration_s", "SCENARIO_DIR"]

SCENARIO_DIR = Path(__file__).with_name("scenarios")
_OUTAGE_TABLE = Path(__file__).with_name("data") / "outage_durations.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Time(_Strict):
    """Mixin resolving `<key>` (fraction of span) or `<key>_s` (seconds)."""

    def _resolve(self, key: str, span_s: float) -> float:
        seconds, fraction = getattr(self, f"{key}_s"), getattr(self, key)
        if seconds is not None:
            return float(seconds)
        if fraction is not None:
            return float(fraction) * span_s
        raise ValueError(f"{type(self).__name__}: give {key!r} (fraction of the trace span) or {key + '_s'!r} (seconds)")


class EndpointModel(_Strict):
    endpoint_id: str
    provider: str
    model: str
    profile: str
    prompt_price: float
    completion_price: float
    context_length: int = 131_072
    capacity: int | None = None
    load_slope: float = 1.0
    max_in_flight: int | None = None
    error_rate: float | None = None  # override the profile's measured rate
    rate_429: float | None = None


class OutageModel(_Time):
    endpoint: str
    start: float | None = None
    start_s: float | None = None
    duration: float | None = None
    duration_s: float | None = None
    incident_quantile: float | None = None

    def duration_seconds(self, span_s: float) -> float:
        if self.incident_quantile is not None:
            return incident_duration_s(self.incident_quantile)
        return self._resolve("duration", span_s)


class PriceChangeModel(_Time):
    endpoint: str
    at: float | None = None
    at_s: float | None = None
    prompt_price: float
    completion_price: float
    source: str = "explicit"


class DegradationModel(_Time):
    endpoint: str
    start: float | None = None
    start_s: float | None = None
    end: float | None = None
    end_s: float | None = None
    latency_factor: float = 1.0
    extra_error_rate: float = 0.0


class Scenario(_Strict):
    name: str
    description: str = ""
    sources: tuple[str, ...] = ()
    endpoints: tuple[EndpointModel, ...]
    outages: tuple[OutageModel, ...] = ()
    price_changes: tuple[PriceChangeModel, ...] = ()
    degradations: tuple[DegradationModel, ...] = ()

    @model_validator(mode="after")
    def _known_profiles(self) -> "Scenario":
        profiles = load_profiles()
        for endpoint in self.endpoints:
            if endpoint.profile not in profiles:
                raise ValueError(f"endpoint {endpoint.endpoint_id!r}: unknown profile {endpoint.profile!r}; "
                                 f"valid: {', '.join(sorted(profiles))}")
        return self

    def bind(self, start_ts: float, span_s: float) -> World:
        """The concrete world for a trace starting at `start_ts` (unix s) and lasting `span_s`."""
        profiles = load_profiles()
        endpoints = []
        for e in self.endpoints:
            overrides = {k: getattr(e, k) for k in ("error_rate", "rate_429") if getattr(e, k) is not None}
            profile = replace(profiles[e.profile], **overrides)
            endpoints.append(EndpointSpec(
                endpoint_id=e.endpoint_id, provider=e.provider, model=e.model, profile=profile,
                prompt_price=e.prompt_price, completion_price=e.completion_price, context_length=e.context_length,
                capacity=e.capacity, load_slope=e.load_slope, max_in_flight=e.max_in_flight,
            ))
        outages = tuple(
            Outage(o.endpoint, start := o._resolve("start", span_s), start + o.duration_seconds(span_s))
            for o in self.outages
        )
        price_changes = tuple(
            PriceChange(p.endpoint, p._resolve("at", span_s), p.prompt_price, p.completion_price, p.source)
            for p in self.price_changes
        )
        degradations = tuple(
            Degradation(d.endpoint, d._resolve("start", span_s), d._resolve("end", span_s), d.latency_factor,
                        d.extra_error_rate)
            for d in self.degradations
        )
        return World(name=self.name, endpoints=tuple(endpoints), outages=outages, price_changes=price_changes,
                     degradations=degradations, description=self.description, sources=self.sources,
                     synthetic=True, start_ts=start_ts)


def available_scenarios() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name ("steady", "outage-of-best", ...) or a YAML file path."""
    path = Path(name_or_path)
    if not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise KeyError(f"unknown scenario {str(name_or_path)!r}; valid: {', '.join(available_scenarios())} or a YAML path")
    return Scenario.model_validate(yaml.safe_load(path.read_text()))


@lru_cache(maxsize=1)
def _outage_quantiles() -> tuple[np.ndarray, np.ndarray]:
    table = json.loads(_OUTAGE_TABLE.read_text())["quantiles"]
    levels = np.array([float(q) for q in table])
    minutes = np.array(list(table.values()))
    return levels, minutes


def incident_duration_s(quantile: float) -> float:
    """Duration (s) at `quantile` of real API incident durations (interpolated, clamped to the table)."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"incident_quantile must be in [0, 1], got {quantile}")
    levels, minutes = _outage_quantiles()
    return float(np.interp(quantile, levels, minutes)) * 60.0
