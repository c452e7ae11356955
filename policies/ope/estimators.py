"""Off-policy estimators: small classes behind one interface, run side by side by `evaluate`.

Each estimator reads the same precomputed terms of a log and a target policy: the importance
weight of every logged decision w_i = pi(a_i | x_i) / mu_i, the logged reward r_i, and (for model-
based ones) the reward model's prediction for the logged action q_i and its expectation under the
target, v_i = sum_a pi(a | x_i) q(x_i, a). `estimate(terms)` returns one number, so bootstrap
resampling reuses it unchanged.

>>> import numpy as np
>>> terms = OPETerms(weights=np.array([2.0, 0.0]), rewards=np.array([1.0, 0.0]),
...                  q_logged=np.array([0.5, 0.5]), q_target=np.array([0.5, 0.5]))
>>> IPS().estimate(terms), SNIPS().estimate(terms), DM().estimate(terms), DR().estimate(terms)
(1.0, 1.0, 0.5, 1.0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["OPETerms", "Estimator", "IPS", "SNIPS", "DM", "DR", "SwitchDR", "default_estimators"]


@dataclass(frozen=True)
class OPETerms:
    weights: np.ndarray  # pi(a_i|x_i) / mu_i
    rewards: np.ndarray
    q_logged: np.ndarray | None = None  # reward model at the logged action
    q_target: np.ndarray | None = None  # reward model's expectation under the target policy

    def take(self, rows: np.ndarray) -> "OPETerms":
        return OPETerms(*(None if a is None else a[rows] for a in (self.weights, self.rewards, self.q_logged,
                                                                      self.q_target)))


class Estimator:
    name: ClassVar[str] = "estimator"
    needs_reward_model: ClassVar[bool] = False

    def estimate(self, terms: OPETerms) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class IPS(Estimator):
    """Inverse propensity scoring: unbiased, high variance when weights are large."""

    name = "IPS"

    def estimate(self, terms: OPETerms) -> float:
        return float(np.mean(terms.weights * terms.rewards))


class SNIPS(Estimator):
    """Self-normalised IPS: divides by the mean weight; slightly biased, much steadier."""

    name = "SNIPS"

    def estimate(self, terms: OPETerms) -> float:
        total = float(np.sum(terms.weights))
        return float(np.sum(terms.weights * terms.rewards) / total) if total > 0 else float("nan")


class DM(Estimator):
    """Direct method: the reward model's value of the target policy; low variance, model bias."""

    name = "DM"
    needs_reward_model = True

    def estimate(self, terms: OPETerms) -> float:
        return float(np.mean(terms.q_target))


class DR(Estimator):
    """Doubly robust: DM plus an importance-weighted correction of the model's residuals."""

    name = "DR"
    needs_reward_model = True

    def estimate(self, terms: OPETerms) -> float:
        return float(np.mean(terms.q_target + terms.weights * (terms.rewards - terms.q_logged)))


class SwitchDR(Estimator):
    """DR where the weight is at most `max_weight`, DM alone on rows with larger weights (Wang et al. 2017)."""

    name = "Switch-DR"
    needs_reward_model = True

    def __init__(self, max_weight: float = 50.0):
        self.max_weight = max_weight

    def estimate(self, terms: OPETerms) -> float:
        keep = terms.weights <= self.max_weight
        correction = np.where(keep, terms.weights * (terms.rewards - terms.q_logged), 0.0)
        return float(np.mean(terms.q_target + correction))

    def __repr__(self) -> str:
        return f"SwitchDR(max_weight={self.max_weight})"


def default_estimators() -> tuple[Estimator, ...]:
    return (IPS(), SNIPS(), DM(), DR())
