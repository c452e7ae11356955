"""The one pure sampler: probabilities in, attempt order and propensity out."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

__all__ = ["sample_order", "apply_floor", "normalise"]


def normalise(weights: Mapping[str, float]) -> dict[str, float]:
    """Scale non-negative weights to sum 1; all-zero (or empty) weights become uniform."""
    total = float(sum(weights.values()))
    if total <= 0.0 or not np.isfinite(total):
        n = len(weights)
        return {k: 1.0 / n for k in weights} if n else {}
    return {k: float(v) / total for k, v in weights.items()}


def apply_floor(probabilities: Mapping[str, float], min_prob: float) -> dict[str, float]:
    """Mix with uniform so every candidate keeps at least `min_prob` (exploration floor).

    p' = (1 - n*min_prob) * p + min_prob; exact, sums to 1, and keeps the ranking of p.
    """
    n = len(probabilities)
    if n == 0 or min_prob <= 0.0:
        return dict(probabilities)
    floor = min(min_prob, 1.0 / n)
    scale = 1.0 - n * floor
    return {k: scale * p + floor for k, p in probabilities.items()}


def sample_order(
    probabilities: Mapping[str, float], rng: np.random.Generator, deterministic: bool = False
) -> tuple[list[str], float]:
    """Return (attempt order, propensity of the first choice).

    The first endpoint is drawn from `probabilities`; the fallbacks follow by sampling the rest
    without replacement in proportion to their probabilities (Plackett-Luce). With
    `deterministic=True` the order is by descending probability (ties keep input order) and the
    propensity is 1 for the top choice, which is what an explicit `sort`/`order` means.
    """
    keys: Sequence[str] = list(probabilities)
    if not keys:
        return [], 0.0
    if deterministic:
        order = sorted(keys, key=lambda k: -probabilities[k])
        return order, 1.0
    p = np.fromiter((probabilities[k] for k in keys), dtype=float, count=len(keys))
    p = np.clip(p, 0.0, None)
    total = p.sum()
    p = p / total if total > 0 else np.full(len(keys), 1.0 / len(keys))
    # Gumbel-top-k is exactly Plackett-Luce sampling without replacement, in one vectorised draw.
    with np.errstate(divide="ignore"):
        scores = np.log(p) + rng.gumbel(size=len(keys))
    idx = np.argsort(-scores, kind="stable")
    order = [keys[i] for i in idx]
    return order, float(p[idx[0]])
