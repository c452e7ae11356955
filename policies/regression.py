"""Regression policy: scikit-learn models predict each endpoint's outcome for this request.

`fit(observations)` trains, on request features plus the endpoint's recent failure rate
(a sparse design, so thousands of endpoints and millions of attempts fit in memory):
  * Ridge on log TTFT and on log decode speed (successful attempts),
  * LogisticRegression on failure (every attempt that counts against an endpoint),
each on a design with shared columns and per-endpoint copies (one-hot x features), so every
endpoint gets its own slopes shrunk towards the pooled ones and an endpoint absent from training
falls back to the pooled model. Latency is TTFT + expected output tokens / decode speed.

After fitting, the linear coefficients are copied into one stacked numpy array, so deciding is a
few vectorised numpy calls (no sklearn on the request path). Predictions are scored by the shared
objective and turned into a softmax with a relative `temperature`, then floored by `min_prob`.
Online `update`s are ignored: a scheduled job refits and swaps in a new snapshot.
"""
from __future__ import annotations

import math
import warnings
from collections import deque
from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge

from .base import Candidate, Observation, RequestFeatures, RoutingContext
from .estimators import NEUTRAL_ERRORS, speed_of
from .exploration import softmax
from .objective import DEFAULT_WEIGHTS, Prediction, Weights, combine, weights_for
from .registry import register
from .scoring import ScoringPolicy

__all__ = ["RegressionPolicy"]

_TTFT, _TPS, _FAIL = range(3)
_N_FEATURES = len(RequestFeatures().as_vector()) + 1  # request features, then recent failure rate
# What an endpoint with no data predicts: log TTFT 1 s, log 50 tokens/s, logit of 10 % failures.
_PRIOR_OUTPUTS = (0.0, math.log(50.0), math.log(0.1 / 0.9))


