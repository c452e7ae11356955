"""Bookkeeping shared by the built-in policies, so each algorithm only fills in its hooks.

A policy here is composed of (a) what it knows about endpoints — an estimator or a plain rule —
and (b) an exploration rule from `policies.exploration` that turns scores into probabilities.
`ScoringPolicy` does the rest: candidate ids, the exploration floor, the lazily created seeded
generator `rng_`, and routing `update` to the `_learn` hook.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Candidate, Observation, Policy, RoutingContext
from .sampler import apply_floor

__all__ = ["ScoringPolicy"]


class ScoringPolicy(Policy):
    """Subclasses set `name`, store `min_prob` (and `seed` when random) in `__init__`, and implement
    `_probabilities(candidates, context)` returning one probability per candidate, in order.
    Stateful ones implement `_learn(observation)`; learned attributes end in `_` and are created
    lazily, so a fresh or cloned policy has none.
    """

    min_prob: float = 0.0
    seed: int | None = None

    @property
    def rng(self) -> np.random.Generator:
        """The policy's own generator, created on first use from `seed` (never the global one)."""
        rng = self.__dict__.get("rng_")
        if rng is None:
            rng = self.rng_ = np.random.default_rng(self.seed)
        return rng

    def distribution(self, candidates: Sequence[Candidate], context: RoutingContext) -> dict[str, float]:
        if not candidates:
            return {}
        probabilities = self._probabilities(candidates, context)
        result = {candidate.endpoint_id: float(p) for candidate, p in zip(candidates, probabilities)}
        if self.min_prob > 0.0:
            result = apply_floor(result, self.min_prob)
        return result

    def update(self, observation: Observation) -> None:
        self._learn(observation)

    @property
    def learns_online(self) -> bool:
        return type(self)._learn is not ScoringPolicy._learn

    def fit(self, observations: Sequence[Observation]) -> "ScoringPolicy":
        """Learn from scratch (as scikit-learn's `fit` does): forget learned state, then replay."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        for observation in observations:
            self._learn(observation)
        return self

    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> Sequence[float]:
        raise NotImplementedError

    def _learn(self, observation: Observation) -> None:
        return None

