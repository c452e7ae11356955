"""Shared parts of the bandits: learning from an attempt's fields, and the non-contextual
bandits' `EndpointOutcomes` estimator with its predictions."""
from __future__ import annotations

from typing import Sequence

from ..base import Candidate, Observation, RequestFeatures, RoutingContext
from ..estimators import EndpointOutcomes
from ..objective import DEFAULT_WEIGHTS, Prediction, Weights
from ..scoring import ScoringPolicy

__all__ = ["LearnsFromOutcomes", "OutcomeBandit"]


class LearnsFromOutcomes(ScoringPolicy):
    """A policy whose learning reads only these fields of an `Observation`: it implements
    `_learn_outcome`, and `update` passes each observation's fields to it.

    The simulator calls `_learn_outcome` directly (`policies.simulator.deciding.outcome_learner`),
    which spares it building an `Observation` (and its context) for every attempt.
    """

    def _learn(self, observation: Observation) -> None:
        self._learn_outcome(observation.endpoint_id, observation.context.features, observation.success,
                            observation.error_class, observation.ttft_s, observation.latency_s,
                            observation.output_tokens, observation.tokens_per_s,
                            observation.now or observation.context.now)

    def _learn_outcome(self, endpoint_id: str, features: RequestFeatures, success: bool, error_class: str | None,
                       ttft_s: float | None, latency_s: float | None, output_tokens: int,
                       tokens_per_s: float | None, now: float) -> None:
        raise NotImplementedError


class OutcomeBandit(LearnsFromOutcomes):
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

    def _learn_outcome(self, endpoint_id: str, features: RequestFeatures, success: bool, error_class: str | None,
                       ttft_s: float | None, latency_s: float | None, output_tokens: int,
                       tokens_per_s: float | None, now: float) -> None:
        self._outcomes().observe_outcome(endpoint_id, success, error_class, ttft_s, latency_s, output_tokens,
                                         tokens_per_s, now)

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
