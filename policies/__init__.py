"""Routing policies: probabilities over candidate endpoints, one shared sampler, a registry."""
from .base import Candidate, Observation, Policy, RequestFeatures, RoutingContext
from .registry import available_policies, make_policy, register
from .sampler import apply_floor, normalise, sample_order

__all__ = [
    "Candidate", "Observation", "Policy", "RequestFeatures", "RoutingContext",
    "available_policies", "make_policy", "register", "apply_floor", "normalise", "sample_order",
]
