"""How the replay loop asks a policy for its probabilities, without the per-request dicts.

`Policy.distribution` returns a dict keyed by endpoint id, which serving wants; the replay loop
wants the same numbers as a list aligned with the candidates (it samples with
`policies.sampler.first_choice` over pre-drawn Gumbels). For a `ScoringPolicy` that keeps the
base `distribution`, `aligned_probabilities` returns exactly what `distribution` computes (the
`_probabilities` hook, then the same floor arithmetic) as a list; for any other policy it returns
None and the loop reads `distribution`'s dict. Tests pin the two to the same floats.

A policy may also offer two optional methods that let the loop decide several requests at once:
`distribution_version(candidates, context)` brings the policy up to date for one request exactly
as deciding it would and returns a token, and `distribution_batch(candidates, features)` returns
the candidate-aligned probabilities `distribution` would give requests with those features (no
sort) for as long as the token stays the same. `batch_decider` returns that pair or None.
"""
from __future__ import annotations

from typing import Callable, Hashable, Sequence

import numpy as np

from ..base import Candidate, Policy, RequestFeatures, RoutingContext
from ..sampler import floor_values
from ..scoring import ScoringPolicy

__all__ = ["aligned_probabilities", "batch_decider"]

AlignedProbabilities = Callable[[Sequence[Candidate], RoutingContext], list[float]]


def aligned_probabilities(policy: Policy) -> AlignedProbabilities | None:
    """`policy.distribution`'s values in candidate order, or None when only the dict is available."""
    if not isinstance(policy, ScoringPolicy) or type(policy).distribution is not ScoringPolicy.distribution:
        return None
    hook = policy._probabilities  # the documented subclass hook `distribution` itself calls
    min_prob = policy.min_prob

    def probabilities(candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        values = hook(candidates, context)
        if isinstance(values, np.ndarray):
            values = values.tolist()
        return floor_values(values, min_prob)

    return probabilities


DistributionVersion = Callable[[Sequence[Candidate], RoutingContext], Hashable]
DistributionBatch = Callable[[Sequence[Candidate], Sequence[RequestFeatures]], list[list[float]]]


def batch_decider(policy: Policy) -> tuple[DistributionVersion, DistributionBatch] | None:
    """The policy's (`distribution_version`, `distribution_batch`) when it offers both, else None."""
    version = getattr(policy, "distribution_version", None)
    batch = getattr(policy, "distribution_batch", None)
    if version is None or batch is None or aligned_probabilities(policy) is None:
        return None
    return version, batch
