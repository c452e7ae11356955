"""Pre-drawn Gumbel noise for `policies.sampler.sample_order`, one vectorised draw per batch."""
from __future__ import annotations

__all__ = ["PreDrawnGumbels", "GumbelRow"]


class GumbelRow(list):
    """A list that also answers `tolist()`, as the numpy array `Generator.gumbel` returns would."""

    __slots__ = ()

    def tolist(self) -> list[float]:
        return self


class PreDrawnGumbels:
    """Stands in for the Generator passed to `sample_order`: serves this request's pre-drawn Gumbels.

    Drawing all requests' Gumbels in one vectorised call, then handing them out row by row, keeps
    `sample_order`'s exact algorithm and distribution at a fraction of a per-call draw's cost.
    """

    __slots__ = ("values", "position")

    def __init__(self, values: list[float]) -> None:
        self.values = values
        self.position = 0

    def gumbel(self, size: int) -> GumbelRow:
        start = self.position
        self.position = start + size
        return GumbelRow(self.values[start:start + size])


