"""Discounted UCB: optimism about endpoints seen little *recently*, for providers that drift.

Statistics decay with half-life `half_life_s` (in the observations' own time), so an endpoint that
failed an hour ago regains an exploration bonus and is retried, and one that just degraded loses
its good record quickly. Score = mean utility + bonus, bonus = exploration * scale *
sqrt(log N / n_i) with n_i the endpoint's discounted attempts, N their sum over the candidates and
scale the candidates' mean |utility| (unit-free whatever sort weights apply). The best score gets
all the mass (ties shared), so propensities are exact.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..base import Candidate, RoutingContext
from ..exploration import greedy
from ..objective import DEFAULT_WEIGHTS, Weights, scalar_combiner, weights_for
from ..registry import register
from ._outcome_bandit import OutcomeBandit

__all__ = ["DiscountedUCB"]

_UNSEEN = 1e-3  # discounted attempts below this count as never tried: infinite bonus


@register
class DiscountedUCB(OutcomeBandit):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-7, 1e-7) for e in ("tried", "new")]
    >>> p = DiscountedUCB()
    >>> p.update(Observation("tried", RoutingContext(), success=True, ttft_s=0.3, tokens_per_s=80.0))
    >>> p.distribution(c, RoutingContext())["new"]  # never tried: explored first
    0.99
    """

    name = "discounted-ucb"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, half_life_s: float | None = 300.0, exploration: float = 0.5, weights: Weights = DEFAULT_WEIGHTS,
                 prior_ttft_s: float = 1.0, prior_tokens_per_s: float = 50.0, prior_failure: float = 0.1,
                 min_prob: float = 0.01):
        self.half_life_s = half_life_s
        self.exploration = exploration
        self.weights = weights
        self.prior_ttft_s = prior_ttft_s
        self.prior_tokens_per_s = prior_tokens_per_s
        self.prior_failure = prior_failure
        self.min_prob = min_prob

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        # Plain Python over the candidates' point summaries: for the ~10 candidates of a request
        # this is several times faster than the same arithmetic as numpy calls (each costs ~1 us),
        # and it is the same IEEE arithmetic, in the same order, as `_point_figures` + `combine`.
        outcomes = self._outcomes()
        now, half_life = context.now, self.half_life_s
        features = context.features
        prompt_tokens, output_tokens = features.prompt_tokens, features.expected_output_tokens
        weights = weights_for(context.sort, self.weights)
        summaries = outcomes.summaries
        prior = (now, 0.0, outcomes.prior_failure, math.exp(outcomes.prior_log_ttft), math.exp(outcomes.prior_log_tps))
        score = scalar_combiner(weights)
        attempts, utilities = [], []
        # Sums of the attempts and of |utility| kept as we go: left to right, as numpy summed fewer than
        # eight values (keeps the numpy-era results).
        total_attempts = total_size = 0.0
        for candidate in candidates:
            t_last, n, failure, ttft, tps = summaries.get(candidate.endpoint_id, prior)
            if half_life is not None:
                n *= 0.5 ** (max(now - t_last, 0.0) / half_life)
            attempts.append(n)
            total_attempts += n
            # Candidate.expected_cost inline (the same operations in the same order).
            price = (candidate.request_price + prompt_tokens * candidate.prompt_price
                     + output_tokens * candidate.completion_price)
            utility = score(price, ttft, ttft + output_tokens / tps, tps, failure)
            utilities.append(utility)
            total_size += abs(utility)
        log_total = math.log(max(total_attempts, math.e))
        scale = total_size / len(utilities) + 1e-12
        bonus_scale = self.exploration * scale
        scores = [u + bonus_scale * math.sqrt(log_total / n) if n >= _UNSEEN else math.inf
                  for u, n in zip(utilities, attempts)]
        return greedy(scores)
