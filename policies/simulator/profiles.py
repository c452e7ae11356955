"""Latency and error profiles of real hosted endpoints, fitted from llmperf measurements.

TTFT is lognormal (heavy right tail, as measured); decode speed is normal and stable per endpoint;
end-to-end latency ~= TTFT + (output_tokens - 1) / tokens_per_s, the same decomposition the fit
used (`fit_profiles.py`, source ray-project/llmperf-leaderboard@27aa9b6, Apache-2.0).

>>> import numpy as np
>>> profile = load_profiles()["groq-70b"]
>>> ttft, total = profile.sample_latency(np.random.default_rng(0), output_tokens=200)
>>> 0 < ttft < total
True
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["LatencyProfile", "load_profiles", "PROFILES_PATH"]

PROFILES_PATH = Path(__file__).with_name("data") / "latency_profiles.json"
# Decode speed is drawn from a normal; a floor keeps a rare low draw from producing a negative or
# near-zero speed (which would make one request take hours and dominate every percentile).
_MIN_SPEED_FRACTION = 0.2


@dataclass(frozen=True)
class LatencyProfile:
    name: str
    ttft_log_mu: float  # mean of log(TTFT seconds)
    ttft_log_sigma: float  # sd of log(TTFT seconds)
    tokens_per_s_mean: float  # decode speed after the first token
    tokens_per_s_sd: float
    error_rate: float  # non-429 failures per request
    rate_429: float  # rate-limit rejections per request
    source: str

    def sample_ttft(self, rng: np.random.Generator) -> float:
        return float(rng.lognormal(self.ttft_log_mu, self.ttft_log_sigma))

    def sample_tokens_per_s(self, rng: np.random.Generator) -> float:
        return float(self.sample_tokens_per_s_array(rng, 1)[0])

    def sample_latency(self, rng: np.random.Generator, output_tokens: int) -> tuple[float, float]:
        """Return (ttft_s, total_s) for one successful request producing `output_tokens`."""
        ttft = self.sample_ttft(rng)
        return ttft, ttft + max(output_tokens - 1, 0) / self.sample_tokens_per_s(rng)

    # Vectorised forms used by the replay engine (one numpy call per batch of requests).
    def sample_ttft_array(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.ttft_log_mu, self.ttft_log_sigma, size)

    def sample_tokens_per_s_array(self, rng: np.random.Generator, size: int) -> np.ndarray:
        speeds = rng.normal(self.tokens_per_s_mean, self.tokens_per_s_sd, size)
        return np.maximum(speeds, _MIN_SPEED_FRACTION * self.tokens_per_s_mean)

    def sample_latency_array(self, rng: np.random.Generator, output_tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        output_tokens = np.asarray(output_tokens)
        ttft = self.sample_ttft_array(rng, output_tokens.size)
        speed = self.sample_tokens_per_s_array(rng, output_tokens.size)
        return ttft, ttft + np.maximum(output_tokens - 1, 0) / speed

    @property
    def ttft_mean_s(self) -> float:
        """Expected TTFT (lognormal mean), used by the oracle."""
        return float(np.exp(self.ttft_log_mu + 0.5 * self.ttft_log_sigma**2))


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, LatencyProfile]:
    raw = json.loads(Path(path).read_text())
    return {name: LatencyProfile(**fields) for name, fields in raw.items()}


def load_profiles(path: str | Path | None = None) -> dict[str, LatencyProfile]:
    """All fitted profiles keyed "provider-size", e.g. "groq-70b", "together-13b", "fireworks-7b"."""
    return dict(_load(str(path or PROFILES_PATH)))
