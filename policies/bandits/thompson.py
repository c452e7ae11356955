"""Thompson sampling over endpoint outcomes, scored by the shared objective.

Each endpoint's failure probability has a Beta posterior and its log TTFT and log decode speed a
normal posterior on the mean (`policies.estimators`). A draw of all three per endpoint is scored by
`objective.combine`; the probability of routing to an endpoint is the probability that its draw
wins, estimated from `n_draws` seeded draws at once. That makes the propensity the policy logs the
same distribution the choice is sampled from (exact up to Monte-Carlo error 1/sqrt(n_draws)).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import Candidate, RoutingContext
from ..exploration import win_frequencies
from ..objective import DEFAULT_WEIGHTS, Weights, combine, weights_for
from ..registry import register
from ._outcome_bandit import OutcomeBandit, _prices

__all__ = ["ThompsonSampling"]


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

    def __init__(self, n_draws: int = 256, half_life_s: float | None = None, weights: Weights = DEFAULT_WEIGHTS,
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

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> np.ndarray:
        arrays = self._arrays(candidates, context)
        shape = (self.n_draws, len(candidates))
        rng = self.rng
        failure = rng.beta(arrays.fail_alpha, arrays.fail_beta, size=shape)
        noise = rng.standard_normal((2, *shape))
        ttft = np.exp(arrays.log_ttft_mean + np.sqrt(arrays.log_ttft_var) * noise[0])
        tps = np.exp(arrays.log_tps_mean + np.sqrt(arrays.log_tps_var) * noise[1])
        latency = ttft + context.features.expected_output_tokens / tps
        scores = combine(weights_for(context.sort, self.weights), _prices(candidates, context), ttft, latency, tps,
                         failure)
        return win_frequencies(scores)
