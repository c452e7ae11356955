"""Baseline policies: simple rules every learned policy must beat (each registered by name)."""
from .cheapest import Cheapest
from .fastest import Fastest
from .latency_based import LatencyBased
from .least_busy import LeastBusy
from .round_robin import RoundRobin
from .uniform import Uniform

__all__ = ["Cheapest", "Fastest", "LatencyBased", "LeastBusy", "RoundRobin", "Uniform"]
