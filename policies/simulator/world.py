"""A world of simulated provider endpoints whose ground truth the simulator knows exactly.

Each endpoint has a latency/error profile fitted from real measurements (`profiles`), prices that
may change at given times, an optional capacity (beyond which latency grows with load) and hard
concurrency limit (beyond which requests get 429), and time windows of outage or degradation.
`World.sample` draws, for a batch of requests, what *every* endpoint would have done with each
request (potential outcomes); replay reveals only the attempted ones, the oracle sees them all.

A world joining real profiles, real prices, real incident durations and a real trace is still
synthetic: `World.synthetic` is True and the report says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..base import Candidate
from .profiles import LatencyProfile

__all__ = ["EndpointSpec", "Outage", "PriceChange", "Degradation", "World", "PotentialOutcomes",
           "OK", "FAIL_5XX", "FAIL_429", "FAIL_TIMEOUT"]

# Outcome codes of an attempt (int8 arrays); error classes as telemetry records them.
OK, FAIL_5XX, FAIL_429, FAIL_TIMEOUT = 0, 1, 2, 3
ERROR_CLASS_OF_CODE = {FAIL_5XX: "5xx", FAIL_429: "429", FAIL_TIMEOUT: "timeout"}
STATUS_OF_CODE = {OK: 200, FAIL_5XX: 503, FAIL_429: 429, FAIL_TIMEOUT: 0}  # 0: no response
# A 429 is rejected before any work; an error arrives after roughly a TTFT of server time.
_REJECT_TIME_FRACTION = 0.1


@dataclass(frozen=True)
class EndpointSpec:
    endpoint_id: str  # "provider/author/model"
    provider: str
    model: str
    profile: LatencyProfile
    prompt_price: float  # USD per token at the start of the trace
    completion_price: float
    context_length: int = 131_072
    capacity: int | None = None  # concurrent requests served at full speed
    load_slope: float = 1.0  # latency multiplier grows by this per `capacity` requests beyond it
    max_in_flight: int | None = None  # hard concurrency limit: beyond it every attempt gets 429

    def candidate(self, prompt_price: float | None = None, completion_price: float | None = None) -> Candidate:
        return Candidate(
            endpoint_id=self.endpoint_id, provider=self.provider, model=self.model,
            prompt_price=self.prompt_price if prompt_price is None else prompt_price,
            completion_price=self.completion_price if completion_price is None else completion_price,
            context_length=self.context_length,
        )


@dataclass(frozen=True)
class Outage:
    endpoint_id: str
    start_s: float  # seconds from the trace start
    end_s: float


@dataclass(frozen=True)
class PriceChange:
    endpoint_id: str
    at_s: float
    prompt_price: float
    completion_price: float
    source: str = "explicit"


@dataclass(frozen=True)
class Degradation:
    """Latency and error rate ramp linearly from normal at `start_s` to the given level at `end_s`, then stay."""

    endpoint_id: str
    start_s: float
    end_s: float
    latency_factor: float = 1.0
    extra_error_rate: float = 0.0


@dataclass(frozen=True)
class PotentialOutcomes:
    """What each endpoint (columns) would do with each request (rows) if it were tried."""

    code: np.ndarray  # int8: OK, FAIL_5XX or FAIL_429
    ttft_s: np.ndarray  # before load effects
    decode_s: np.ndarray  # time after the first token, before load effects
    prompt_price: np.ndarray  # USD per token in effect at the request's arrival
    completion_price: np.ndarray


@dataclass(frozen=True)
class World:
    name: str
    endpoints: tuple[EndpointSpec, ...]
    outages: tuple[Outage, ...] = ()
    price_changes: tuple[PriceChange, ...] = ()
    degradations: tuple[Degradation, ...] = ()
    description: str = ""
    sources: tuple[str, ...] = ()
    synthetic: bool = True
    start_ts: float = 0.0  # unix seconds of the trace start that scenario times are relative to
    _index: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Derived, so `dataclasses.replace(world, endpoints=...)` rebuilds it.
        object.__setattr__(self, "_index", {e.endpoint_id: i for i, e in enumerate(self.endpoints)})
        known = set(self._index)
        for event in (*self.outages, *self.price_changes, *self.degradations):
            if event.endpoint_id not in known:
                raise ValueError(f"{type(event).__name__} names unknown endpoint {event.endpoint_id!r}; "
                                 f"valid: {', '.join(sorted(known))}")

    @property
    def endpoint_ids(self) -> tuple[str, ...]:
        return tuple(e.endpoint_id for e in self.endpoints)

    def index(self, endpoint_id: str) -> int:
        return self._index[endpoint_id]

    def price_epoch_starts(self) -> list[float]:
        """Seconds from the trace start at which some price changes, ascending (epoch i+1 starts at [i])."""
        return sorted({change.at_s for change in self.price_changes})

    def price_epoch(self, timestamps: np.ndarray) -> np.ndarray:
        """Price epoch of each arrival: 0 before the first change, i after the i-th change time."""
        return np.searchsorted(np.asarray(self.price_epoch_starts(), dtype=float), timestamps - self.start_ts,
                               side="right")

    def epoch_prices(self) -> tuple[np.ndarray, np.ndarray]:
        """(prompt, completion) USD-per-token tables, shape (n_epochs, n_endpoints)."""
        starts = self.price_epoch_starts()
        prompt = np.tile([e.prompt_price for e in self.endpoints], (len(starts) + 1, 1))
        completion = np.tile([e.completion_price for e in self.endpoints], (len(starts) + 1, 1))
        for change in sorted(self.price_changes, key=lambda c: c.at_s):
            first_epoch = starts.index(change.at_s) + 1
            prompt[first_epoch:, self._index[change.endpoint_id]] = change.prompt_price
            completion[first_epoch:, self._index[change.endpoint_id]] = change.completion_price
        return prompt, completion

    def epoch_candidates(self) -> list[tuple[Candidate, ...]]:
        """The candidate set (with the prices in effect) of every price epoch."""
        prompt, completion = self.epoch_prices()
        return [tuple(e.candidate(float(prompt[epoch, i]), float(completion[epoch, i]))
                      for i, e in enumerate(self.endpoints)) for epoch in range(len(prompt))]

    def candidates_at(self, ts: float) -> tuple[Candidate, ...]:
        return self.epoch_candidates()[int(self.price_epoch(np.array([ts]))[0])]

    def sample(self, rng: np.random.Generator, timestamps: np.ndarray, output_tokens: np.ndarray) -> PotentialOutcomes:
        """Draw every endpoint's outcome for a batch of requests (vectorised, one call per endpoint)."""
        n, k = len(timestamps), len(self.endpoints)
        ttft = np.empty((n, k))
        decode = np.empty((n, k))
        code = np.zeros((n, k), dtype=np.int8)
        relative = timestamps - self.start_ts
        for i, endpoint in enumerate(self.endpoints):
            profile = endpoint.profile
            ttft[:, i], total = profile.sample_latency_array(rng, output_tokens)
            decode[:, i] = total - ttft[:, i]
            factor, extra_errors = self._degradation(endpoint.endpoint_id, relative)
            ttft[:, i] *= factor
            decode[:, i] *= factor
            draw = rng.random(n)
            code[draw < profile.rate_429 + profile.error_rate + extra_errors, i] = FAIL_5XX
            code[draw < profile.rate_429, i] = FAIL_429
            code[self._in_outage(endpoint.endpoint_id, relative), i] = FAIL_5XX
        prompt_price, completion_price = self._prices_at(timestamps)
        return PotentialOutcomes(code, ttft, decode, prompt_price, completion_price)

    def load_factor(self, in_flight: np.ndarray) -> np.ndarray:
        """Latency multiplier per endpoint (last axis) given concurrent requests already in flight."""
        capacity = np.array([e.capacity or np.inf for e in self.endpoints])
        slope = np.array([e.load_slope for e in self.endpoints])
        return 1.0 + slope * np.maximum(in_flight - capacity, 0.0) / capacity

    def over_limit(self, in_flight: np.ndarray) -> np.ndarray:
        limit = np.array([e.max_in_flight or np.iinfo(np.int32).max for e in self.endpoints])
        return in_flight >= limit

    def failure_time(self, ttft_s: np.ndarray, code: np.ndarray) -> np.ndarray:
        """Seconds an attempt with outcome `code` occupies before its error reaches the gateway."""
        return np.where(code == FAIL_429, _REJECT_TIME_FRACTION * ttft_s, ttft_s)

    def _in_outage(self, endpoint_id: str, relative: np.ndarray) -> np.ndarray:
        mask = np.zeros(relative.shape, dtype=bool)
        for outage in self.outages:
            if outage.endpoint_id == endpoint_id:
                mask |= (relative >= outage.start_s) & (relative < outage.end_s)
        return mask

    def _degradation(self, endpoint_id: str, relative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        factor = np.ones(relative.shape)
        extra = np.zeros(relative.shape)
        for d in self.degradations:
            if d.endpoint_id == endpoint_id:
                progress = np.clip((relative - d.start_s) / max(d.end_s - d.start_s, 1e-9), 0.0, 1.0)
                factor *= 1.0 + progress * (d.latency_factor - 1.0)
                extra += progress * d.extra_error_rate
        return factor, extra

    def _prices_at(self, timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prompt, completion = self.epoch_prices()
        epoch = self.price_epoch(timestamps)
        return prompt[epoch], completion[epoch]
