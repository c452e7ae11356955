"""Shared part of the non-contextual bandits: the `EndpointOutcomes` estimator and its predictions."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import Candidate, Observation, RoutingContext
from ..estimators import EndpointOutcomes, OutcomeArrays, mean_figures
from ..objective import DEFAULT_WEIGHTS, Prediction, Weights, combine, weights_for
from ..scoring import ScoringPolicy

__all__ = ["OutcomeBandit"]


class OutcomeBandit(ScoringPolicy):
    """Keeps an `EndpointOutcomes` as `outcomes_`; subclasses add only an exploration rule."""

    half_life_s: float | None = None
    weights: Weights = DEFAULT_WEIGHTS
    prior_ttft_s: float = 1.0
    prior_tokens_per_s: float = 50.0
    prior_failure: float = 0.1

    def _outcomes(self) -> EndpointOutcomes:
        outcomes = self.__dict__.get("outcomes_")
        if outcomes is None:
            outcomes = self.outcomes_ = EndpointOutcomes(
                half_life_s=self.half_life_s, prior_failure=self.prior_failure,
                prior_ttft_s=self.prior_ttft_s, prior_tokens_per_s=self.prior_tokens_per_s)
        return outcomes

    def _learn(self, observation: Observation) -> None:
        self._outcomes().observe(observation)

    def _arrays(self, candidates: Sequence[Candidate], context: RoutingContext) -> OutcomeArrays:
        return self._outcomes().arrays([c.endpoint_id for c in candidates], context.now)

    def _mean_utilities(self, candidates: Sequence[Candidate], context: RoutingContext,
                        arrays: OutcomeArrays) -> np.ndarray:
        features = context.features
        prices = _prices(candidates, context)
        ttft, latency, tps, failure = mean_figures(arrays, features.expected_output_tokens)
        return combine(weights_for(context.sort, self.weights), prices, ttft, latency, tps, failure)

    def predict(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[Prediction]:
        """Posterior-mean predictions, for explanations and for the simulator's diagnostics."""
        arrays = self._arrays(candidates, context)
        figures = mean_figures(arrays, context.features.expected_output_tokens)
        return [Prediction(*(float(f[i]) for f in figures)) for i in range(len(candidates))]


def _prices(candidates: Sequence[Candidate], context: RoutingContext) -> np.ndarray:
    features = context.features
    prompt, output = features.prompt_tokens, features.expected_output_tokens
    return np.array([c.expected_cost(prompt, output) for c in candidates])
