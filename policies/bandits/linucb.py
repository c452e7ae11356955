"""LinUCB: a contextual bandit on the request's features (`RequestFeatures.as_vector()`).

Per endpoint, ridge regressions on the feature vector x predict log TTFT and log decode speed
(from successes) and the failure indicator (from every counted attempt), each as an offset from
the prior so that an endpoint never seen predicts the prior. Predictions go through the shared
objective; the optimistic score adds alpha * scale * sqrt(x' A^-1 x) (A the endpoint's Gram
matrix of all attempts, scale the candidates' mean |utility|). Inverses are kept up to date by
Sherman-Morrison and coefficients by recursive least squares, so neither `update` nor
`distribution` solves a linear system.

All endpoints' state lives in one stacked array (row 0 is the prior), so that deciding is one
product with x for every endpoint and then plain arithmetic per candidate.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..base import Candidate, Observation, RequestFeatures, RoutingContext
from ..estimators import NEUTRAL_ERRORS, speed_of
from ..exploration import greedy
from ..objective import DEFAULT_WEIGHTS, Prediction, Weights, combine, weights_for
from ..registry import register
from ..scoring import ScoringPolicy

__all__ = ["LinUCB"]

_N_FEATURES = len(RequestFeatures().as_vector())
_TTFT, _TPS, _FAIL = range(3)
_GAIN_OF_TARGET = [1, 1, 0]  # gain rows (0: all attempts, 1: successes) that move ttft, tps, failure


@register
class LinUCB(ScoringPolicy):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-7, 1e-7) for e in ("good", "bad")]
    >>> p = LinUCB()
    >>> for step in range(20):
    ...     p.update(Observation("good", RoutingContext(), success=True, ttft_s=0.3, tokens_per_s=80.0))
    ...     p.update(Observation("bad", RoutingContext(), success=False, error_class="5xx"))
    >>> p.distribution(c, RoutingContext())["good"]
    0.99
    """

    name = "linucb"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, alpha: float = 0.5, ridge: float = 1.0, weights: Weights = DEFAULT_WEIGHTS,
                 prior_ttft_s: float = 1.0, prior_tokens_per_s: float = 50.0, prior_failure: float = 0.1,
                 min_prob: float = 0.01):
        self.alpha = alpha
        self.ridge = ridge
        self.weights = weights
        self.prior_ttft_s = prior_ttft_s
        self.prior_tokens_per_s = prior_tokens_per_s
        self.prior_failure = prior_failure
        self.min_prob = min_prob

    # --- learned state -------------------------------------------------------------------------
    def _ensure_state(self) -> None:
        if "rows_" in self.__dict__:
            return
        prior_inverse = np.eye(_N_FEATURES) / self.ridge
        self.rows_: dict[str, int] = {}
        # Per endpoint (row 0 is the prior), side by side so that one product with x reads them all:
        # coefficients (d, 3) for ttft, tps, failure, then the inverse Gram matrices (d, d) of all
        # attempts (failure, and the bonus width) and of successes (ttft, tps).
        self.model_ = np.concatenate([np.zeros((1, _N_FEATURES, 3)), prior_inverse[None], prior_inverse[None]], axis=2)

    def _row(self, endpoint_id: str) -> int:
        row = self.rows_.get(endpoint_id)
        if row is None:
            row = self.rows_[endpoint_id] = len(self.rows_) + 1
            self.model_ = np.concatenate([self.model_, self.model_[:1]])
        return row

    def _learn(self, observation: Observation) -> None:
        if not observation.success and observation.error_class in NEUTRAL_ERRORS:
            return
        self._ensure_state()
        row = self._row(observation.endpoint_id)  # may grow model_, so before taking the view
        model = self.model_[row]  # a view: updated in place
        x = np.array(observation.context.features.as_vector())
        speed = speed_of(observation) if observation.success else None
        # Recursive least squares: Sherman-Morrison on the inverse Gram matrix, and each
        # coefficient vector moves by the gain A_new^-1 x times its prediction error, which equals
        # recomputing A^-1 X'y. A failure updates the all-attempts block, a timed success both.
        projected = x @ model  # predictions, A_all^-1 x, A_ok^-1 x
        blocks = 1 if speed is None else 2
        a_inv_x = projected[3:3 + blocks * _N_FEATURES].reshape(blocks, _N_FEATURES)
        gain = a_inv_x / (a_inv_x @ x + 1.0)[:, None]
        predicted = projected[:3].tolist()
        failure_error = (0.0 if observation.success else 1.0) - self.prior_failure - predicted[_FAIL]
        if speed is None:
            model[:, _FAIL] += gain[0] * failure_error
        else:  # ttft and tps move with the successes' gain, failure with all attempts' gain
            errors = np.array([math.log(speed[0] / self.prior_ttft_s) - predicted[_TTFT],
                               math.log(speed[1] / self.prior_tokens_per_s) - predicted[_TPS], failure_error])
            model[:, :3] += gain[_GAIN_OF_TARGET].T * errors
        inverses = model[:, 3:3 + blocks * _N_FEATURES].reshape(_N_FEATURES, blocks, _N_FEATURES)
        inverses -= a_inv_x.T[:, :, None] * gain[None, :, :]

    # --- deciding ------------------------------------------------------------------------------
    def _figures(self, candidates: Sequence[Candidate], context: RoutingContext):
        self._ensure_state()
        rows = [self.rows_.get(c.endpoint_id, 0) for c in candidates]
        x = np.array(context.features.as_vector())
        projected = x @ self.model_[rows]  # (n, 3 + 2d): predicted offsets, A_all^-1 x, A_ok^-1 x
        speed = np.exp(projected[:, :2]) * self._prior_speed
        ttft, tps = speed[:, 0], speed[:, 1]
        failure = np.minimum(np.maximum(projected[:, _FAIL] + self.prior_failure, 0.0), 1.0)
        latency = ttft + context.features.expected_output_tokens / tps
        width = np.sqrt(np.maximum(projected[:, 3:3 + _N_FEATURES] @ x, 0.0))
        return ttft, latency, tps, failure, width

    @property
    def _prior_speed(self) -> np.ndarray:
        return np.array([self.prior_ttft_s, self.prior_tokens_per_s])

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        # One batched product gives every endpoint's predicted offsets and A^-1 x; the rest is
        # scalar arithmetic per candidate, in plain Python, which for ~10 candidates is several
        # times faster than a dozen numpy calls (each costs ~1 us whatever the size).
        self._ensure_state()
        features = context.features
        x = np.array(features.as_vector())
        projected = x @ self.model_  # per row: 3 offsets, A_all^-1 x, A_ok^-1 x
        offsets, width_squared = projected[:, :3].tolist(), (projected[:, 3:3 + _N_FEATURES] @ x).tolist()
        rows, exp, sqrt = self.rows_, math.exp, math.sqrt
        prior_ttft, prior_tps, prior_failure = self.prior_ttft_s, self.prior_tokens_per_s, self.prior_failure
        prompt_tokens, output_tokens = features.prompt_tokens, features.expected_output_tokens
        weights = weights_for(context.sort, self.weights)
        utilities, widths = [], []
        for candidate in candidates:
            row = rows.get(candidate.endpoint_id, 0)
            ttft_offset, tps_offset, failure_offset = offsets[row]
            ttft, tps = exp(ttft_offset) * prior_ttft, exp(tps_offset) * prior_tps
            failure = min(max(failure_offset + prior_failure, 0.0), 1.0)
            utilities.append(combine(weights, candidate.expected_cost(prompt_tokens, output_tokens), ttft,
                                     ttft + output_tokens / tps, tps, failure))
            widths.append(sqrt(max(width_squared[row], 0.0)))
        scale = sum([abs(u) for u in utilities]) / len(utilities) + 1e-12
        bonus_scale = self.alpha * scale
        return greedy([u + bonus_scale * w for u, w in zip(utilities, widths)])

    def predict(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[Prediction]:
        ttft, latency, tps, failure, _ = self._figures(candidates, context)
        return [Prediction(float(ttft[i]), float(latency[i]), float(tps[i]), float(failure[i]))
                for i in range(len(candidates))]

