"""How one demo provider behaves: timing drawn from a real llmperf profile, or fixed for tests.

`mode` picks a failure on purpose, by name, so tests read like the fault they inject:
normal, fail-500, fail-429, hang, hang-mid-body, drop, invalid-json, error-body, broken-stream,
malformed-sse, slow-stream.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

__all__ = ["Behaviour", "MODES"]

MODES = ("normal", "fail-500", "fail-429", "hang", "hang-mid-body", "drop", "invalid-json", "error-body",
         "broken-stream", "malformed-sse", "slow-stream")


@dataclass(frozen=True)
class Behaviour:
    api_style: str = "openai"
    mode: str = "normal"
    ttft_s: float | None = None  # fixed time to first token; None = draw from `profile`
    tokens_per_s: float | None = None  # fixed decode speed; None = draw from `profile`
    profile: str | None = None  # llmperf profile name, e.g. "groq-70b"
    error_rate: float | None = None  # 500s per request; None = the profile's measured rate
    rate_429: float | None = None  # 429s per request; None = the profile's measured rate
    output_tokens: int = 24  # reply length when max_tokens does not cap it
    retry_after_s: float = 1.0
    speed: float = 1.0  # >1 speeds everything up (interactive demos), 1 = as measured
    fail_first: int = 0  # fail (as `mode`) only the first N requests, then behave normally

    def with_(self, **changes: Any) -> "Behaviour":
        if "mode" in changes and changes["mode"] not in MODES:
            raise ValueError(f"mode: {changes['mode']!r} is not one of {', '.join(MODES)}")
        return replace(self, **changes)

    def timing(self, rng: np.random.Generator, profiles: dict) -> tuple[float, float]:
        """(ttft seconds, tokens per second) for one request."""
        profile = profiles.get(self.profile) if self.profile else None
        ttft = self.ttft_s if self.ttft_s is not None else (profile.sample_ttft(rng) if profile else 0.05)
        tps = self.tokens_per_s if self.tokens_per_s is not None else (
            profile.sample_tokens_per_s(rng) if profile else 200.0)
        return ttft / self.speed, tps * self.speed

    def draw_failure(self, rng: np.random.Generator, profiles: dict) -> str | None:
        """'fail-500' / 'fail-429' drawn from the measured (or configured) rates, else None."""
        profile = profiles.get(self.profile) if self.profile else None
        error_rate = self.error_rate if self.error_rate is not None else (profile.error_rate if profile else 0.0)
        rate_429 = self.rate_429 if self.rate_429 is not None else (profile.rate_429 if profile else 0.0)
        u = rng.random()
        if u < rate_429:
            return "fail-429"
        if u < rate_429 + error_rate:
            return "fail-500"
        return None
