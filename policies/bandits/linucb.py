"""LinUCB: a contextual bandit on the request's features (`RequestFeatures.as_vector()`).

Per endpoint, ridge regressions on the feature vector x predict log TTFT and log decode speed
(from successes) and the failure indicator (from every counted attempt), each as an offset from
the prior so that an endpoint never seen predicts the prior. Predictions go through the shared
objective; the optimistic score adds alpha * scale * sqrt(x' A^-1 x) (A the endpoint's Gram
matrix of all attempts, scale the candidates' mean |utility|).

Observations are folded into the model in batches: `update` records one, and a failure (news:
an outage shows first as failures) or the `refresh_every`-th recorded success adds the pending
observations to the touched endpoints' Gram matrices and moment vectors and re-solves their
ridge regressions (and inverses), a few array operations per touched endpoint. The model equals
the per-observation recursive update (same sums; floats differ in the last bits) but lags by up
to `refresh_every - 1` successes, as a request path reading a snapshot would; `refresh_every=1`
refreshes on every observation. That lag is an approximation, measured on the shipped scenarios
(azure-conv, 19,366 requests, seed 0): mean regret with the default 16 against 1 moved by at
most 0.001 (outage-of-best 0.623 -> 0.622, rate-limited-cheap 0.196 -> 0.197, slow-degradation
5.672 -> 5.671, price-cut and steady unchanged); with 24 it rose by up to 0.048, with 32 by up
to 0.028 (slow-degradation 5.720 and 5.700).

Between refreshes the distribution is a fixed function of each request's features, so
`distribution_version` / `distribution_batch` let the simulator decide many requests at once
(one vectorised pass per batch); `fit` refreshes at its end.

All endpoints' state lives in stacked arrays (row 0 is the prior), so that deciding is one
product with x for every endpoint and then plain arithmetic per candidate.
"""
from __future__ import annotations

import math
from itertools import chain
from typing import Sequence

import numpy as np

from ..base import Candidate, Observation, RequestFeatures, RoutingContext
from ..estimators import NEUTRAL_ERRORS, speed_from
from ..exploration import _TIE_TOLERANCE, greedy  # the batch path shares ties exactly as `greedy` does
from ..feature_columns import FeatureColumns
from ..objective import DEFAULT_WEIGHTS, Prediction, Weights, combine, weights_for
from ..registry import register
from ._outcome_bandit import LearnsFromOutcomes

__all__ = ["LinUCB"]

_N_FEATURES = len(RequestFeatures().as_vector())
# `np.linalg.inv`'s own gufunc, without the wrapper's checks and error-state context (half of a
# refresh's cost in a replay, measured); the wrapper remains the fallback.
_INVERT = getattr(getattr(np.linalg, "_umath_linalg", None), "inv", None)


def _inverse(matrices: np.ndarray, ridge: float) -> np.ndarray:
    """Inverses of a stack of Gram matrices; with a positive ridge they are never singular."""
    if _INVERT is None or ridge <= 0.0:
        return np.linalg.inv(matrices)  # raises LinAlgError on a singular matrix
    return _INVERT(matrices, signature="d->d")


_TTFT, _TPS, _FAIL = range(3)


