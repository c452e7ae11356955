"""Bandit policies: learn each endpoint's outcomes online from `update` and explore while serving."""
from .discounted_ucb import DiscountedUCB
from .linucb import LinUCB
from .thompson import ThompsonSampling

__all__ = ["DiscountedUCB", "LinUCB", "ThompsonSampling"]
