"""Policies by name, so config, CLI and the simulator can ask for one with a string."""
from __future__ import annotations

import inspect
from dataclasses import fields
from typing import Any, Callable, Mapping

from .base import Policy

__all__ = ["register", "make_policy", "available_policies"]

_REGISTRY: dict[str, Callable[..., Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make `cls` constructible by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def make_policy(name: str, **params: Any) -> Policy:
    """Construct a registered policy; errors name the bad key and list the valid ones.

    `weights` may be given as a mapping (as read from YAML config) and becomes `objective.Weights`.
    """
    _load_builtin_policies()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; valid: {', '.join(sorted(_REGISTRY))}") from None
    accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(f"policy {name!r} has no parameter {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(accepted) or '(none)'}")
    if isinstance(params.get("weights"), Mapping):
        params["weights"] = _weights_from_mapping(params["weights"])
    return factory(**params)


def _weights_from_mapping(values: Mapping[str, float]) -> Any:
    from .objective import Weights

    valid = [f.name for f in fields(Weights)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise TypeError(f"weights have no field {', '.join(map(repr, unknown))}; valid: {', '.join(valid)}")
    return Weights(**{k: float(v) for k, v in values.items()})


def available_policies() -> list[str]:
    _load_builtin_policies()
    return sorted(_REGISTRY)


def _load_builtin_policies() -> None:
    # Imported lazily so that `policies.base` stays import-cheap and cycle-free.
    from . import builtin  # noqa: F401
