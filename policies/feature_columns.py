"""Many requests' features as numpy columns, for policies that decide a batch of requests at once.

A policy's `distribution_batch(candidates, features)` reads the same few fields of every request
(prompt tokens, expected output tokens, `RequestFeatures.as_vector()`). Gathering them from a list
of `RequestFeatures` costs a Python attribute read per request and field, more than the batch's
arithmetic; the simulator holds them as arrays already and passes a `FeatureColumns`, which is
also a Sequence of the `RequestFeatures` themselves. `FeatureColumns.of` accepts either.

>>> from policies.base import RequestFeatures
>>> columns = FeatureColumns.of([RequestFeatures(1000, None, 256, stream=True), RequestFeatures(10)])
>>> columns.prompt_tokens.tolist(), columns.vectors[0].tolist() == list(columns[0].as_vector())
([1000.0, 10.0], True)
"""
from __future__ import annotations

from typing import Sequence, overload

import numpy as np

from .base import RequestFeatures

__all__ = ["FeatureColumns"]

_HOURS = 23.0  # RequestFeatures.as_vector's scale of hour_of_day


class FeatureColumns(Sequence[RequestFeatures]):
    """`features` and, row for row, their prompt tokens, expected output tokens (float64) and
    `as_vector()` rows ((requests, d) float64, the same floats `as_vector` gives)."""

    __slots__ = ("features", "prompt_tokens", "expected_output_tokens", "vectors")

    def __init__(self, features: Sequence[RequestFeatures], prompt_tokens: np.ndarray,
                 expected_output_tokens: np.ndarray, vectors: np.ndarray) -> None:
        self.features = features
        self.prompt_tokens = prompt_tokens
        self.expected_output_tokens = expected_output_tokens
        self.vectors = vectors

    @classmethod
    def of(cls, features: Sequence[RequestFeatures]) -> "FeatureColumns":
        if isinstance(features, cls):
            return features
        if not features:
            return cls([], np.empty(0), np.empty(0), np.empty((0, len(RequestFeatures().as_vector()))))
        vectors = np.array([f.as_vector() for f in features], dtype=float)
        return cls(features, np.array([f.prompt_tokens for f in features], dtype=float),
                   np.array([f.expected_output_tokens for f in features], dtype=float), vectors)

    @classmethod
    def from_arrays(cls, features: Sequence[RequestFeatures], prompt_tokens: np.ndarray,
                    expected_output_tokens: np.ndarray, stream: np.ndarray, has_tools: np.ndarray,
                    hour_of_day: np.ndarray) -> "FeatureColumns":
        """Columns of `features` given their fields as arrays (the caller vouches they match)."""
        prompt = np.asarray(prompt_tokens, dtype=float)
        output = np.asarray(expected_output_tokens, dtype=float)
        # as_vector's arithmetic elementwise (int -> float, then one IEEE division): the same floats.
        vectors = np.column_stack([np.ones(len(prompt)), prompt / 1000.0, output / 1000.0,
                                   np.asarray(stream, dtype=float), np.asarray(has_tools, dtype=float),
                                   np.asarray(hour_of_day, dtype=float) / _HOURS])
        return cls(features, prompt, output, vectors)

    def __len__(self) -> int:
        return len(self.prompt_tokens)

    @overload
    def __getitem__(self, index: int) -> RequestFeatures: ...

    @overload
    def __getitem__(self, index: slice) -> "FeatureColumns": ...

    def __getitem__(self, index):
        if isinstance(index, slice):  # views of the arrays: slicing a batch copies no column
            return FeatureColumns(self.features[index], self.prompt_tokens[index],
                                  self.expected_output_tokens[index], self.vectors[index])
        return self.features[index]
