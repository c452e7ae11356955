"""The replay's request loop: one run's state, and the chunk of requests it routes at a time.

For each request, in arrival order: attempt endings and observations that have become visible
are handled (live stats and breakers at an attempt's end, `policy.update` after
`feedback_delay_s`), the policy gives its probabilities over the candidates, the shared sampler
turns them into an attempt order, and attempts are made in that order until one succeeds, as
dispatch falls back. `replay.replay` drives it chunk by chunk.
"""
from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from itertools import chain
from collections import deque
from typing import Sequence

import numpy as np
import polars as pl

from ..base import EMPTY_STATS, Policy
from ..feature_columns import FeatureColumns
from ..sampler import FirstChoiceMemo, fallback_order, first_choice
from .config import ReplayConfig
from .deciding import DecisionBatches, aligned_probabilities, batch_decider, outcome_learner
from .frames import REQUEST_LOG_FIELDS
from .oracle import endpoint_outcomes, oracle_utility, outcome_utility
from .records import context_maker, features_from_columns, observation_maker
from .stats import SimulatedStats
from .world import ERROR_CLASS_OF_CODE, FAIL_429, FAIL_TIMEOUT, OK, World

__all__ = ["ReplayRun"]

_UPTIME_EXCLUDED = ("429", "user", "client-cancel")


