"""How the replay loop asks a policy for its probabilities, without the per-request dicts.

`Policy.distribution` returns a dict keyed by endpoint id, which serving wants; the replay loop
wants the same numbers as a list aligned with the candidates (it samples with
`policies.sampler.first_choice` over pre-drawn Gumbels). For a `ScoringPolicy` that keeps the
base `distribution`, `aligned_probabilities` returns exactly what `distribution` computes (the
`_probabilities` hook, then the same floor arithmetic) as a list; a policy whose `distribution`
is defined beside a `distribution_values` (the same probabilities as a candidate-aligned list, as
`OpenRouterDefault` has) gets that; for any other policy it returns None and the loop reads
`distribution`'s dict. Tests pin the two to the same floats.

A policy may also offer two optional methods that let the loop decide several requests at once:
`distribution_version(candidates, now)` brings the policy up to date for a request at time `now`
exactly as deciding it would and returns a token, and `distribution_batch(candidates, features)`
returns the candidate-aligned probabilities `distribution` would give requests with those
features (no sort) for as long as the token stays the same. Such a distribution reads nothing of
the context but the features and the time, so the loop builds no `RoutingContext` for these
decisions. `batch_decider` returns that pair or None.

Learning takes the same shortcut: a policy whose `update` only hands an observation's fields to
`_learn_outcome` (`policies.bandits._outcome_bandit.LearnsFromOutcomes`) is given those fields
directly by `outcome_learner`, without an `Observation` per attempt.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Hashable, Sequence

import numpy as np

from ..bandits._outcome_bandit import LearnsFromOutcomes
from ..base import Candidate, Policy, RequestFeatures, RoutingContext
from ..sampler import first_choices, floor_values
from ..scoring import ScoringPolicy

__all__ = ["aligned_probabilities", "batch_decider", "outcome_learner", "DecisionBatches"]

AlignedProbabilities = Callable[[Sequence[Candidate], RoutingContext], list[float]]


def aligned_probabilities(policy: Policy) -> AlignedProbabilities | None:
    """`policy.distribution`'s values in candidate order, or None when only the dict is available."""
    if _defines_distribution_values(type(policy)):
        return policy.distribution_values
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


def _defines_distribution_values(cls: type) -> bool:
    """Whether the class that defines `cls.distribution` also defines `distribution_values` beside it
    (its list form, as `OpenRouterDefault` does); a subclass overriding only `distribution` does not."""
    for klass in cls.__mro__:
        if "distribution" in vars(klass):
            return "distribution_values" in vars(klass)
    return False


OutcomeLearner = Callable[..., None]


def outcome_learner(policy: Policy) -> OutcomeLearner | None:
    """`policy._learn_outcome` when `policy.update(observation)` is exactly that call with the
    observation's fields (endpoint_id, context.features, success, error_class, ttft_s, latency_s,
    output_tokens, tokens_per_s, now or context.now); None for any other policy."""
    if not isinstance(policy, LearnsFromOutcomes):
        return None
    cls = type(policy)
    if cls.update is not ScoringPolicy.update or cls._learn is not LearnsFromOutcomes._learn:
        return None
    return policy._learn_outcome


DistributionVersion = Callable[[Sequence[Candidate], float], Hashable]
DistributionBatch = Callable[[Sequence[Candidate], Sequence[RequestFeatures]], list[list[float]]]


def batch_decider(policy: Policy) -> tuple[DistributionVersion, DistributionBatch] | None:
    """The policy's (`distribution_version`, `distribution_batch`) when it offers both, else None."""
    version = getattr(policy, "distribution_version", None)
    batch = getattr(policy, "distribution_batch", None)
    if version is None or batch is None or aligned_probabilities(policy) is None:
        return None
    return version, batch


class DecisionBatches:
    """The replay loop's batches: probabilities of the next requests, decided together at one version.

    `decide(r, ...)` first asks the policy for its version at request r (which refreshes the
    policy exactly as deciding r alone would); while it is unchanged the probabilities computed
    for r in the current batch are those `distribution` would give. A new batch runs from r to
    `run_end(r)` (the end of the run of requests that can share r's decision: same candidates), at
    most `size` requests: the longest of the last few runs of requests decided at one version
    (rows past a version's end are computed in vain, a batch too short costs another batch),
    doubled while a version outlasts its batch. With `gumbels` (request q's at row q) the batch's
    first choices and propensities are sampled together too (`sampler.first_choices`).
    """

    min_size, max_size = 8, 256

    def __init__(self, version: DistributionVersion, batch: DistributionBatch, features: Sequence[RequestFeatures],
                 run_end: Callable[[int], int], gumbels: np.ndarray | None = None) -> None:
        self.version, self.batch = version, batch
        self.features, self.run_end, self.n_requests = features, run_end, len(features)
        self.gumbels = gumbels
        self.start = self.end = 0  # requests [start, end) were decided at `decided_at`
        self.decided_at: Hashable = None
        self.run_start = 0  # the first request decided at the current version
        self.runs: deque[int] = deque([self.min_size], maxlen=8)  # requests decided at recent versions
        self.size = self.min_size
        self.probabilities: list[list[float]] = []
        self.firsts: list[int] | None = None  # first choice and propensity per request of the batch
        self.propensities: list[float] = []

    def values(self, r: int, candidates: Sequence[Candidate], now: float) -> list[float]:
        """Request r's probabilities, candidate-aligned."""
        return self.decide(r, candidates, now)[0]

    def decide(self, r: int, candidates: Sequence[Candidate], now: float) -> tuple[list[float], int | None, float]:
        """(probabilities, first choice, its propensity) of request r; first choice None when the
        caller must sample it (`sampler.first_choice`)."""
        version = self.version(candidates, now)
        if version != self.decided_at:
            self.runs.append(r - self.run_start)
            self.run_start = r
            self.size = min(max(max(self.runs) + 1, self.min_size), self.max_size)
        elif r >= self.end:
            self.size = min(2 * self.size, self.max_size)
        else:
            q = r - self.start
            firsts = self.firsts
            if firsts is None:
                return self.probabilities[q], None, 0.0
            return self.probabilities[q], firsts[q], self.propensities[q]
        end = min(self.n_requests, r + self.size, self.run_end(r))
        self.probabilities = self.batch(candidates, self.features[r:end])
        self.start, self.end, self.decided_at = r, end, version
        chosen = None if self.gumbels is None else first_choices(self.probabilities, self.gumbels[r:end])
        if chosen is None:
            self.firsts, self.propensities = None, []
            return self.probabilities[0], None, 0.0
        self.firsts, self.propensities = chosen
        return self.probabilities[0], chosen[0][0], chosen[1][0]
