"""The runnable examples in the policies' docstrings stay true."""
from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "policies.objective", "policies.exploration", "policies.training", "policies.regression",
    "policies.openrouter_default", "policies.baselines.uniform", "policies.baselines.round_robin",
    "policies.baselines.cheapest", "policies.baselines.fastest", "policies.baselines.latency_based",
    "policies.baselines.least_busy", "policies.bandits.thompson", "policies.bandits.discounted_ucb",
    "policies.bandits.linucb",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples(module_name):
    result = doctest.testmod(importlib.import_module(module_name))
    assert result.attempted > 0
    assert result.failed == 0