class ReplayRun:
    """State of one replay: the request loop and the records it appends."""

    def __init__(self, world: World, policy: Policy | None, config: ReplayConfig) -> None:
        self.world, self.policy, self.config = world, policy, config
        self.ids = list(world.endpoint_ids)
        self.k = len(self.ids)
        self.index = {e: j for j, e in enumerate(self.ids)}
        self.capacity = [float(e.capacity) if e.capacity else math.inf for e in world.endpoints]
        self.slope = [e.load_slope for e in world.endpoints]
        self.limit = [e.max_in_flight or (1 << 31) for e in world.endpoints]
        self.stats = SimulatedStats()
        self.in_flight = [0] * self.k
        self.breaker_streak = [0] * self.k  # consecutive failures per endpoint
        self.breaker_opened_at: list[float | None] = [None] * self.k
        self.breaker_trial = [False] * self.k  # a half-open trial is in flight
        # One heap of (time, seq, endpoint column, stats payload (without live stats, just the
        # attempt's success), Observation): an attempt ends
        # (column >= 0; its observation rides along when feedback is immediate) or an observation
        # becomes visible (column -1). Stats and breakers never read the policy and the policy never
        # reads them while learning, so handling the two kinds in time order equals handling all
        # endings first, as dispatch's separate paths would.
        self.events: list = []
        self.seq = 0
        # Fit-only policies collect outcomes here and are refitted on a schedule (see ReplayConfig).
        refits = policy is not None and policy.needs_refit and config.refit_every_s is not None
        self.history: deque | None = deque(maxlen=config.refit_history) if refits else None
        self.next_refit: float | None = None
        self.candidate_sets: list[tuple[str, ...]] = []
        self._candidate_set_ids: dict[tuple[str, ...], int] = {}
        self.candidate_set_columns: list[list[int]] = []  # world column of each candidate, per set
        # One tuple per attempt / per request: a single append in the loop, columns at the end.
        self.attempts: list[tuple] = []  # (request, attempt, endpoint, code, start, ttft, latency, speed, cost, propensity, candidate set, epoch)
        self.requests: list[tuple] = []  # (success, attempts, first, served, propensity, ttft, latency, speed, cost)
        self.utility_chunks: list[np.ndarray] = []
        self.oracle_chunks: list[np.ndarray] = []
        self.epoch_prices: list[tuple[list[float], list[float]]] = []
        self.choose_first = FirstChoiceMemo()  # `first_choice`, sparing the logs of repeated probabilities

    def _candidate_set(self, candidates: Sequence) -> int:
        key = tuple(c.endpoint_id for c in candidates)
        found = self._candidate_set_ids.get(key)
        if found is None:
            found = self._candidate_set_ids[key] = len(self.candidate_sets)
            self.candidate_sets.append(key)
            self.candidate_set_columns.append([self.index[e] for e in key])
        return found

    def chunk(self, trace: pl.DataFrame, offset: int, world_rng: np.random.Generator,
              sampler_rng: np.random.Generator) -> None:
        world, config, policy = self.world, self.config, self.policy
        n, k = trace.height, self.k
        timestamps = trace["timestamp"].to_numpy()
        prompt_np = trace["prompt_tokens"].to_numpy()
        output_np = trace["output_tokens"].to_numpy()
        stream_np = trace["stream"].to_numpy()
        potential = world.sample(world_rng, timestamps, output_np)
        # Flat lists: element access in the loop is a list index, not a numpy scalar. Request r
        # samples its order from Gumbels [r*k, r*k + n_candidates), whatever earlier ones used.
        gumbel_table = sampler_rng.gumbel(size=(n, k))
        gumbels = gumbel_table.ravel().tolist()
        codes, ttfts = potential.code.ravel().tolist(), potential.ttft_s.ravel().tolist()
        decodes = potential.decode_s.ravel().tolist()
        max_tokens = trace["max_tokens"].to_list()
        expected = [m if m else config.expected_output_prior for m in max_tokens]
        hours_np = ((timestamps % 86_400) // 3_600).astype(int)
        hours = hours_np.tolist()
        streams, tools = trace["stream"].to_list(), trace["has_tools"].to_list()
        prompts, outputs, times = prompt_np.tolist(), output_np.tolist(), timestamps.tolist()
        # Candidates: every endpoint whose context fits, at the prices in effect at arrival.
        # One price table for the world's draws, the candidates and the realised costs: prices
        # change exactly between the same two arrivals everywhere.
        epoch_np = world.price_epoch(timestamps)
        epoch_of = epoch_np.tolist()
        epoch_candidates = world.epoch_candidates()
        epoch_sets = [self._candidate_set(c) for c in epoch_candidates]
        epoch_prices = [([c.prompt_price for c in cs], [c.completion_price for c in cs]) for cs in epoch_candidates]
        self.epoch_prices = epoch_prices
        context_limits = [e.context_length for e in world.endpoints]
        needed = (prompt_np + np.asarray([m or 0 for m in max_tokens])).tolist()
        min_context = min(context_limits)
        in_flight_log: list[int] = []  # flat, k counts per request (numpy converts flat lists fast)

        ids, index, capacity, slope, limit = self.ids, self.index, self.capacity, self.slope, self.limit
        set_columns = self.candidate_set_columns
        in_flight, stats, events = self.in_flight, self.stats, self.events
        delay, max_attempts = config.feedback_delay_s, config.max_attempts or k
        breakers = policy is not None and config.breaker_failures is not None
        breaker_failures, breaker_cooldown = config.breaker_failures, config.breaker_cooldown_s
        breaker_feedback = config.breaker_feedback
        attempt_timeout, deadline = config.attempt_timeout_s, config.request_deadline_s
        streak, opened_at, trial = self.breaker_streak, self.breaker_opened_at, self.breaker_trial
        attempts_log, requests_log = self.attempts, self.requests
        # A policy that learns nothing needs no observations (saves building one per attempt), and
        # one that learns from an attempt's fields gets them as a tuple instead of an Observation.
        learns = policy is not None and policy.learns_online
        history = self.history
        update = policy.update if learns else (history.append if history is not None else None)
        learn = outcome_learner(policy) if learns else None
        contextless = learn is not None or update is None  # observations, if any, carry no context
        refit_every = config.refit_every_s
        distribution = policy.distribution if policy is not None else None
        aligned = aligned_probabilities(policy) if policy is not None else None

        # One features object per request, built up front: decision batches read them ahead of the loop.
        request_features = features_from_columns(prompts, max_tokens, expected, streams, tools, hours)
        # Requests decided together with request r share its candidates: the epoch's full set. A run
        # ends at the first later request in another epoch or whose context some endpoint lacks.
        breaks = np.union1d(np.flatnonzero(np.asarray(needed) > min_context),
                            np.flatnonzero(np.diff(epoch_np)) + 1).tolist()

        def run_end(q: int) -> int:
            found = bisect_right(breaks, q)
            return breaks[found] if found < len(breaks) else n

        def batches_for(policy: Policy | None) -> DecisionBatches | None:
            decider = batch_decider(policy) if policy is not None and config.batch_decisions else None
            if decider is None:
                return None
            columns = FeatureColumns.from_arrays(request_features, prompt_np, expected, stream_np,
                                                 trace["has_tools"].to_numpy(), hours_np)
            return DecisionBatches(*decider, columns, run_end, gumbel_table)

        batches = batches_for(policy)
        # Live stats and in-flight counts cost a few microseconds a request to keep; a policy that
        # declares it never reads them (`reads_live_stats = False`) gets empty ones instead.
        live = policy is not None and policy.reads_live_stats
        # Likewise the in-flight mapping, for a policy that declares `reads_in_flight = False` (an
        # optional attribute the simulator reads; openrouter and fastest read only `stats`).
        in_flight_map = live and getattr(policy, "reads_in_flight", True)
        heappush, heappop = heapq.heappush, heapq.heappop
        make_context, make_observation = context_maker(), observation_maker()
        # The memo stops keeping for continuous probabilities: from then on, first_choice itself.
        choose_first = self.choose_first if self.choose_first.keeping else first_choice
        seq = self.seq

        for r in range(n):
            now = times[r]
            while events and events[0][0] <= now:
                end, _, j, payload, observation = heappop(events)
                if j >= 0:
                    in_flight[j] -= 1
                    if live:
                        stats.observe(*payload)
                        payload = payload[2]  # the attempt's success, all that the breaker reads
                    if breakers:
                        # Dispatch's CircuitBreaker.record, on the simulated clock.
                        trial[j] = False
                        if payload:
                            streak[j] = 0
                            opened_at[j] = None
                        else:
                            streak[j] += 1
                            if opened_at[j] is not None or streak[j] >= breaker_failures:
                                opened_at[j] = end
                if observation is not None:
                    if learn is not None:
                        learn(*observation)
                    else:
                        update(observation)
            if history is not None:
                if self.next_refit is None:
                    self.next_refit = now + refit_every
                elif now >= self.next_refit:
                    if history:
                        policy = self.policy = policy.clone().fit(list(history))
                        distribution = policy.distribution
                        aligned = aligned_probabilities(policy)
                        batches = batches_for(policy)
                    self.next_refit = now + refit_every
            busy_row = tuple(in_flight)
            in_flight_log.extend(busy_row)
            epoch = epoch_of[r]
            candidates = epoch_candidates[epoch]
            candidate_set = epoch_sets[epoch]
            if needed[r] > min_context:
                candidates = tuple(c for c, limit_c in zip(candidates, context_limits) if needed[r] <= limit_c)
                if not candidates:
                    requests_log.append((False, 0, -1, -1, 1.0, 0.0, 0.0, 0.0, 0.0))
                    continue
                candidate_set = self._candidate_set(candidates)
            features = request_features[r]
            batched = batches is not None and needed[r] <= min_context
            if batched and contextless:
                context = None  # a batched decision reads only `now`, and no Observation will carry it
            elif live:
                context = make_context(features, now, stats.snapshot(),
                                       dict(zip(ids, busy_row)) if in_flight_map else EMPTY_STATS)
            else:
                context = make_context(features, now, EMPTY_STATS, EMPTY_STATS)
            # The decision as parallel lists: `values[i]` is the policy's probability of world column
            # `columns[i]`; `order` holds positions in them, the first choice only until a fallback is needed.
            scores = None  # the Gumbel scores of the sampled order, once a fallback needs them
            base = r * k
            if distribution is None:
                values = [1.0]
                columns = [self._oracle_choice(potential, r, busy_row, prompt_np, output_np, stream_np, candidates)]
                first, propensity = 0, 1.0
            elif batched and (decided := batches.decide(r, candidates, now))[1] is not None:
                values, first, propensity = decided
                columns = set_columns[candidate_set]
            else:
                if batched:
                    values = decided[0]
                    columns = set_columns[candidate_set]
                elif aligned is not None:
                    values = aligned(candidates, context)
                    columns = set_columns[candidate_set]
                else:
                    probabilities = distribution(candidates, context)
                    values = list(probabilities.values())
                    columns = [index[e] for e in probabilities]
                if not values:
                    requests_log.append((False, 0, -1, -1, 1.0, 0.0, 0.0, 0.0, 0.0))
                    continue
                first, propensity, scores = choose_first(values, gumbels[base:base + len(values)])
            order = [first]
            prompt_prices, completion_prices = epoch_prices[epoch]
            prompt_tokens, output_tokens, stream = prompts[r], outputs[r], streams[r]
            request = offset + r
            elapsed = 0.0
            success = False
            attempt = 0
            # The rest of the order is sorted only once the first choice is skipped or fails.
            fallbacks_pending = len(values) > 1
            for position in order:
                # The first choice carries its propensity even when a breaker made it a later attempt.
                attempt_propensity = propensity if position == first else values[position]
                if attempt == max_attempts:
                    break
                j = columns[position]
                if breakers and opened_at[j] is not None:
                    # Dispatch's CircuitBreaker.allow: skip an open breaker, let one half-open trial through.
                    if now - opened_at[j] < breaker_cooldown or trial[j]:
                        if breaker_feedback and update is not None:
                            seq += 1
                            heappush(events, (now + delay, seq, -1, None, (
                                ids[j], features, False, "circuit-open", None, 0.0, 0, None, now + delay or now)
                                if learn is not None else make_observation(
                                ids[j], context, False, "circuit-open", None, 0.0, 0, None, 0.0,
                                attempt_propensity, now + delay)))
                        if fallbacks_pending:
                            if scores is None:
                                scores = first_choice(values, gumbels[base:base + len(values)])[2]
                            order.extend(p for p in fallback_order(scores) if p != first)  # iterated next
                            fallbacks_pending = False
                        continue
                    trial[j] = True
                # Dispatch's attempt_timeout: the attempt timeout, capped by what is left of the deadline.
                limit_s = min(attempt_timeout, deadline - elapsed)
                if limit_s <= 0.0:
                    break
                busy = busy_row[j]
                code = FAIL_429 if busy >= limit[j] else codes[base + j]
                # Same operations, in the same order, as World.load_factor / oracle.endpoint_outcomes.
                load = 1.0 + slope[j] * max(busy - capacity[j], 0.0) / capacity[j]
                ttft = ttfts[base + j] * load
                start = now + elapsed
                if code == OK:
                    decode = decodes[base + j] * load
                    latency = ttft + decode
                    speed = output_tokens / decode if output_tokens > 1 else 0.0
                    cost = prompt_tokens * prompt_prices[j] + output_tokens * completion_prices[j]
                    error_class = None
                    success = True
                else:
                    latency = 0.1 * ttft if code == FAIL_429 else ttft
                    speed = cost = 0.0
                    error_class = ERROR_CLASS_OF_CODE[code]
                if (ttft if success and stream else latency) > limit_s:  # streams only wait for the first byte
                    code, latency, speed, cost, error_class, success = FAIL_TIMEOUT, limit_s, 0.0, 0.0, "timeout", False
                end = start + latency
                attempts_log.append((request, attempt, j, code, start, ttft, latency, speed, cost, attempt_propensity,
                                     candidate_set, epoch))
                in_flight[j] += 1
                seq += 1
                reported_speed = speed if speed > 0.0 else None
                endpoint_id = ids[j]
                if learn is not None:  # the fields `Observation` would carry to `_learn_outcome`
                    observation = (endpoint_id, features, success, error_class, ttft if success else None, latency,
                                   output_tokens if success else 0, reported_speed, end + delay or now)
                elif update is not None:
                    observation = make_observation(
                        endpoint_id, context, success, error_class, ttft if success else None, latency,
                        output_tokens if success else 0, reported_speed, cost, attempt_propensity, end + delay)
                else:
                    observation = None
                if observation is not None and delay != 0.0:
                    heappush(events, (end + delay, seq, -1, None, observation))
                    observation = None
                heappush(events, (end, seq, j, (
                    endpoint_id, end, success, error_class not in _UPTIME_EXCLUDED, ttft if success else None,
                    latency if success else None, reported_speed) if live else success, observation))
                attempt += 1
                if success:
                    requests_log.append((True, attempt, columns[first], j, propensity, elapsed + ttft,
                                         elapsed + latency, speed, cost))
                    break
                elapsed += latency
                if fallbacks_pending:
                    if scores is None:
                        scores = first_choice(values, gumbels[base:base + len(values)])[2]
                    order.extend(p for p in fallback_order(scores) if p != first)
                    fallbacks_pending = False
            if not success:
                requests_log.append((False, attempt, columns[first], -1, propensity, elapsed, elapsed, 0.0, 0.0))
        self.seq = seq
        self._score_chunk(potential, np.fromiter(in_flight_log, float, n * k).reshape(n, k), prompt_np, output_np,
                          stream_np, n)

    def _first_attempt_timeout(self) -> float:
        return min(self.config.attempt_timeout_s, self.config.request_deadline_s - 0.0)

    def _oracle_choice(self, potential, r, busy_row, prompt_np, output_np, stream_np, candidates) -> int:
        sliced = type(potential)(*(getattr(potential, f)[r:r + 1] for f in potential.__dataclass_fields__))
        outcomes = endpoint_outcomes(self.world, sliced, np.asarray([busy_row], dtype=float),
                                     prompt_np[r:r + 1], output_np[r:r + 1], stream_np[r:r + 1],
                                     self._first_attempt_timeout())
        allowed = np.zeros(self.k, dtype=bool)
        allowed[[self.index[c.endpoint_id] for c in candidates]] = True
        utilities = outcome_utility(self.config.weights, outcomes.code == OK, outcomes.ttft_s, outcomes.latency_s,
                                    outcomes.tokens_per_s, outcomes.cost)[0]
        return int(np.argmax(np.where(allowed, utilities, -np.inf)))

    def _score_chunk(self, potential, in_flight_rows, prompt_np, output_np, stream_np, n) -> None:
        weights = self.config.weights
        done = self.requests[len(self.requests) - n:]
        # One conversion, not nine; through a flat iterator numpy reads the tuples faster than as rows.
        width = len(REQUEST_LOG_FIELDS)
        table = np.fromiter(chain.from_iterable(done), float, n * width).reshape(n, width)
        success, ttft, latency, speed, cost = table[:, 0] > 0.0, table[:, 5], table[:, 6], table[:, 7], table[:, 8]
        realised = outcome_utility(weights, success, ttft, latency, speed, cost)
        outcomes = endpoint_outcomes(self.world, potential, in_flight_rows, prompt_np, output_np, stream_np,
                                     self._first_attempt_timeout())
        best, _ = oracle_utility(weights, outcomes)
        self.utility_chunks.append(realised)
        self.oracle_chunks.append(best)
