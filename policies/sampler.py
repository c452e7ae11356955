"""The one pure sampler: probabilities in, attempt order and propensity out."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

__all__ = ["sample_order", "apply_floor", "normalise", "floor_values", "first_choice", "fallback_order",
           "first_choices", "FirstChoiceMemo"]


def normalise(weights: Mapping[str, float]) -> dict[str, float]:
    """Scale non-negative weights to sum 1; all-zero (or empty) weights become uniform."""
    total = float(sum(weights.values()))
    if total <= 0.0 or not math.isfinite(total):  # math, not numpy: ~1 us less per routed request
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
    n = len(keys)
    if not n:
        return [], 0.0
    if deterministic:
        order = sorted(keys, key=lambda k: -probabilities[k])
        return order, 1.0
    # Plain Python over the (few) candidates: per-call numpy overhead would dominate at n ~ 10.
    weights = [v if v > 0.0 else 0.0 for v in map(float, probabilities.values())]
    total = sum(weights)
    if total > 0.0 and math.isfinite(total):
        p = [w / total for w in weights]
    else:
        p = [1.0 / n] * n
    # Gumbel-top-k is exactly Plackett-Luce sampling without replacement, from one vectorised draw.
    gumbel = rng.gumbel(size=n).tolist()
    log = math.log
    scores = [log(pi) + g if pi > 0.0 else -math.inf for pi, g in zip(p, gumbel)]
    index = sorted(range(n), key=scores.__getitem__, reverse=True)  # stable: ties keep input order
    return [keys[i] for i in index], p[index[0]]


# Fast path for callers that hold probabilities as a list aligned with their candidates and
# pre-drawn Gumbels (the simulator): exactly `sample_order`'s arithmetic, without building dicts,
# and the fallback order only when a fallback is actually needed.

def floor_values(values: Sequence[float], min_prob: float) -> list[float]:
    """`apply_floor` over a list (same arithmetic, so the same floats)."""
    n = len(values)
    if n == 0 or min_prob <= 0.0:
        return [float(v) for v in values]
    floor = min(min_prob, 1.0 / n)
    scale = 1.0 - n * floor
    return [scale * float(p) + floor for p in values]


def first_choice(values: Sequence[float], gumbels: Sequence[float]) -> tuple[int, float, list[float]]:
    """`sample_order`'s first pick: (index into `values`, its propensity, the Gumbel scores).

    `gumbels` holds at least len(values) standard Gumbel draws (the ones `rng.gumbel(size=n)` would
    have returned); `fallback_order(scores)` then gives the whole attempt order `sample_order` gives.
    """
    n = len(values)
    weights = [v if v > 0.0 else 0.0 for v in map(float, values)]
    total = sum(weights)
    log, minus_inf = math.log, -math.inf
    if total == 1.0 and weights.count(0.0) == n - 1:
        # One certain choice (a greedy policy without a floor): no Gumbel can change it, and the
        # general arithmetic below would give exactly these scores (log 1 = 0, log 0 -> -inf).
        best = weights.index(1.0)
        scores = [minus_inf] * n
        scores[best] = 0.0 + gumbels[best]
        return best, 1.0, scores
    if total > 0.0 and math.isfinite(total):
        # p = w / total as in `sample_order`, computed inside the one pass that needs it.
        scores = [log(p) + g if (p := w / total) > 0.0 else minus_inf for w, g in zip(weights, gumbels)]
        best = scores.index(max(scores))  # the first of ties, as the stable sort below
        return best, weights[best] / total, scores
    uniform = 1.0 / n
    scores = [log(uniform) + g for g in gumbels[:n]]
    best = scores.index(max(scores))
    return best, uniform, scores


def fallback_order(scores: Sequence[float]) -> list[int]:
    """Indices by descending score, ties in input order: `sample_order`'s attempt order."""
    return sorted(range(len(scores)), key=scores.__getitem__, reverse=True)


