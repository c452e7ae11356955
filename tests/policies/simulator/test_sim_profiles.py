import math

import numpy as np
import pytest

from policies.simulator.profiles import LatencyProfile, load_profiles


def test_profiles_cover_every_llmperf_run_with_sane_figures():
    profiles = load_profiles()
    assert len(profiles) == 19
    for key in ("groq-70b", "together-13b", "fireworks-7b", "lepton-70b", "bedrock-13b"):
        assert key in profiles
    for name, profile in profiles.items():
        assert profile.name == name
        assert 0.05 < math.exp(profile.ttft_log_mu) < 10.0
        assert profile.tokens_per_s_mean > 5.0
        assert 0.0 <= profile.error_rate < 1.0 and 0.0 <= profile.rate_429 < 1.0
        assert "llmperf" in profile.source


def test_known_measurements_are_reflected():
    profiles = load_profiles()
    # Groq was by far the fastest decoder in the leaderboard; lepton rejected most requests with 429.
    assert profiles["groq-70b"].tokens_per_s_mean > 2 * profiles["together-70b"].tokens_per_s_mean
    assert profiles["lepton-7b"].rate_429 > 0.5
    assert profiles["bedrock-13b"].error_rate > 0.5 and profiles["bedrock-13b"].rate_429 == 0.0
    assert profiles["anyscale-7b"].error_rate == 0.0


def test_sample_latency_is_ttft_plus_decode_and_reproducible():
    profile = load_profiles()["together-70b"]
    first = profile.sample_latency(np.random.default_rng(3), 151)
    again = profile.sample_latency(np.random.default_rng(3), 151)
    assert first == again
    ttft, total = first
    assert 0 < ttft < total


def test_sampled_distribution_matches_parameters():
    profile = LatencyProfile("x", math.log(0.5), 0.3, 80.0, 5.0, 0.0, 0.0, "test")
    rng = np.random.default_rng(0)
    ttfts = np.array([profile.sample_ttft(rng) for _ in range(4000)])
    assert np.median(ttfts) == pytest.approx(0.5, rel=0.05)
    ttft, total = profile.sample_latency_array(rng, np.full(4000, 161))
    assert np.median(total - ttft) == pytest.approx(160 / 80.0, rel=0.05)
    assert profile.sample_tokens_per_s(rng) > 0