@register
class RegressionPolicy(ScoringPolicy):
    """>>> from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
    >>> ctx = RoutingContext(features=RequestFeatures(expected_output_tokens=200))
    >>> history = [Observation(e, ctx, success=True, ttft_s=t, tokens_per_s=50.0, output_tokens=200)
    ...            for e, t in [("quick", 0.2), ("slow", 2.0)] * 20]
    >>> p = RegressionPolicy().fit(history)
    >>> c = [Candidate(e, e, "m", 1e-7, 1e-7) for e in ("quick", "slow")]
    >>> p.distribution(c, ctx)["quick"] > 0.9
    True
    """

    name = "regression"
    needs_refit = True

    def __init__(self, alpha: float = 1.0, temperature: float = 0.05, weights: Weights = DEFAULT_WEIGHTS,
                 health_window_s: float = 300.0, min_prob: float = 0.02):
        self.alpha = alpha
        self.temperature = temperature
        self.weights = weights
        self.health_window_s = health_window_s
        self.min_prob = min_prob

    # --- fitting -------------------------------------------------------------------------------
    def fit(self, observations: Sequence[Observation]) -> "RegressionPolicy":
        counted = sorted((o for o in observations if o.success or o.error_class not in NEUTRAL_ERRORS),
                         key=lambda o: o.now or o.context.now)
        endpoints = sorted({o.endpoint_id for o in counted})
        self.endpoints_ = {endpoint: row for row, endpoint in enumerate(endpoints, start=1)}
        coef = np.zeros((len(endpoints) + 1, _N_FEATURES, 3))
        intercept = np.array(_PRIOR_OUTPUTS)
        if counted:
            design = self._design(counted, self._training_health(counted))
            failed = np.array([not o.success for o in counted])
            speeds = [speed_of(o) for o in counted]
            has_speed = np.array([s is not None for s in speeds])
            if has_speed.any():
                targets = np.log(np.array([s for s in speeds if s is not None]))  # columns: ttft, tps
                model = Ridge(alpha=self.alpha).fit(design[has_speed], targets)
                for column in (_TTFT, _TPS):
                    coef[:, :, column] = self._stack(model.coef_[column])
                    intercept[column] = model.intercept_[column]
            if failed.all() or not failed.any():
                # One class only: a smoothed constant rate (logistic regression needs both classes).
                rate = (failed.sum() + 0.5) / (len(failed) + 1.0)
                intercept[_FAIL] = math.log(rate / (1.0 - rate))
            else:
                with warnings.catch_warnings():
                    # An lbfgs that stops a little short still ranks endpoints correctly; refits
                    # run unattended, so the warning would only be noise in the scheduler's log.
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model = LogisticRegression(C=1.0 / self.alpha, max_iter=500).fit(design, failed)
                coef[:, :, _FAIL] = self._stack(model.coef_[0])
                intercept[_FAIL] = model.intercept_[0]
        self.coef_ = coef
        self.intercept_ = intercept
        self.n_observations_ = len(counted)
        return self

    def _training_health(self, observations: Sequence[Observation]) -> np.ndarray:
        """Each attempt's endpoint failure rate over the preceding window, as serving sees it live.

        Mirrors `EndpointStats.uptime_5m`: 429s count neither as failures nor as successes.
        """
        recent: dict[str, deque] = {}
        health = np.zeros(len(observations))
        for i, observation in enumerate(observations):
            now = observation.now or observation.context.now
            window = recent.setdefault(observation.endpoint_id, deque())
            while window and window[0][0] < now - self.health_window_s:
                window.popleft()
            if window:
                health[i] = sum(failed for _, failed in window) / len(window)
            if observation.error_class != "429":
                window.append((now, not observation.success))
        return health

    def _design(self, observations: Sequence[Observation], health: np.ndarray) -> sparse.csr_matrix:
        """Sparse rows [z, 0.., z (in the endpoint's block), 0..]: 2 x features non-zeros per row."""
        n_rows = len(observations)
        values = np.empty((n_rows, 2, _N_FEATURES))
        columns = np.empty((n_rows, 2, _N_FEATURES), dtype=np.int64)
        pooled = np.arange(_N_FEATURES)
        for i, observation in enumerate(observations):
            z = (*observation.context.features.as_vector(), health[i])
            values[i, 0] = z
            values[i, 1] = z
            columns[i, 0] = pooled
            columns[i, 1] = pooled + _N_FEATURES * self.endpoints_[observation.endpoint_id]
        shape = (n_rows, _N_FEATURES * (len(self.endpoints_) + 1))
        indptr = np.arange(0, n_rows * 2 * _N_FEATURES + 1, 2 * _N_FEATURES)
        return sparse.csr_matrix((values.ravel(), columns.ravel(), indptr), shape=shape)

    def _stack(self, flat_coef: np.ndarray) -> np.ndarray:
        """(features x (E+1)) flat coefficients -> (E+1, features): row 0 pooled, row e pooled + own."""
        blocks = flat_coef.reshape(len(self.endpoints_) + 1, _N_FEATURES)
        stacked = blocks + blocks[:1]
        stacked[0] = blocks[0]
        return stacked

    # --- deciding ------------------------------------------------------------------------------
    def _figures(self, candidates: Sequence[Candidate], context: RoutingContext):
        rows = [self.endpoints_.get(c.endpoint_id, 0) for c in candidates]
        features = np.empty((len(candidates), _N_FEATURES))
        features[:, :-1] = context.features.as_vector()
        stats = context.stats
        for i, candidate in enumerate(candidates):
            endpoint_stats = stats.get(candidate.endpoint_id)
            uptime = endpoint_stats.uptime_5m if endpoint_stats is not None else None
            features[i, -1] = 0.0 if uptime is None else 1.0 - uptime
        outputs = np.einsum("nd,ndk->nk", features, self.coef_[rows]) + self.intercept_
        ttft = np.exp(outputs[:, _TTFT])
        tps = np.exp(outputs[:, _TPS])
        failure = 1.0 / (1.0 + np.exp(-outputs[:, _FAIL]))
        latency = ttft + context.features.expected_output_tokens / tps
        return ttft, latency, tps, failure

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> np.ndarray:
        if "coef_" not in self.__dict__:
            return np.full(len(candidates), 1.0 / len(candidates))  # not fitted yet: no opinion
        ttft, latency, tps, failure = self._figures(candidates, context)
        features = context.features
        prices = np.array([c.expected_cost(features.prompt_tokens, features.expected_output_tokens)
                           for c in candidates])
        utilities = combine(weights_for(context.sort, self.weights), prices, ttft, latency, tps, failure)
        return softmax(utilities, self.temperature)

    def predict(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[Prediction] | None:
        if "coef_" not in self.__dict__:
            return None
        ttft, latency, tps, failure = self._figures(candidates, context)
        return [Prediction(float(ttft[i]), float(latency[i]), float(tps[i]), float(failure[i]))
                for i in range(len(candidates))]