def _log_shares(values: Sequence[float]) -> tuple[list[float], float, list[float]] | None:
    """(weights, total, log p) as `first_choice` computes them, so that its score of candidate i
    is log_p[i] + gumbel[i]; None when it would fall back to uniform (no positive finite total)."""
    weights = [v if v > 0.0 else 0.0 for v in map(float, values)]
    total = sum(weights)
    if not (total > 0.0 and math.isfinite(total)):
        return None
    log, minus_inf = math.log, -math.inf
    # One certain choice scores 0.0 + g for it and -inf for the others: log(1.0 / 1.0) = 0.0 and
    # log 0 -> -inf give the same, so `first_choice`'s shortcut needs no case of its own here.
    return weights, total, [log(p) if (p := w / total) > 0.0 else minus_inf for w in weights]


def first_choices(rows: Sequence[Sequence[float]], gumbels: np.ndarray) -> tuple[list[int], list[float]] | None:
    """`first_choice`'s (index, propensity) for many rows of values at once, row q with the Gumbels
    `gumbels[q]` (its first len(row) columns); None when some row needs `first_choice` itself.

    The same floats: log p is computed per distinct row (rows that are the same list object are
    computed once) with `first_choice`'s Python arithmetic, and numpy's addition and first-maximum
    argmax are IEEE additions and `scores.index(max(scores))`.
    """
    if not rows:
        return [], []
    width = len(rows[0])
    if gumbels.ndim != 2 or gumbels.shape[0] != len(rows) or gumbels.shape[1] < width:
        return None
    gumbels = gumbels[:, :width]
    if rows.count(rows[0]) == len(rows):  # one row for all (list.count matches the same object at once)
        found = _log_shares(rows[0])
        if found is None:
            return None
        weights, total, log_p = found
        best = (np.array(log_p) + gumbels).argmax(axis=1)
        return best.tolist(), (np.array(weights)[best] / total).tolist()
    distinct: dict[int, int] = {}
    shares: list[tuple[list[float], float, list[float]]] = []
    codes = []
    for row in rows:
        code = distinct.get(id(row))
        if code is None:
            found = _log_shares(row) if len(row) == width else None
            if found is None:
                return None
            code = distinct[id(row)] = len(shares)
            shares.append(found)
        codes.append(code)
    log_p = np.array([s[2] for s in shares])
    scores = (log_p[0] if len(shares) == 1 else log_p[codes]) + gumbels
    best = scores.argmax(axis=1).tolist()
    return best, [shares[c][0][b] / shares[c][1] for c, b in zip(codes, best)]


class FirstChoiceMemo:
    """`first_choice` for a stream of decisions whose probability lists often repeat exactly (a greedy
    policy with a floor has one list per winner): the Python log of each distinct list is kept, and
    a decision adds the Gumbels and takes the best. The same floats as `first_choice`. After
    `trial` decisions with fewer than half repeats (continuous probabilities), it stops keeping.
    """

    trial, max_kept = 2048, 4096

    def __init__(self) -> None:
        self.kept: dict[tuple[float, ...], tuple[list[float], float, list[float]] | None] = {}
        self.lookups = self.repeats = 0
        self.keeping = True

    def __call__(self, values: Sequence[float], gumbels: Sequence[float]) -> tuple[int, float, list[float]]:
        if not self.keeping:
            return first_choice(values, gumbels)
        key = tuple(values)
        shares = self.kept.get(key)
        self.lookups += 1
        if shares is None:
            if self.lookups >= self.trial and 2 * self.repeats < self.lookups:
                self.keeping = False
            shares = _log_shares(values)
            if shares is None:  # no positive finite total: first_choice's uniform case
                return first_choice(values, gumbels)
            if len(self.kept) < self.max_kept:
                self.kept[key] = shares
        else:
            self.repeats += 1
        weights, total, log_p = shares
        scores = [p + g for p, g in zip(log_p, gumbels)]
        best = scores.index(max(scores))
        return best, weights[best] / total, scores
