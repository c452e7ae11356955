from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from policies.sampler import apply_floor, fallback_order, first_choice, floor_values, normalise, sample_order


def _numpy_reference(probabilities, rng):
    """The sampler's first (vectorised) implementation, kept to pin the Python one to it."""
    keys = list(probabilities)
    p = np.clip(np.array([probabilities[k] for k in keys], dtype=float), 0.0, None)
    p = p / p.sum() if p.sum() > 0 else np.full(len(keys), 1.0 / len(keys))
    with np.errstate(divide="ignore"):
        scores = np.log(p) + rng.gumbel(size=len(keys))
    idx = np.argsort(-scores, kind="stable")
    return [keys[i] for i in idx], float(p[idx[0]])


def _random_distribution(shapes: np.random.Generator, zero_share: float) -> np.ndarray:
    """1 to 11 probabilities, about `zero_share` of them zero."""
    n = int(shapes.integers(1, 12))
    values = shapes.dirichlet(np.ones(n))
    values[shapes.random(n) < zero_share] = 0.0
    return values


def test_same_orders_and_propensities_as_the_numpy_reference():
    shapes = np.random.default_rng(0)
    for trial in range(300):
        values = _random_distribution(shapes, 0.2)
        probabilities = {f"e{i}": float(v) for i, v in enumerate(values)}
        ours = sample_order(probabilities, np.random.default_rng(trial))
        reference = _numpy_reference(probabilities, np.random.default_rng(trial))
        assert ours[0] == reference[0]
        assert ours[1] == pytest.approx(reference[1])


def test_first_choice_frequencies_follow_the_probabilities():
    rng = np.random.default_rng(1)
    probabilities = {"a": 0.2, "b": 0.5, "c": 0.3, "never": 0.0}
    firsts = Counter(sample_order(probabilities, rng)[0][0] for _ in range(20_000))
    assert firsts["never"] == 0
    for key in ("a", "b", "c"):
        assert firsts[key] / 20_000 == pytest.approx(probabilities[key], abs=0.015)


def test_propensity_is_the_first_choice_probability_and_every_candidate_is_ordered():
    order, propensity = sample_order({"a": 1.0, "b": 3.0}, np.random.default_rng(2))
    assert sorted(order) == ["a", "b"]
    assert propensity == {"a": 0.25, "b": 0.75}[order[0]]
    assert sample_order({}, np.random.default_rng(0)) == ([], 0.0)
    assert sample_order({"a": 0.0, "b": 0.0}, np.random.default_rng(0))[1] == 0.5


def test_deterministic_order_is_by_probability_with_propensity_one():
    assert sample_order({"a": 0.2, "b": 0.5, "c": 0.3}, np.random.default_rng(0), deterministic=True) == (["b", "c", "a"], 1.0)


def test_floor_and_normalise():
    floored = apply_floor({"a": 1.0, "b": 0.0, "c": 0.0}, 0.1)
    assert floored == pytest.approx({"a": 0.8, "b": 0.1, "c": 0.1})
    assert apply_floor({"a": 1.0, "b": 0.0}, 0.9) == pytest.approx({"a": 0.5, "b": 0.5})  # floor capped at 1/n
    assert normalise({"a": 0.0, "b": 0.0}) == {"a": 0.5, "b": 0.5}
    assert normalise({"a": 1.0, "b": 3.0}) == {"a": 0.25, "b": 0.75}


class _Recorded:
    """A generator stand-in that hands `sample_order` the Gumbels it was built with."""

    def __init__(self, values):
        self.values = values

    def gumbel(self, size):
        return np.asarray(self.values[:size])


def test_list_fast_path_gives_sample_orders_order_and_propensity():
    shapes = np.random.default_rng(3)
    for trial in range(500):
        values = _random_distribution(shapes, 0.3)
        n = len(values)
        if trial % 7 == 0:
            values[:] = 0.0  # all-zero falls back to uniform in both
        if trial % 11 == 0:
            values[0] = values[-1]  # exact ties keep input order in both
        if trial % 13 == 0:
            values = np.round(values * 4) / 4  # more ties, including between non-zero entries
        if trial % 5 == 0:
            values = np.eye(n)[int(shapes.integers(n))]  # one certain choice (greedy without a floor)
        gumbels = shapes.gumbel(size=n + 3).tolist()  # extra draws must be ignored
        keys = [f"e{i}" for i in range(n)]
        expected_order, expected_propensity = sample_order(dict(zip(keys, values.tolist())), _Recorded(gumbels))
        first, propensity, scores = first_choice(values.tolist(), gumbels)
        assert keys[first] == expected_order[0]
        assert propensity == expected_propensity  # the same floats, not merely close
        assert [keys[i] for i in fallback_order(scores)] == expected_order


def test_floor_values_is_apply_floor_over_a_list():
    values = [0.7, 0.3, 0.0, 0.0]
    for min_prob in (0.0, 0.01, 0.2, 0.5):
        assert floor_values(values, min_prob) == list(apply_floor(dict(zip("abcd", values)), min_prob).values())
    assert floor_values([], 0.1) == []
