"""Decision time per request for every registered policy, 10 candidates.

A decision is what serving does per request: `policy.distribution(candidates, context)` and
`sample_order(...)`. Each policy is first fitted on synthetic observations (so learned policies
decide from a realistic state); during the timed loop each decision's outcome is fed back through
`update`, which is timed separately (it runs after the response, off the decision path).
Targets from issue 4: p50 <= 50 us for baselines and bandits, <= 200 us for regression.

Usage: python benchmarks/bench_policies.py [--quick] [--candidates N] [--requests N]
The endpoints and outcomes are synthetic (seeded); no real provider is measured here.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.table import Table

from policies import (Candidate, Observation, RequestFeatures, RoutingContext, available_policies, make_policy,
                      sample_order)
from telemetry.snapshot import EndpointStats

TARGET_US = {"regression": 200.0}
DEFAULT_TARGET_US = 50.0


def _world(n_candidates: int, rng: np.random.Generator):
    candidates = [Candidate(f"provider{i}/vendor/model", f"provider{i}", "vendor/model",
                            prompt_price=float(rng.uniform(1e-7, 5e-6)), completion_price=float(rng.uniform(1e-7, 2e-5)))
                  for i in range(n_candidates)]
    speed = {c.endpoint_id: (float(rng.uniform(0.1, 2.0)), float(rng.uniform(20, 200)), float(rng.uniform(0, 0.1)))
             for c in candidates}
    stats = {c.endpoint_id: EndpointStats(c.endpoint_id, failure_times=(1.0, 2.0), n_recent=50, successes_5m=48,
                                          failures_5m=2, ttft_p50_s=speed[c.endpoint_id][0], latency_p50_s=2.0,
                                          tokens_per_s_p50=speed[c.endpoint_id][1]) for c in candidates}
    return candidates, speed, stats


def _context(rng: np.random.Generator, now: float, stats) -> RoutingContext:
    output = int(rng.integers(10, 2000))
    features = RequestFeatures(prompt_tokens=int(rng.integers(10, 8000)), max_tokens=output,
                               expected_output_tokens=output, stream=bool(rng.random() < 0.5),
                               hour_of_day=int(now // 3600) % 24)
    return RoutingContext(features=features, now=now, stats=stats, in_flight={})


def _outcome(endpoint_id: str, context: RoutingContext, speed, rng: np.random.Generator) -> Observation:
    ttft, tps, failure = speed[endpoint_id]
    if rng.random() < failure:
        return Observation(endpoint_id, context, success=False, error_class="5xx", now=context.now)
    tokens = context.features.expected_output_tokens
    return Observation(endpoint_id, context, success=True, ttft_s=ttft, latency_s=ttft + tokens / tps,
                       output_tokens=tokens, tokens_per_s=tps, now=context.now)


def bench(name: str, n_candidates: int, n_requests: int, n_history: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    candidates, speed, stats = _world(n_candidates, rng)
    history = []
    for step in range(n_history):
        context = _context(rng, float(step), stats)
        history.append(_outcome(candidates[step % n_candidates].endpoint_id, context, speed, rng))
    policy = make_policy(name, min_prob=0.01).fit(history)
    sampler_rng = np.random.default_rng(1)
    decide_ns = np.empty(n_requests)
    update_ns = np.empty(n_requests)
    clock = time.perf_counter_ns
    for i in range(n_requests):
        context = _context(rng, float(n_history + i), stats)
        start = clock()
        order, _ = sample_order(policy.distribution(candidates, context), sampler_rng)
        decide_ns[i] = clock() - start
        observation = _outcome(order[0], context, speed, rng)
        start = clock()
        policy.update(observation)
        update_ns[i] = clock() - start
    return decide_ns / 1000.0, update_ns / 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few requests, for CI smoke runs")
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--requests", type=int, default=None)
    args = parser.parse_args()
    n_requests = args.requests or (300 if args.quick else 5000)
    n_history = 300 if args.quick else 2000

    table = Table(title=f"Decision time per request, {args.candidates} candidates, {n_requests} requests (synthetic)")
    for column in ("policy", "decide p50 µs", "decide p99 µs", "target p50 µs", "meets", "update p50 µs"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=column == "policy")
    for name in available_policies():
        decide_us, update_us = bench(name, args.candidates, n_requests, n_history)
        target = TARGET_US.get(name, DEFAULT_TARGET_US)
        p50, p99 = np.percentile(decide_us, [50, 99])
        table.add_row(name, f"{p50:.1f}", f"{p99:.1f}", f"{target:.0f}", "yes" if p50 <= target else "NO",
                      f"{np.percentile(update_us, 50):.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
