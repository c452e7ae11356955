"""Per-endpoint outcome estimator shared by the non-contextual bandits.

For each endpoint it keeps time-discounted sufficient statistics of success, log TTFT and log
decode speed (llmperf: TTFT is heavy-tailed, so its log is close to normal; decode speed is stable).
From those it gives point predictions (`point_table`, for UCB) or posterior parameters
(`arrays`, from which Thompson sampling draws), vectorised over endpoints. Discounting uses the
observations' own timestamps with a half-life, so drifting providers are forgotten at the same
rate whatever the traffic volume.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .base import Observation

__all__ = ["EndpointOutcomes", "OutcomeArrays", "speed_of", "speed_from", "NEUTRAL_ERRORS"]

# Errors caused by the client, not the endpoint: they neither count as failures nor as attempts.
NEUTRAL_ERRORS = frozenset({"client-cancel", "user"})

# Columns of one endpoint's statistics row.
_T_LAST, _N, _FAIL, _N_SPEED, _S_TTFT, _SS_TTFT, _S_TPS, _SS_TPS = range(8)
_N_COLUMNS = 8


def speed_of(observation: Observation) -> tuple[float, float] | None:
    """(ttft_s, tokens_per_s) of a successful attempt, derived when only latency was recorded."""
    return speed_from(observation.ttft_s, observation.latency_s, observation.output_tokens, observation.tokens_per_s)


def speed_from(ttft_s: float | None, latency_s: float | None, output_tokens: int,
               tokens_per_s: float | None) -> tuple[float, float] | None:
    """`speed_of` from an attempt's fields, for callers that hold them without an `Observation`."""
    ttft = ttft_s if ttft_s is not None else latency_s
    if ttft is None or ttft <= 0.0:
        return None
    tps = tokens_per_s
    if tps is None and latency_s is not None and output_tokens > 0:
        decode_s = latency_s - ttft
        tps = output_tokens / decode_s if decode_s > 0 else None
    if tps is None or tps <= 0.0:
        return None
    return ttft, tps


@dataclass(frozen=True, slots=True)
class OutcomeArrays:
    """Posterior summaries for a list of endpoints (one entry per endpoint, numpy arrays)."""

    n: np.ndarray  # discounted number of attempts
    fail_alpha: np.ndarray  # Beta posterior of the failure probability
    fail_beta: np.ndarray
    log_ttft_mean: np.ndarray  # posterior mean of log TTFT and the variance of that mean
    log_ttft_var: np.ndarray
    log_tps_mean: np.ndarray
    log_tps_var: np.ndarray

    @property
    def failure_mean(self) -> np.ndarray:
        return self.fail_alpha / (self.fail_alpha + self.fail_beta)


