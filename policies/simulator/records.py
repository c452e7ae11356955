"""The replay loop's records (`RequestFeatures`, `RoutingContext`, `Observation`), built at half the cost.

Both are frozen slotted dataclasses, whose generated `__init__` stores each field through
`object.__setattr__`; at a million requests that is about a microsecond per request. Storing the
fields through the slots' own descriptors gives equal objects (tests compare them with `==`) in
about half the time. Should either class gain a field or a `__post_init__`, the constructors are
used instead.
"""
from __future__ import annotations

from collections import deque
from dataclasses import fields
from typing import Any, Callable, Mapping, Sequence

from ..base import Observation, RequestFeatures, RoutingContext

__all__ = ["features_from_columns", "context_maker", "observation_maker"]

_new = object.__new__
_FEATURE_FIELDS = ("prompt_tokens", "max_tokens", "expected_output_tokens", "stream", "has_tools", "hour_of_day")
_CONTEXT_FIELDS = ("features", "now", "stats", "sort", "in_flight")
_OBSERVATION_FIELDS = ("endpoint_id", "context", "success", "error_class", "ttft_s", "latency_s", "output_tokens",
                       "tokens_per_s", "cost", "propensity", "now")


def _plain(cls: type, names: tuple[str, ...]) -> bool:
    """Whether `cls` has exactly these fields and no `__post_init__` (so setting the slots is all `__init__` does)."""
    return tuple(f.name for f in fields(cls)) == names and not hasattr(cls, "__post_init__")


def features_from_columns(*columns: Sequence) -> list[RequestFeatures]:
    """`[RequestFeatures(*row) for row in zip(*columns)]`, one column per field in declaration order."""
    if not _plain(RequestFeatures, _FEATURE_FIELDS):
        return [RequestFeatures(*row) for row in zip(*columns)]
    if len(columns) != len(_FEATURE_FIELDS):
        raise TypeError(f"expected {len(_FEATURE_FIELDS)} columns ({', '.join(_FEATURE_FIELDS)}), got {len(columns)}")
    built = [_new(RequestFeatures) for _ in columns[0]]
    for name, column in zip(_FEATURE_FIELDS, columns):
        deque(map(getattr(RequestFeatures, name).__set__, built, column), maxlen=0)  # run, keep nothing
    return built


def context_maker() -> Callable[[RequestFeatures, float, Mapping[str, Any], Mapping[str, int]], RoutingContext]:
    """A function (features, now, stats, in_flight) -> `RoutingContext(features, now, stats, None, in_flight)`."""
    if not _plain(RoutingContext, _CONTEXT_FIELDS):
        return lambda features, now, stats, in_flight: RoutingContext(features, now, stats, None, in_flight)
    set_features, set_now, set_stats, set_sort, set_in_flight = (
        getattr(RoutingContext, name).__set__ for name in _CONTEXT_FIELDS)

    def make(features: RequestFeatures, now: float, stats: Mapping[str, Any],
             in_flight: Mapping[str, int]) -> RoutingContext:
        context = _new(RoutingContext)
        set_features(context, features)
        set_now(context, now)
        set_stats(context, stats)
        set_sort(context, None)
        set_in_flight(context, in_flight)
        return context

    return make


def observation_maker() -> Callable[..., Observation]:
    """A function taking `Observation`'s eleven fields positionally, returning the `Observation`."""
    if not _plain(Observation, _OBSERVATION_FIELDS):
        return Observation
    (set_endpoint, set_context, set_success, set_error, set_ttft, set_latency, set_output, set_speed, set_cost,
     set_propensity, set_now) = (getattr(Observation, name).__set__ for name in _OBSERVATION_FIELDS)

    def make(endpoint_id: str, context: RoutingContext, success: bool, error_class: str | None,
             ttft_s: float | None, latency_s: float | None, output_tokens: int, tokens_per_s: float | None,
             cost: float, propensity: float, now: float) -> Observation:
        observation = _new(Observation)
        set_endpoint(observation, endpoint_id)
        set_context(observation, context)
        set_success(observation, success)
        set_error(observation, error_class)
        set_ttft(observation, ttft_s)
        set_latency(observation, latency_s)
        set_output(observation, output_tokens)
        set_speed(observation, tokens_per_s)
        set_cost(observation, cost)
        set_propensity(observation, propensity)
        set_now(observation, now)
        return observation

    return make