@register
class LinUCB(LearnsFromOutcomes):
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
                 min_prob: float = 0.01, refresh_every: int = 16):
        self.alpha = alpha
        self.ridge = ridge
        self.weights = weights
        self.prior_ttft_s = prior_ttft_s
        self.prior_tokens_per_s = prior_tokens_per_s
        self.prior_failure = prior_failure
        self.min_prob = min_prob
        self.refresh_every = refresh_every

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
        # What the model is solved from: Gram matrices (all attempts, successes) and X'y per target.
        self.gram_ = (self.ridge * np.eye(_N_FEATURES))[None, None].repeat(2, axis=1)
        self.moments_ = np.zeros((1, _N_FEATURES, 3))
        self.pending_: list[tuple] = []  # (row, x + (log ttft offset, log tps offset, failure offset), timed)
        self.version_ = 0  # counts refreshes: the same version means the same model

    def _row(self, endpoint_id: str) -> int:
        row = self.rows_.get(endpoint_id)
        if row is None:
            row = self.rows_[endpoint_id] = len(self.rows_) + 1
            self.model_ = np.concatenate([self.model_, self.model_[:1]])
            self.gram_ = np.concatenate([self.gram_, self.gram_[:1]])
            self.moments_ = np.concatenate([self.moments_, self.moments_[:1]])
        return row

    def _learn_outcome(self, endpoint_id: str, features: RequestFeatures, success: bool, error_class: str | None,
                       ttft_s: float | None, latency_s: float | None, output_tokens: int,
                       tokens_per_s: float | None, now: float) -> None:
        if not success and error_class in NEUTRAL_ERRORS:
            return
        self._ensure_state()
        speed = speed_from(ttft_s, latency_s, output_tokens, tokens_per_s) if success else None
        # x, then the targets: log ttft and log tps offsets (0, adding nothing, when untimed), failure.
        targets = (0.0, 0.0) if speed is None else (math.log(speed[0] / self.prior_ttft_s),
                                                    math.log(speed[1] / self.prior_tokens_per_s))
        self.pending_.append((self._row(endpoint_id),
                              features.as_vector() + targets + ((0.0 if success else 1.0) - self.prior_failure,),
                              speed is not None))
        # A failure is news (an outage shows first as failures): it refreshes at once.
        if not success or len(self.pending_) >= self.refresh_every:
            self._refresh()

    def fit(self, observations: Sequence[Observation]) -> "LinUCB":
        super().fit(observations)
        if self.__dict__.get("pending_"):
            self._refresh()
        return self

    def _refresh(self) -> None:
        """Fold the pending observations into the sums and re-solve the endpoints they touched."""
        pending, self.pending_ = self.pending_, []
        by_row: dict[int, list[tuple]] = {}
        for observed in pending:
            by_row.setdefault(observed[0], []).append(observed)
        model, gram, moments, width = self.model_, self.gram_, self.moments_, _N_FEATURES + 3
        for row, observed in by_row.items():  # usually one or two endpoints
            table = np.array(list(chain.from_iterable(o[1] for o in observed))).reshape(len(observed), width)
            x = table[:, :_N_FEATURES]
            products = x.T @ table  # X'X, then X'y for the three targets
            gram_all = products[:, :_N_FEATURES]
            gram[row, 0] += gram_all
            timed = [i for i, o in enumerate(observed) if o[2]]
            if len(timed) == len(observed):
                gram[row, 1] += gram_all
            elif timed:
                gram[row, 1] += x[timed].T @ x[timed]
            moments[row] += products[:, _N_FEATURES:]
            inverses = _inverse(gram[row], self.ridge)  # (2, d, d): all attempts, successes
            coefficients = inverses @ moments[row]  # (2, d, 3): failure from the first, speeds from the second
            model_row = model[row]
            model_row[:, 3:] = inverses.transpose(1, 0, 2).reshape(_N_FEATURES, 2 * _N_FEATURES)
            model_row[:, _FAIL] = coefficients[0, :, _FAIL]
            model_row[:, :_FAIL] = coefficients[1, :, :_FAIL]
        self.version_ += 1

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
        prior = self.__dict__.get("prior_speed_")
        if prior is None:
            prior = self.prior_speed_ = np.array([self.prior_ttft_s, self.prior_tokens_per_s])
        return prior

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

    # --- deciding many requests at once (used by the simulator, see policies.simulator.deciding) ---
    def distribution_version(self, candidates: Sequence[Candidate], now: float) -> int:
        """The model's version (time plays no part): while it stays the same, `distribution` (without
        a sort) is a fixed function of each request's features, so requests can be decided with
        `distribution_batch`."""
        self._ensure_state()
        return self.version_

    def distribution_batch(self, candidates: Sequence[Candidate],
                           features: Sequence[RequestFeatures]) -> list[list[float]]:
        """`distribution`'s values, in candidate order, for requests with these features and no sort.

        `_probabilities`' arithmetic as array operations over (candidates, requests), in the same
        order; the winners (and so the probabilities) are the same unless two scores are within
        the tie tolerance up to a rounding difference of numpy's exp and dot products.
        """
        self._ensure_state()
        n = len(candidates)
        if n == 0:
            return [[] for _ in features]
        rows = [self.rows_.get(c.endpoint_id, 0) for c in candidates]
        columns = FeatureColumns.of(features)
        x, prompt, output = columns.vectors, columns.prompt_tokens, columns.expected_output_tokens
        projected = np.matmul(x, self.model_[rows])  # (n, requests, 3 + 2d)
        speed = np.exp(projected[:, :, :_FAIL])
        speed *= self._prior_speed  # ttft, tps
        ttft, tps = speed[:, :, _TTFT], speed[:, :, _TPS]
        failure = np.minimum(np.maximum(projected[:, :, _FAIL] + self.prior_failure, 0.0), 1.0)
        request_price, prompt_price, completion_price = self._price_columns(candidates)
        prices = request_price + prompt_price * prompt + completion_price * output  # Candidate.expected_cost
        utilities = combine(self.weights, prices, ttft, ttft + output / tps, tps, failure)
        # Reductions through the ufuncs themselves (what .sum/.max call, without their Python wrappers).
        width = np.sqrt(np.maximum(np.add.reduce(projected[:, :, 3:3 + _N_FEATURES] * x, axis=2), 0.0))
        scale = np.add.reduce(np.abs(utilities), axis=0) / n + 1e-12
        scores = utilities + (self.alpha * scale) * width
        best = np.maximum.reduce(scores, axis=0)
        threshold = np.where(best == math.inf, best, best - _TIE_TOLERANCE * np.maximum(1.0, np.abs(best)))
        winners = scores >= threshold
        floor = min(self.min_prob, 1.0 / n) if self.min_prob > 0.0 else 0.0
        spread = 1.0 - n * floor
        winner_counts = np.add.reduce(winners, axis=0)
        if np.count_nonzero(winner_counts == 1) == len(features):  # no ties (the usual case): rows built in Python
            # `sampler.floor_values(greedy(...))` for one winner: spread * 1.0 + floor, spread * 0.0 + floor.
            # One list per winner, shared by the requests it wins (not to be modified).
            top, rest = (spread * 1.0 + floor, spread * 0.0 + floor) if floor else (1.0, 0.0)
            won = []
            for winner in range(n):
                row = [rest] * n
                row[winner] = top
                won.append(row)
            return [won[winner] for winner in winners.argmax(axis=0).tolist()]
        shares = winners * (1.0 / winner_counts)
        if floor:  # `sampler.floor_values`, as array arithmetic: the same floats
            shares = spread * shares + floor
        return shares.T.tolist()

    def _price_columns(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """(3, n, 1) request, prompt and completion prices; kept for a tuple (the replay passes the same one)."""
        cached = self.__dict__.get("price_columns_")
        if cached is not None and cached[0] is candidates:
            return cached[1]
        columns = np.array([[(c.request_price,), (c.prompt_price,), (c.completion_price,)] for c in candidates])
        columns = np.ascontiguousarray(columns.transpose(1, 0, 2))
        if isinstance(candidates, tuple):  # immutable, and so are its candidates
            self.price_columns_ = (candidates, columns)
        return columns