class EndpointOutcomes:
    """Discounted success/speed statistics per endpoint with a weak prior.

    Parameters are plain values so the owning policy can expose them; the prior counts as
    `prior_weight` pseudo-observations of an endpoint failing `prior_failure` of the time with
    TTFT `prior_ttft_s` and decode speed `prior_tokens_per_s` (log-scale spread `prior_log_sd`).
    """

    def __init__(self, half_life_s: float | None = None, prior_weight: float = 1.0, prior_failure: float = 0.1,
                 prior_ttft_s: float = 1.0, prior_tokens_per_s: float = 50.0, prior_log_sd: float = 1.0):
        self.half_life_s = half_life_s
        self.prior_weight = prior_weight
        self.prior_failure = prior_failure
        self.prior_log_ttft = math.log(prior_ttft_s)
        self.prior_log_tps = math.log(prior_tokens_per_s)
        self.prior_log_var = prior_log_sd ** 2
        self.rows: dict[str, list[float]] = {}
        # Point summaries (t_last, n, failure, ttft_s, tokens_per_s) kept current by `observe`, so
        # that deciding reads one tuple per endpoint instead of re-deriving the posterior.
        self.summaries: dict[str, tuple[float, float, float, float, float]] = {}

    def _decay(self, now: float, t_last: float) -> float:
        if self.half_life_s is None or now <= t_last:
            return 1.0
        return 0.5 ** ((now - t_last) / self.half_life_s)

    def observe_outcome(self, endpoint_id: str, success: bool, error_class: str | None, ttft_s: float | None,
                        latency_s: float | None, output_tokens: int, tokens_per_s: float | None,
                        now: float) -> None:
        """Fold one attempt's outcome, observed at `now`, into the endpoint's discounted sums."""
        row = self.rows.get(endpoint_id)
        if row is None:
            row = self.rows[endpoint_id] = [now] + [0.0] * (_N_COLUMNS - 1)
        # The row's columns as locals (this runs once per attempt): `_decay`, the update and
        # `_summary` inline, with the same operations in the same order, and one store.
        t_last, n, fail, n_speed, s_ttft, ss_ttft, s_tps, ss_tps = row
        half_life = self.half_life_s
        decay = 1.0 if half_life is None or now <= t_last else 0.5 ** ((now - t_last) / half_life)
        if decay != 1.0:
            n, fail, n_speed, s_ttft, ss_ttft, s_tps, ss_tps = (
                n * decay, fail * decay, n_speed * decay, s_ttft * decay, ss_ttft * decay, s_tps * decay,
                ss_tps * decay)
        t_last = max(now, t_last)
        if not success:
            # A client cancel or a user error says nothing about the endpoint's health.
            if error_class not in NEUTRAL_ERRORS:
                n += 1.0
                fail += 1.0
        else:
            n += 1.0
            speed = speed_from(ttft_s, latency_s, output_tokens, tokens_per_s)
            if speed is not None:
                log_ttft, log_tps = math.log(speed[0]), math.log(speed[1])
                n_speed += 1.0
                s_ttft += log_ttft
                ss_ttft += log_ttft * log_ttft
                s_tps += log_tps
                ss_tps += log_tps * log_tps
        row[:] = (t_last, n, fail, n_speed, s_ttft, ss_ttft, s_tps, ss_tps)
        k = self.prior_weight
        weight = n_speed + k
        self.summaries[endpoint_id] = (
            t_last, n, (fail + k * self.prior_failure) / (n + k), math.exp((s_ttft + k * self.prior_log_ttft) / weight),
            math.exp((s_tps + k * self.prior_log_tps) / weight))

    def _summary(self, row: list[float]) -> tuple[float, float, float, float, float]:
        k = self.prior_weight
        weight = row[_N_SPEED] + k
        return (
            row[_T_LAST],
            row[_N],
            (row[_FAIL] + k * self.prior_failure) / (row[_N] + k),
            math.exp((row[_S_TTFT] + k * self.prior_log_ttft) / weight),
            math.exp((row[_S_TPS] + k * self.prior_log_tps) / weight),
        )

    def point_table(self, endpoint_ids: Sequence[str], now: float) -> np.ndarray:
        """(n, 4) array of [discounted attempts, failure_prob, ttft_s, tokens_per_s] per endpoint.

        Only the attempt count is decayed to `now`: discounting scales an endpoint's sums alike,
        so its means stay as of its last observation (the pull towards the prior as data ages is
        left to the exploration bonus, which grows as the count decays).
        """
        prior = (now, 0.0, self.prior_failure, math.exp(self.prior_log_ttft), math.exp(self.prior_log_tps))
        summaries = self.summaries
        table = np.array([summaries.get(e, prior) for e in endpoint_ids])
        if self.half_life_s is not None:
            table[:, 1] *= 0.5 ** (np.maximum(now - table[:, 0], 0.0) / self.half_life_s)
        return table[:, 1:]

    def posterior(self, endpoint_id: str, now: float) -> tuple[float, float, float, float, float, float, float]:
        """`arrays` for one endpoint as floats: (n, fail_alpha, fail_beta, log_ttft_mean, log_ttft_var,
        log_tps_mean, log_tps_var).

        The same operations on Python floats, which round as numpy's do, except the decay power:
        numpy's may differ from the C library's in the last bit, so it stays a numpy array operation.
        """
        row = self.rows.get(endpoint_id)
        t_last, n, fail, n_speed, s_ttft, ss_ttft, s_tps, ss_tps = (now, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0) \
            if row is None else row
        if self.half_life_s is not None:
            decay = float((0.5 ** (np.array([max(now - t_last, 0.0)]) / self.half_life_s))[0])
            n, fail, n_speed, s_ttft, ss_ttft, s_tps, ss_tps = (
                n * decay, fail * decay, n_speed * decay, s_ttft * decay, ss_ttft * decay, s_tps * decay,
                ss_tps * decay)
        k = self.prior_weight
        weight = n_speed + k
        ttft_mean = (s_ttft + k * self.prior_log_ttft) / weight
        tps_mean = (s_tps + k * self.prior_log_tps) / weight
        prior_ss_ttft = k * (self.prior_log_var + self.prior_log_ttft ** 2)
        prior_ss_tps = k * (self.prior_log_var + self.prior_log_tps ** 2)
        ttft_var = max((ss_ttft + prior_ss_ttft) / weight - ttft_mean * ttft_mean, 1e-6) / weight
        tps_var = max((ss_tps + prior_ss_tps) / weight - tps_mean * tps_mean, 1e-6) / weight
        return (n, fail + k * self.prior_failure, (n - fail) + k * (1.0 - self.prior_failure),
                ttft_mean, ttft_var, tps_mean, tps_var)

    def arrays(self, endpoint_ids: Sequence[str], now: float) -> OutcomeArrays:
        """Posterior summaries for `endpoint_ids` as of `now` (unknown endpoints get the prior)."""
        empty = [now] + [0.0] * (_N_COLUMNS - 1)
        table = np.array([self.rows.get(e, empty) for e in endpoint_ids], dtype=float)
        if self.half_life_s is not None:
            ages = np.maximum(now - table[:, _T_LAST], 0.0)
            table[:, 1:] *= (0.5 ** (ages / self.half_life_s))[:, None]
        k = self.prior_weight
        n, fail, n_speed = table[:, _N], table[:, _FAIL], table[:, _N_SPEED]
        weight = n_speed + k
        ttft_mean = (table[:, _S_TTFT] + k * self.prior_log_ttft) / weight
        tps_mean = (table[:, _S_TPS] + k * self.prior_log_tps) / weight
        prior_ss_ttft = k * (self.prior_log_var + self.prior_log_ttft ** 2)
        prior_ss_tps = k * (self.prior_log_var + self.prior_log_tps ** 2)
        ttft_var = np.maximum((table[:, _SS_TTFT] + prior_ss_ttft) / weight - ttft_mean ** 2, 1e-6) / weight
        tps_var = np.maximum((table[:, _SS_TPS] + prior_ss_tps) / weight - tps_mean ** 2, 1e-6) / weight
        return OutcomeArrays(
            n=n,
            fail_alpha=fail + k * self.prior_failure,
            fail_beta=(n - fail) + k * (1.0 - self.prior_failure),
            log_ttft_mean=ttft_mean,
            log_ttft_var=ttft_var,
            log_tps_mean=tps_mean,
            log_tps_var=tps_var,
        )

