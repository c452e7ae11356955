"""LinUCB: a contextual bandit on the request's features (`RequestFeatures.as_vector()`).

Per endpoint, ridge regressions on the feature vector x predict log TTFT and log decode speed
(from successes) and the failure indicator (from every counted attempt), each as an offset from
the prior so that an endpoint never seen predicts the prior. Predictions go through the shared
objective; the optimistic score adds alpha * scale * sqrt(x' A^-1 x) (A the endpoint's Gram
matrix of all attempts, scale the candidates' mean |utility|). Inverses are kept up to date by
Sherman-Morrison, so neither `update` nor `distribution` solves a linear system.

All endpoints' state lives in stacked arrays (row 0 is the prior) so that deciding for ten
candidates is a handful of vectorised numpy calls.
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
from ._outcome_bandit import prices_of

__all__ = ["LinUCB"]

_N_FEATURES = len(RequestFeatures().as_vector())
_TTFT, _TPS, _FAIL = range(3)


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
        self.a_inv_ok_ = prior_inverse[None].copy()  # (E+1, d, d) inverse Gram of successes
        self.b_ = np.zeros((1, _N_FEATURES, 3))  # (E+1, d, 3) X'y for ttft, tps (successes), failure (all)
        # What deciding reads, side by side so one gather fetches it: coefficients (d, 3) for
        # ttft, tps, failure, then the inverse Gram of all attempts (d, d) for the bonus width.
        self.model_ = np.concatenate([np.zeros((1, _N_FEATURES, 3)), prior_inverse[None]], axis=2)

    def _row(self, endpoint_id: str) -> int:
        row = self.rows_.get(endpoint_id)
        if row is None:
            row = self.rows_[endpoint_id] = len(self.rows_) + 1
            self.a_inv_ok_ = np.concatenate([self.a_inv_ok_, self.a_inv_ok_[:1]])
            self.b_ = np.concatenate([self.b_, np.zeros((1, _N_FEATURES, 3))])
            self.model_ = np.concatenate([self.model_, self.model_[:1]])
        return row

    def _learn(self, observation: Observation) -> None:
        if not observation.success and observation.error_class in NEUTRAL_ERRORS:
            return
        self._ensure_state()
        row = self._row(observation.endpoint_id)
        x = np.asarray(observation.context.features.as_vector())
        a_inv_all = self.model_[row, :, 3:]  # a view: updated in place
        _sherman_morrison(a_inv_all, x)
        self.b_[row, :, _FAIL] += x * ((0.0 if observation.success else 1.0) - self.prior_failure)
        speed = speed_of(observation) if observation.success else None
        if speed is not None:
            _sherman_morrison(self.a_inv_ok_[row], x)
            self.b_[row, :, _TTFT] += x * (math.log(speed[0]) - math.log(self.prior_ttft_s))
            self.b_[row, :, _TPS] += x * (math.log(speed[1]) - math.log(self.prior_tokens_per_s))
        self.model_[row, :, :2] = self.a_inv_ok_[row] @ self.b_[row, :, :2]
        self.model_[row, :, _FAIL] = a_inv_all @ self.b_[row, :, _FAIL]

    # --- deciding ------------------------------------------------------------------------------
    def _figures(self, candidates: Sequence[Candidate], context: RoutingContext):
        self._ensure_state()
        rows = [self.rows_.get(c.endpoint_id, 0) for c in candidates]
        x = np.array(context.features.as_vector())
        projected = x @ self.model_[rows]  # (n, 3 + d): predicted offsets, then A^-1 x
        speed = np.exp(projected[:, :2]) * self._prior_speed
        ttft, tps = speed[:, 0], speed[:, 1]
        failure = np.minimum(np.maximum(projected[:, _FAIL] + self.prior_failure, 0.0), 1.0)
        latency = ttft + context.features.expected_output_tokens / tps
        width = np.sqrt(np.maximum(projected[:, 3:] @ x, 0.0))
        return ttft, latency, tps, failure, width

    @property
    def _prior_speed(self) -> np.ndarray:
        return np.array([self.prior_ttft_s, self.prior_tokens_per_s])

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        ttft, latency, tps, failure, width = self._figures(candidates, context)
        utilities = combine(weights_for(context.sort, self.weights), prices_of(candidates, context), ttft, latency, tps,
                            failure)
        scale = float(np.abs(utilities).mean()) + 1e-12
        return greedy(utilities + self.alpha * scale * width)

    def predict(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[Prediction]:
        ttft, latency, tps, failure, _ = self._figures(candidates, context)
        return [Prediction(float(ttft[i]), float(latency[i]), float(tps[i]), float(failure[i]))
                for i in range(len(candidates))]


def _sherman_morrison(a_inverse: np.ndarray, x: np.ndarray) -> None:
    """In place: (A + x x')^-1 from A^-1."""
    a_x = a_inverse @ x
    a_inverse -= np.outer(a_x, a_x) / (1.0 + x @ a_x)
