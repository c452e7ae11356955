"""Replay a trace through a policy in a simulated world, exactly as serving would route it.

The request loop (`loop.ReplayRun`) routes each request in arrival order as dispatch would,
feeding outcomes back to the policy. The world's outcomes are drawn in vectorised batches before
the loop (common random numbers: every policy faces the same draws for the same seed), so the
loop's per-request cost is the policy call plus a little bookkeeping.

>>> from policies.simulator.traces import load_trace
>>> result = replay(load_trace("azure-conv", limit=500), "steady", "uniform", ReplayConfig(seed=1))
>>> result.requests.height
500
"""
from __future__ import annotations

import copy
import gc
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np
import polars as pl

from ..base import Policy
from ..registry import make_policy
from .config import ORACLE, ReplayConfig, ReplayResult
from .frames import attempt_frame, request_frame
from .loop import ReplayRun
from .scenario import Scenario, load_scenario
from .world import World

__all__ = ["ReplayConfig", "ReplayResult", "replay", "bind_world", "ORACLE", "make_replay_policy"]


def bind_world(world: World | Scenario | str, trace: pl.DataFrame) -> World:
    """A scenario (name, path or model) bound to the trace's start and span; a World is used as is."""
    if isinstance(world, World):
        return world
    scenario = world if isinstance(world, Scenario) else load_scenario(world)
    start = float(trace["timestamp"].min())
    return scenario.bind(start, float(trace["timestamp"].max()) - start)


def make_replay_policy(policy: str | Policy, seed: int, keep_state: bool = False) -> Policy | None:
    """The policy one run uses: registry name (seeded when it takes a seed) or a clone; None for the oracle.

    `keep_state=True` replays a deep copy of a fitted policy instead (a clone would reset what it
    learned); the caller's object is never trained in place either way.
    """
    if isinstance(policy, Policy):
        return copy.deepcopy(policy) if keep_state else policy.clone()
    if policy == ORACLE:
        return None
    fresh = make_policy(policy)
    if "seed" in fresh.get_params():
        fresh = make_policy(policy, seed=seed)
    return fresh.clone()


def replay(trace: pl.DataFrame, world: World | Scenario | str, policy: str | Policy,
           config: ReplayConfig = ReplayConfig(), progress: Callable[[int], None] | None = None, *,
           keep_state: bool = False) -> ReplayResult:
    """Route every request of `trace` with a fresh copy of `policy` (or the oracle) in `world`.

    `progress(n)` is called after each batch of n requests; `keep_state` replays a fitted policy
    object as it is (see `make_replay_policy`).
    """
    with _no_cyclic_gc():
        return _replay(trace, world, policy, config, progress, keep_state)


@contextmanager
def _no_cyclic_gc():
    """Pause the cyclic garbage collector for the run (reference counting still frees everything).

    The loop allocates millions of small acyclic tuples and records that it keeps; each of them
    counts towards the collector's thresholds, which then rescan the ever-growing logs again and
    again (about a quarter of the run time) to find no cycles.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _replay(trace: pl.DataFrame, world: World | Scenario | str, policy: str | Policy, config: ReplayConfig,
            progress: Callable[[int], None] | None, keep_state: bool) -> ReplayResult:
    world = bind_world(world, trace)
    learner = make_replay_policy(policy, config.seed, keep_state)
    name = ORACLE if learner is None else learner.name
    version = "ground-truth" if learner is None else str(getattr(learner, "version", "0"))
    started = time.perf_counter()
    run = ReplayRun(world, learner, config)
    n = trace.height
    seeds = np.random.SeedSequence(config.seed).spawn(2)
    world_rng, sampler_rng = (np.random.default_rng(s) for s in seeds)
    columns = {c: trace[c].to_numpy() for c in ("timestamp", "prompt_tokens", "output_tokens")}
    for begin in range(0, n, config.chunk_size):
        end = min(begin + config.chunk_size, n)
        run.chunk(trace.slice(begin, end - begin), begin, world_rng, sampler_rng)
        if progress is not None:
            progress(end - begin)
    wall = time.perf_counter() - started
    utility = np.concatenate(run.utility_chunks) if run.utility_chunks else np.empty(0)
    oracle = np.concatenate(run.oracle_chunks) if run.oracle_chunks else np.empty(0)
    requests = request_frame(run.requests, columns, utility, oracle, run.ids)
    attempts = attempt_frame(run.attempts, run.epoch_prices, run.ids)
    return ReplayResult(name, version, world, config, requests, attempts, tuple(run.candidate_sets), wall,
                        run.policy)
