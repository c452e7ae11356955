"""Thompson sampling over endpoint outcomes, scored by the shared objective.

Each endpoint's failure probability has a Beta posterior and its log TTFT and log decode speed a
normal posterior on the mean (`policies.estimators`). The probability of routing to an endpoint
is the probability that its posterior draw scores best under `objective.combine`, estimated over
`n_draws` joint draws, so the propensity logged is the distribution the choice is sampled from
(exact up to Monte-Carlo error ~1/sqrt(n_draws)).

Drawing from a Beta is slow (~50 µs for 640 draws), so each endpoint's `n_draws` posterior draws
are made when its statistics change — in `update`, off the decision path — and cached in
`draws_`; deciding only scores the cached draws for this request's prices and output length.
With discounting, draws older than a quarter of the half-life are redrawn (the posterior widens
as data ages). Endpoints never observed get prior draws on first sight.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import Candidate, Observation, RoutingContext
from ..exploration import win_frequencies
from ..objective import DEFAULT_WEIGHTS, Weights, combine, weights_for
from ..registry import register
from ._outcome_bandit import OutcomeBandit, prices_of

__all__ = ["ThompsonSampling"]

_FAILURE, _TTFT, _TPS = range(3)


@register
class ThompsonSampling(OutcomeBandit):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-7, 1e-7) for e in ("good", "bad")]
    >>> p = ThompsonSampling(seed=0)
    >>> for step in range(30):
    ...     p.update(Observation("good", RoutingContext(), success=True, ttft_s=0.3, tokens_per_s=80.0))
    ...     p.update(Observation("bad", RoutingContext(), success=False, error_class="5xx"))
    >>> p.distribution(c, RoutingContext())["good"] > 0.9
    True
    """

    name = "thompson"

    def __init__(self, n_draws: int = 128, half_life_s: float | None = 300.0, weights: Weights = DEFAULT_WEIGHTS,
                 prior_ttft_s: float = 1.0, prior_tokens_per_s: float = 50.0, prior_failure: float = 0.1,
                 min_prob: float = 0.01, seed: int | None = None):
        self.n_draws = n_draws
        self.half_life_s = half_life_s
        self.weights = weights
        self.prior_ttft_s = prior_ttft_s
        self.prior_tokens_per_s = prior_tokens_per_s
        self.prior_failure = prior_failure
        self.min_prob = min_prob
        self.seed = seed

    def _learn(self, observation: Observation) -> None:
        super()._learn(observation)
        self._draw(observation.endpoint_id, observation.now or observation.context.now)

    def _draw(self, endpoint_id: str, now: float) -> np.ndarray:
        """Fresh posterior draws for one endpoint: rows failure_prob, ttft_s, tokens_per_s."""
        if "draws_" not in self.__dict__:
            self.draws_: dict[str, tuple[float, np.ndarray]] = {}
        posterior = self._outcomes().arrays([endpoint_id], now)
        rng = self.rng
        draws = np.empty((3, self.n_draws))
        draws[_FAILURE] = rng.beta(posterior.fail_alpha[0], posterior.fail_beta[0], size=self.n_draws)
        noise = rng.standard_normal((2, self.n_draws))
        draws[_TTFT] = np.exp(posterior.log_ttft_mean[0] + np.sqrt(posterior.log_ttft_var[0]) * noise[0])
        draws[_TPS] = np.exp(posterior.log_tps_mean[0] + np.sqrt(posterior.log_tps_var[0]) * noise[1])
        self.draws_[endpoint_id] = (now, draws)
        return draws

    def _cached_draws(self, endpoint_id: str, now: float) -> np.ndarray:
        cached = self.__dict__.get("draws_", {}).get(endpoint_id)
        if cached is None:
            return self._draw(endpoint_id, now)
        drawn_at, draws = cached
        if self.half_life_s is not None and now - drawn_at > 0.25 * self.half_life_s:
            return self._draw(endpoint_id, now)
        return draws

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> np.ndarray:
        now = context.now
        draws = np.stack([self._cached_draws(c.endpoint_id, now) for c in candidates], axis=1)  # (3, n, S)
        ttft, tps = draws[_TTFT], draws[_TPS]
        latency = ttft + context.features.expected_output_tokens / tps
        prices = prices_of(candidates, context)[:, None]
        scores = combine(weights_for(context.sort, self.weights), prices, ttft, latency, tps, draws[_FAILURE])
        return win_frequencies(scores.T)
