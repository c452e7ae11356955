"""Which policy serves which model; a scheduled refit swaps in new policy objects atomically.

The request path reads `for_model()`; the refit job (a background thread) fits a fresh copy from
telemetry and swaps the reference, so a decision never sees a half-fitted policy. Online policies
(bandits) also learn on the request path through `update`; `regression` learns only by refit.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from policies.base import Policy
from policies.registry import make_policy
from policies.serving import policy_version, save_policy
from policies.training import fit_from_events

__all__ = ["PolicyBook"]

log = logging.getLogger("switchyard.policies")


class PolicyBook:
    def __init__(self, default: str, per_model: Mapping[str, str] | None = None,
                 params: Mapping[str, Mapping[str, Any]] | None = None, min_prob: float = 0.0, seed: int | None = None):
        self.params = {k: dict(v) for k, v in (params or {}).items()}
        self.min_prob = min_prob
        self.seed = seed
        self._default = self._make(default)
        self._per_model = {model: self._make(name) for model, name in (per_model or {}).items()}

    def _make(self, name: str) -> Policy:
        params = dict(self.params.get(name, {}))
        policy = make_policy(name, **params)
        # Exploration floor and seed are shared settings; set them where the policy takes them.
        for attr, value in (("min_prob", self.min_prob), ("seed", self.seed)):
            if attr in policy.get_params() and attr not in params and value is not None:
                setattr(policy, attr, value)
        policy.version = policy_version(policy)
        return policy

    def for_model(self, model_id: str) -> Policy:
        return self._per_model.get(model_id, self._default)

    def swap(self, model_id: str | None, policy: Policy) -> None:
        """Replace the default (model_id None) or one model's policy with a newly fitted object."""
        if model_id is None:
            self._default = policy
        else:
            self._per_model = {**self._per_model, model_id: policy}

    def all(self) -> dict[str | None, Policy]:
        return {None: self._default, **self._per_model}

    def refit(self, events: pl.DataFrame, directory: str | Path | None = None, online_too: bool = False) -> list[str]:
        """Fit fresh copies on telemetry `events` and swap them in; returns the new versions.

        Policies that learn only by `fit` (`needs_refit`) are refitted every time; those that learn
        online only with `online_too` (a warm start after a restart): refitting them while they
        serve would throw away what they learned since. Stateless policies are left alone.
        Each model's policy sees only that model's events; the default sees all of them.
        """
        versions = []
        for model_id, policy in self.all().items():
            if not (policy.needs_refit or (online_too and policy.learns_online)):
                continue
            frame = events if model_id is None else events.filter(pl.col("served_model") == model_id)
            if frame.height == 0:
                continue
            fitted = fit_from_events(policy, frame)
            fitted.version = save_policy(fitted, directory) if directory is not None else policy_version(fitted)
            self.swap(model_id, fitted)
            versions.append(fitted.version)
            log.info("refitted policy %s for %s on %d events", fitted.version, model_id or "all models", frame.height)
        return versions
