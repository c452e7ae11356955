"""What serving needs from policies, without importing the router: snapshots, persistence, explanations.

A scheduled job fits a policy, `save_policy` writes it under a content-addressed version, and the
router swaps a new `PolicySnapshot` in; every decision event records `snapshot.version`.
Fitted policies are pickled: load them only from the operator's own policy directory.
"""
from __future__ import annotations

import copy
import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .base import Candidate, Policy, RoutingContext
from .objective import DEFAULT_WEIGHTS, Prediction, expected_price, utility
from .sampler import sample_order

__all__ = ["PolicySnapshot", "save_policy", "load_policy", "policy_version", "explain"]

_SUFFIX = ".pkl"


@dataclass(frozen=True, slots=True)
class PolicySnapshot:
    """An immutable pairing of the serving policy and its version (swap the whole object to update)."""

    policy: Policy
    version: str

    @classmethod
    def of(cls, policy: Policy) -> "PolicySnapshot":
        return cls(policy, getattr(policy, "version", "0"))

    def decide(self, candidates: Sequence[Candidate], context: RoutingContext, rng: np.random.Generator,
               deterministic: bool = False) -> tuple[list[str], float, dict[str, float]]:
        """(attempt order, propensity of the first choice, the full distribution)."""
        probabilities = self.policy.distribution(candidates, context)
        order, propensity = sample_order(probabilities, rng, deterministic=deterministic)
        return order, propensity, probabilities


def _payload(policy: Policy) -> bytes:
    # The version is derived from the content, so it must not be part of what is hashed.
    unversioned = copy.copy(policy)
    vars(unversioned).pop("version", None)
    return pickle.dumps(unversioned, protocol=pickle.HIGHEST_PROTOCOL)


def policy_version(policy: Policy) -> str:
    """`<name>-<12 hex of sha256 of the pickled policy>`: equal policies get equal versions."""
    return f"{policy.name}-{hashlib.sha256(_payload(policy)).hexdigest()[:12]}"


def save_policy(policy: Policy, directory: str | os.PathLike) -> str:
    """Write `policy` to `<directory>/<version>.pkl` atomically, set `policy.version`, return it."""
    payload = _payload(policy)
    version = f"{policy.name}-{hashlib.sha256(payload).hexdigest()[:12]}"
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{version}{_SUFFIX}"
    # Write-then-rename so a reader never sees a half-written file.
    with tempfile.NamedTemporaryFile(dir=target_dir, suffix=".tmp", delete=False) as handle:
        handle.write(payload)
    os.replace(handle.name, target)
    policy.version = version
    return version


def load_policy(path: str | os.PathLike) -> Policy:
    """Read a policy written by `save_policy`; its version is the file's stem."""
    path = Path(path)
    with path.open("rb") as handle:
        policy = pickle.load(handle)  # noqa: S301 - operator-owned files only (see module docstring)
    if not isinstance(policy, Policy):
        raise TypeError(f"{path} does not hold a Policy (found {type(policy).__name__})")
    policy.version = path.name.removesuffix(_SUFFIX)
    return policy


def _stats_prediction(candidate: Candidate, context: RoutingContext) -> Prediction | None:
    """Figures from the live stats snapshot, for policies that predict nothing themselves."""
    stats = context.stats.get(candidate.endpoint_id)
    if stats is None or stats.ttft_p50_s is None or stats.tokens_per_s_p50 is None:
        return None
    uptime = stats.uptime_5m
    return Prediction.from_speed(stats.ttft_p50_s, stats.tokens_per_s_p50, context.features.expected_output_tokens,
                                 0.0 if uptime is None else 1.0 - uptime)


def explain(policy: Policy, candidates: Sequence[Candidate], context: RoutingContext) -> list[dict[str, Any]]:
    """Per candidate: probability, expected price and, where known, predicted figures and utility.

    Predictions come from the policy's `predict(candidates, context)` when it has one, else from
    the live stats snapshot; figures nobody predicts are None. Highest probability first.
    """
    probabilities = policy.distribution(candidates, context)
    predict = getattr(policy, "predict", None)
    predictions = predict(candidates, context) if predict is not None else None
    weights = getattr(policy, "weights", DEFAULT_WEIGHTS)
    rows = []
    for i, candidate in enumerate(candidates):
        prediction = predictions[i] if predictions is not None else _stats_prediction(candidate, context)
        row: dict[str, Any] = {
            "endpoint_id": candidate.endpoint_id,
            "provider": candidate.provider,
            "probability": probabilities.get(candidate.endpoint_id, 0.0),
            "price_usd": expected_price(candidate, context.features),
            "ttft_s": None, "latency_s": None, "tokens_per_s": None, "failure_prob": None, "utility": None,
        }
        if prediction is not None:
            row.update(ttft_s=prediction.ttft_s, latency_s=prediction.latency_s, tokens_per_s=prediction.tokens_per_s,
                       failure_prob=prediction.failure_prob,
                       utility=utility(candidate, context, prediction, weights))
        rows.append(row)
    rows.sort(key=lambda r: -r["probability"])
    return rows
