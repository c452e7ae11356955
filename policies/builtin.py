"""Importing this module registers every built-in policy."""
from . import openrouter_default  # noqa: F401
