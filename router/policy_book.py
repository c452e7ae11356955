"""Which policy serves which model; a scheduled refit swaps in new policy objects atomically."""
from __future__ import annotations

from typing import Any, Mapping

from policies.base import Policy
from policies.registry import make_policy

__all__ = ["PolicyBook"]


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
        return policy

    def for_model(self, model_id: str) -> Policy:
        return self._per_model.get(model_id, self._default)

    def swap(self, model_id: str | None, policy: Policy) -> None:
        """Replace the default (model_id None) or one model's policy with a newly fitted object."""
        if model_id is None:
            self._default = policy
        else:
            self._per_model = {**self._per_model, model_id: policy}

    def all(self) -> dict[str, Policy]:
        return {"*": self._default, **self._per_model}
