"""Importing this module registers every built-in policy."""
from . import bandits, baselines, openrouter_default, regression  # noqa: F401
