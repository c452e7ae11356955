"""How the replay loop asks a policy for its probabilities, without the per-request dicts.

`Policy.distribution` returns a dict keyed by endpoint id, which serving wants; the replay loop
wants the same numbers as a list aligned with the candidates (it samples with
`policies.sampler.first_choice` over pre-drawn Gumbels). For a `ScoringPolicy` that keeps the
base `distribution`, `aligned_probabilities` returns exactly what `distribution` computes (the
`_probabilities` hook, then the same floor arithmetic) as a list; for any other policy it returns
None and the loop reads `distribution`'s dict. Tests pin the two to the same floats.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..base import Candidate, Policy, RoutingContext
from ..sampler import floor_values
from ..scoring import ScoringPolicy

__all__ = ["aligned_probabilities"]

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
