"""Policies by name, so config, CLI and the simulator can ask for one with a string."""
from __future__ import annotations

from typing import Any, Callable

from .base import Policy

__all__ = ["register", "make_policy", "available_policies"]

_REGISTRY: dict[str, Callable[..., Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make `cls` constructible by its `name`."""
    _REGISTRY[cls.name] = cls
    return cls


def make_policy(name: str, **params: Any) -> Policy:
    _load_builtin_policies()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; valid: {', '.join(sorted(_REGISTRY))}") from None
    return factory(**params)


def available_policies() -> list[str]:
    _load_builtin_policies()
    return sorted(_REGISTRY)


def _load_builtin_policies() -> None:
    # Imported lazily so that `policies.base` stays import-cheap and cycle-free.
    from . import builtin  # noqa: F401
