"""Exploration rules: turn per-candidate scores (higher is better) into probabilities.

Each rule is a pure function of numpy arrays so that every policy's propensity is exact (greedy,
softmax) or a seeded Monte-Carlo estimate (Thompson sampling's probability of winning).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["greedy", "softmax", "win_frequencies"]

_TIE_TOLERANCE = 1e-12


def greedy(scores: np.ndarray | list[float]) -> list[float]:
    """All probability on the best score, shared equally among ties (so propensities stay exact).

    >>> greedy(np.array([1.0, 3.0, 3.0]))
    [0.0, 0.5, 0.5]
    """
    # Plain Python: for ~10 candidates it is several times faster than numpy's per-call overhead.
    values = scores.tolist() if isinstance(scores, np.ndarray) else scores
    best = max(values)
    threshold = best if best == math.inf else best - _TIE_TOLERANCE * max(1.0, abs(best))
    winners = [1.0 if v >= threshold else 0.0 for v in values]
    if winners.count(1.0) == 1:  # the usual single winner: w * (1.0 / 1.0) is w
        return winners
    share = 1.0 / sum(winners)
    return [w * share for w in winners]


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray | list[float]:
    """Boltzmann probabilities with a *relative* temperature.

    Scores are divided by `temperature * |best score|`, so `temperature=0.1` gives a candidate 10 %
    worse than the best e^-1 of its weight whatever units the scores are in (utility points under
    different sort weights differ by orders of magnitude). `temperature <= 0` means greedy.

    >>> softmax(np.array([-1.0, -1.1]), 0.1).round(3).tolist()
    [0.731, 0.269]
    """
    if temperature <= 0.0:
        return greedy(scores)
    best = scores.max()
    scale = temperature * max(abs(best), 1e-12)
    weights = np.exp((scores - best) / scale)
    return weights / weights.sum()


def win_frequencies(sampled_scores: np.ndarray) -> np.ndarray:
    """Share of draws (rows) in which each candidate (column) scores best: Thompson propensities.

    >>> win_frequencies(np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 5.0], [0.0, 1.0]])).tolist()
    [0.25, 0.75]
    """
    n_draws, n_candidates = sampled_scores.shape
    winners = sampled_scores.argmax(axis=1)
    return np.bincount(winners, minlength=n_candidates) / n_draws
