from __future__ import annotations

import numpy as np
import pytest

from policies.base import Candidate, Observation, RequestFeatures, RoutingContext
from policies.objective import (DEFAULT_WEIGHTS, SORT_WEIGHTS, Prediction, Weights, combine, expected_price,
                                realised_utility, utility, weights_for)

CHEAP_SLOW = Candidate("cheap/m", "cheap", "m", prompt_price=1e-7, completion_price=2e-7)
PRICEY_FAST = Candidate("pricey/m", "pricey", "m", prompt_price=5e-6, completion_price=1.5e-5)
SLOW = Prediction.from_speed(ttft_s=2.0, tokens_per_s=20.0, output_tokens=500, failure_prob=0.01)
FAST = Prediction.from_speed(ttft_s=0.2, tokens_per_s=150.0, output_tokens=500, failure_prob=0.01)
FEATURES = RequestFeatures(prompt_tokens=2000, expected_output_tokens=500)


def _winner(sort: str | None, default: Weights = DEFAULT_WEIGHTS) -> str:
    context = RoutingContext(features=FEATURES, sort=sort)
    scores = {"cheap": utility(CHEAP_SLOW, context, SLOW, default), "pricey": utility(PRICEY_FAST, context, FAST, default)}
    return max(scores, key=scores.get)


def test_sort_chooses_the_trade_off():
    assert _winner("price") == "cheap"
    assert _winner("throughput") == "pricey"
    assert _winner("latency") == "pricey"
    # Default: ~23.5 s less latency outweighs ~$0.017 more price at $0.001 per second.
    assert _winner(None) == "pricey"
    # A configured default that values money far above time flips it.
    assert _winner(None, Weights(usd=1e5)) == "cheap"


def test_unknown_sort_names_the_valid_ones():
    with pytest.raises(ValueError, match="latency, price, throughput"):
        weights_for("fastest")
    assert weights_for(None) is DEFAULT_WEIGHTS
    assert weights_for("price") is SORT_WEIGHTS["price"]


def test_price_uses_the_request_token_counts():
    assert expected_price(PRICEY_FAST, FEATURES) == pytest.approx(2000 * 5e-6 + 500 * 1.5e-5)


def test_failure_and_latency_lower_utility_in_their_units():
    context = RoutingContext(features=FEATURES)
    base = utility(CHEAP_SLOW, context, FAST)
    one_second_slower = Prediction(FAST.ttft_s, FAST.latency_s + 1.0, FAST.tokens_per_s, FAST.failure_prob)
    certain_failure = Prediction(FAST.ttft_s, FAST.latency_s, FAST.tokens_per_s, 1.0)
    assert base - utility(CHEAP_SLOW, context, one_second_slower) == pytest.approx(DEFAULT_WEIGHTS.latency_s)
    assert base - utility(CHEAP_SLOW, context, certain_failure) == pytest.approx(DEFAULT_WEIGHTS.failure * 0.99)


def test_combine_broadcasts_like_the_scalar_utility():
    context = RoutingContext(features=FEATURES, sort="latency")
    prices = np.array([expected_price(CHEAP_SLOW, FEATURES), expected_price(PRICEY_FAST, FEATURES)])
    draws = combine(weights_for("latency"), prices, np.array([[SLOW.ttft_s, FAST.ttft_s]] * 3),
                    np.array([[SLOW.latency_s, FAST.latency_s]] * 3), np.array([[SLOW.tokens_per_s, FAST.tokens_per_s]] * 3),
                    np.array([[0.01, 0.01]] * 3))
    assert draws.shape == (3, 2)
    assert draws[2, 0] == pytest.approx(utility(CHEAP_SLOW, context, SLOW))
    assert draws[2, 1] == pytest.approx(utility(PRICEY_FAST, context, FAST))


def test_prediction_latency_is_ttft_plus_decode_time():
    assert FAST.latency_s == pytest.approx(0.2 + 500 / 150.0)


def test_realised_utility_scores_billed_cost_and_failures():
    context = RoutingContext(features=FEATURES)
    served = Observation("p/m", context, success=True, ttft_s=0.5, latency_s=3.0, tokens_per_s=100.0, cost=0.002)
    failed = Observation("p/m", context, success=False, error_class="timeout", latency_s=3.0)
    assert realised_utility(served) == pytest.approx(-(1000 * 0.002 + 3.0 + 0.5 * 0.5))
    assert realised_utility(failed) == pytest.approx(-(3.0 + 0.5 * 3.0 + 10.0))
    assert realised_utility(failed) < realised_utility(served)
