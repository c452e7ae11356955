"""Offline world and trace replay used to evaluate routing policies before they serve.

Heavy modules (replay, report, eventlog) are imported on first use of their names, so that the
gateway's demo providers can import `load_profiles` cheaply.
"""
from importlib import import_module
from typing import Any

from .profiles import LatencyProfile, load_profiles

__all__ = [
    "LatencyProfile", "load_profiles",
    "load_trace", "rescale_time", "tile_trace", "TRACE_SCHEMA", "BUILTIN_TRACES",
    "World", "EndpointSpec", "Outage", "PriceChange", "Degradation",
    "Scenario", "load_scenario", "available_scenarios",
    "ReplayConfig", "ReplayResult", "run_replay", "bind_world", "ORACLE",
    "events_frame", "write_events",
    "summarise", "build_report", "print_report", "plot_report",
]

_LAZY = {
    "load_trace": "traces", "rescale_time": "traces", "tile_trace": "traces", "TRACE_SCHEMA": "traces",
    "BUILTIN_TRACES": "traces",
    "World": "world", "EndpointSpec": "world", "Outage": "world", "PriceChange": "world", "Degradation": "world",
    "Scenario": "scenario", "load_scenario": "scenario", "available_scenarios": "scenario",
    "ReplayConfig": "replay", "ReplayResult": "replay", "bind_world": "replay", "ORACLE": "replay",
    "events_frame": "eventlog", "write_events": "eventlog",
    "summarise": "report", "build_report": "report", "print_report": "report", "plot_report": "report",
}


def __getattr__(name: str) -> Any:
    if name == "run_replay":  # the function; `policies.simulator.replay` is its module
        return import_module(".replay", __name__).replay
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
