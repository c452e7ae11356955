"""`evaluate(log, policy, estimators)`: every estimator's value, bootstrap CI and effective sample size.

The target is a routing `Policy` (asked for its distribution on each logged request's candidates
and context, in its current state: OPE evaluates a fixed policy) or an (n, n_actions) array of
target probabilities (e.g. a non-routing policy such as the Open Bandit Dataset's).

>>> import numpy as np
>>> from policies.ope.log import BanditLog
>>> rng = np.random.default_rng(0)
>>> actions = rng.integers(0, 2, 2000)
>>> log = BanditLog(("a", "b"), actions, (actions == 1).astype(float), np.full(2000, 0.5), np.ones((2000, 1)))
>>> always_b = np.tile([0.0, 1.0], (2000, 1))
>>> [round(e.value, 1) for e in evaluate(log, always_b)]
[1.0, 1.0, 1.0, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..base import Policy
from .estimators import Estimator, OPETerms, default_estimators
from .log import BanditLog
from .reward_model import RewardModel

__all__ = ["Estimate", "evaluate", "target_probabilities", "effective_sample_size"]


@dataclass(frozen=True)
class Estimate:
    estimator: str
    value: float
    ci_low: float
    ci_high: float
    ess: float  # effective sample size of the importance weights, (sum w)^2 / sum w^2
    n: int

    def covers(self, value: float) -> bool:
        return self.ci_low <= value <= self.ci_high


def target_probabilities(log: BanditLog, policy: Policy | np.ndarray) -> np.ndarray:
    """(n, n_actions) probability of each action under the target, for every logged row."""
    if isinstance(policy, np.ndarray):
        if policy.shape != (log.n, log.n_actions):
            raise ValueError(f"target probabilities must have shape {(log.n, log.n_actions)}, got {policy.shape}")
        return policy
    if log.contexts is None or log.candidates is None:
        raise ValueError("this log has no routing contexts/candidates: pass target probabilities as an array")
    column = {name: i for i, name in enumerate(log.action_names)}
    probabilities = np.zeros((log.n, log.n_actions))
    for row, (candidates, context) in enumerate(zip(log.candidates, log.contexts)):
        for endpoint_id, p in policy.distribution(candidates, context).items():
            probabilities[row, column[endpoint_id]] = p
    return probabilities


def effective_sample_size(weights: np.ndarray) -> float:
    total_sq = float(np.sum(weights ** 2))
    return float(np.sum(weights)) ** 2 / total_sq if total_sq > 0 else 0.0


def evaluate(log: BanditLog, policy: Policy | np.ndarray, estimators: Sequence[Estimator] | None = None, *,
             reward_model: RewardModel | None = None, n_bootstrap: int = 500, confidence: float = 0.95,
             seed: int = 0) -> list[Estimate]:
    """Estimate the target policy's mean reward on the log's requests with every estimator."""
    estimators = tuple(estimators) if estimators is not None else default_estimators()
    target = target_probabilities(log, policy)
    rows = np.arange(log.n)
    weights = target[rows, log.actions] / log.propensities
    q_logged = q_target = None
    if any(e.needs_reward_model for e in estimators):
        q = (reward_model or RewardModel(seed=seed)).fit_predict(log)
        q_logged, q_target = q[rows, log.actions], np.sum(target * q, axis=1)
    terms = OPETerms(weights, log.rewards, q_logged, q_target)
    rng = np.random.default_rng(seed)
    resamples = [rng.integers(0, log.n, log.n) for _ in range(n_bootstrap)]
    tail = (1.0 - confidence) / 2.0
    ess = effective_sample_size(weights)
    results = []
    for estimator in estimators:
        boot = np.array([estimator.estimate(terms.take(sample)) for sample in resamples])
        low, high = np.nanquantile(boot, [tail, 1.0 - tail]) if n_bootstrap else (np.nan, np.nan)
        results.append(Estimate(estimator.name, estimator.estimate(terms), float(low), float(high), ess, log.n))
    return results
