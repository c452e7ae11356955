"""Offline world and trace replay used to evaluate routing policies before they serve."""
from .profiles import LatencyProfile, load_profiles

__all__ = ["LatencyProfile", "load_profiles"]
