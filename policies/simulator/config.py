"""What one replay is configured with and what it returns."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from ..base import Policy
from ..objective import DEFAULT_WEIGHTS, Weights
from .world import World

__all__ = ["ReplayConfig", "ReplayResult", "ORACLE"]

ORACLE = "oracle"  # the policy name that asks for the ground-truth oracle instead of a registered policy


@dataclass(frozen=True)
class ReplayConfig:
    seed: int = 0
    feedback_delay_s: float = 0.0  # extra delay between an attempt's end and the policy's update
    max_attempts: int | None = None  # None: fall back through every candidate, as dispatch does by default
    # Dispatch's per-endpoint circuit breaker (router/settings.py defaults): after this many
    # consecutive failures an endpoint is skipped for `breaker_cooldown_s`, then one trial goes
    # through. None disables it. The oracle is never subject to it.
    breaker_failures: int | None = 5
    breaker_cooldown_s: float = 30.0
    # Dispatch tells the policy when a breaker skips an endpoint (a failed "circuit-open"
    # observation); without it a learned policy never sees an outage once the breaker is open.
    # False replays the old behaviour, for comparison.
    breaker_feedback: bool = True
    # Dispatch's timeouts (router/settings.py defaults): an attempt fails with "timeout" when its
    # last byte (first byte for streams) takes longer than this, or than what is left of the deadline.
    attempt_timeout_s: float = 60.0
    request_deadline_s: float = 180.0
    expected_output_prior: int = 256  # what the policy is told about output length without max_tokens (dispatch's prior)
    weights: Weights = DEFAULT_WEIGHTS  # objective weights used to score outcomes, utility and regret
    # Policies that learn only through `fit` (regression) are refitted from the outcomes seen so far
    # every this many simulated seconds, on at most `refit_history` recent attempts, as serving's
    # scheduled refit does (router/settings.py: policy_refit_s). None: never refit.
    refit_every_s: float | None = 300.0
    refit_history: int = 20_000
    chunk_size: int = 65_536  # requests whose world outcomes are drawn in one vectorised batch
    # Policies that offer `distribution_version`/`distribution_batch` (thompson) are asked for
    # the next requests' probabilities together while their version holds (same state, same
    # distributions: the replay is identical either way; False decides one request at a time).
    batch_decisions: bool = True


@dataclass(frozen=True)
class ReplayResult:
    policy: str
    policy_version: str
    world: World
    config: ReplayConfig
    requests: pl.DataFrame  # one row per request: outcome after fallback, utility, oracle utility, regret
    attempts: pl.DataFrame  # one row per attempt
    candidate_sets: tuple[tuple[str, ...], ...]  # indexed by attempts["candidate_set"]
    wall_s: float
    policy_object: Policy | None = field(default=None, compare=False, repr=False)

    @property
    def requests_per_s(self) -> float:
        return self.requests.height / self.wall_s if self.wall_s > 0 else math.inf


