"""Routing policies: probabilities over candidate endpoints, one shared sampler, a registry.

Built-in policies (by registry name): uniform, round-robin, cheapest, fastest, latency-based,
least-busy, openrouter, thompson, discounted-ucb, linucb, regression.
Training from telemetry: `policies.training.observations_from_events` / `fit_from_events`.
"""
from .base import Candidate, Observation, Policy, RequestFeatures, RoutingContext
from .objective import DEFAULT_WEIGHTS, Prediction, Weights, combine, expected_price, utility, weights_for
from .objective import realised_utility
from .registry import available_policies, make_policy, register
from .sampler import apply_floor, normalise, sample_order
from .serving import PolicySnapshot, explain, load_policy, policy_version, save_policy

__all__ = [
    "Candidate", "Observation", "Policy", "RequestFeatures", "RoutingContext",
    "available_policies", "make_policy", "register", "apply_floor", "normalise", "sample_order",
    "Prediction", "Weights", "DEFAULT_WEIGHTS", "weights_for", "expected_price", "combine", "utility",
    "realised_utility", "PolicySnapshot", "explain", "load_policy", "policy_version", "save_policy",
]
