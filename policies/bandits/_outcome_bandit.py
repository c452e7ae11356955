"""Shared part of the non-contextual bandits: the `EndpointOutcomes` estimator and its predictions."""
from __future__ import annotations

from typing import Sequence

from ..base import Candidate, Observation, RoutingContext
from ..estimators import EndpointOutcomes
from ..objective import DEFAULT_WEIGHTS, Prediction, Weights
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

    def _point_figures(self, candidates: Sequence[Candidate], context: RoutingContext):
        """(discounted attempts, ttft_s, latency_s, tokens_per_s, failure_prob) arrays over candidates."""
        table = self._outcomes().point_table([c.endpoint_id for c in candidates], context.now)
        attempts, failure, ttft, tps = table.T
        return attempts, ttft, ttft + context.features.expected_output_tokens / tps, tps, failure

    def predict(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[Prediction]:
        """Point predictions, for explanations and the simulator's diagnostics."""
        _, ttft, latency, tps, failure = self._point_figures(candidates, context)
        return [Prediction(float(ttft[i]), float(latency[i]), float(tps[i]), float(failure[i]))
                for i in range(len(candidates))]

