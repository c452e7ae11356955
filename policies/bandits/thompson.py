"""Thompson sampling over endpoint outcomes, scored by the shared objective.

Each endpoint's failure probability has a Beta posterior and its log TTFT and log decode speed a
normal posterior on the mean (`policies.estimators`). The probability of routing to an endpoint
is the probability that its posterior draw scores best under `objective.combine`, estimated over
`n_draws` joint draws, so the propensity logged is the distribution the choice is sampled from
(exact up to Monte-Carlo error ~1/sqrt(n_draws)).

Drawing from a Beta is slow, so each endpoint's `n_draws` posterior draws are cached and redrawn
only when its posterior has moved: after an update, when a posterior mean has shifted by more
than `redraw_tolerance` posterior standard deviations since the draw (or the spread changed by
that fraction); with discounting, also when the draws are older than a quarter of the half-life
(the posterior widens as data ages). `redraw_tolerance=0` redraws after every update. One
observation moves a well-known endpoint's posterior by ~1/sqrt(n) of its spread, so the default
0.25 redraws the busiest endpoint about every 16 updates while a new or failing endpoint is
redrawn on each. Endpoints never observed get prior draws on first sight.

Deciding uses that `combine` is linear in price and latency: per draw, the part that does not
depend on the request (`base_`) and the decode time per output token (`per_token_`) are kept,
so a request's scores are base - latency weight * output tokens * per_token - usd * price.
Between redraws the distribution is therefore a fixed function of each request's features:
`distribution_version` / `distribution_batch` let the simulator decide many requests at once. In
such a batch a draw is usually won by the same endpoint for every request (its lead, bounded
over the batch's prices and output lengths, is positive): those draws are counted once and only
the others are scored per request, which gives exactly the win counts of scoring them all.
tests/policies/test_policy_thompson.py measures the propensities against exact win
probabilities: 0.031 mean largest error with fresh draws after every update, 0.043 with the
default tolerance.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..base import Candidate, RequestFeatures, RoutingContext
from ..exploration import win_frequencies
from ..feature_columns import FeatureColumns
from ..objective import DEFAULT_WEIGHTS, Weights, combine, weights_for
from ..registry import register
from ._outcome_bandit import OutcomeBandit

__all__ = ["ThompsonSampling"]

_FAILURE, _TTFT, _TPS = range(3)
_MIN_BATCH_TO_SETTLE = 4  # requests in a batch from which settling draws first pays off
# A draw is settled when its leader's worst-case lead exceeds this fraction of the scores' magnitude:
# far above the rounding of the scores themselves (~1e-16 relative), so no settled winner can differ
# from the one scoring the draw for each request would find.
_SETTLE_MARGIN = 1e-9


_MAX_SCORES = 20_480  # scores (candidates x requests x draws) computed in one block


def _scored_wins(base: np.ndarray, per_token: np.ndarray | None, usd_prices: np.ndarray,
                 latency_output: np.ndarray) -> np.ndarray:
    """(candidates, requests) draws won, scoring every draw for every request."""
    n, n_requests = usd_prices.shape
    scores = base[:, None, :] - usd_prices[:, :, None]
    if per_token is not None:
        scores -= latency_output[None, :, None] * per_token[:, None, :]
    wins = np.add.reduce(scores == np.maximum.reduce(scores, axis=0), axis=2)
    if np.count_nonzero(np.add.reduce(wins, axis=0) != scores.shape[2]):  # exact ties: argmax's first best wins
        winners = scores.argmax(axis=0) + n * np.arange(n_requests)[:, None]
        wins = np.bincount(winners.ravel(), minlength=n * n_requests).reshape(n_requests, n).T
    return wins


def _pair_gaps(base: np.ndarray, per_token: np.ndarray | None) -> tuple:
    """What `_settled_draws` reads of a set of draws alone (kept while they stay the same): per
    (leader w, other c, draw) base[w] - base[c] (+inf where w == c, which never limits a lead) and
    per_token[w] - per_token[c], then max |base| and max |per_token|."""
    n = len(base)
    base_gap = base[:, None, :] - base[None, :, :]
    base_gap[np.arange(n), np.arange(n)] = np.inf
    if per_token is None:
        return base_gap, None, float(np.maximum.reduce(np.abs(base), axis=None)), 0.0
    return (base_gap, per_token[:, None, :] - per_token[None, :, :],
            float(np.maximum.reduce(np.abs(base), axis=None)), float(np.maximum.reduce(np.abs(per_token), axis=None)))


def _settled_draws(base: np.ndarray, per_token: np.ndarray | None, usd_prices: np.ndarray,
                   latency_output: np.ndarray, pairs: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(settled, winner) per draw: whether one candidate wins the draw for every request of a batch.

    A request's score of candidate c on draw d is base[c, d] - usd_prices[c, q] - latency_output[q]
    * per_token[c, d]; w's lead over c is at least base[w, d] - base[c, d] - max over the batch of
    (usd_prices[w] - usd_prices[c]) - max(latency_output) * (per_token[w, d] - per_token[c, d]) (the
    min instead when that difference is negative). A draw is settled when, for some w, that bound
    is positive, with a margin, for every other candidate; w is then the draw's winner (`winner`
    is only meaningful where settled). `pairs` is `_pair_gaps(base, per_token)` when kept.
    """
    base_gap, per_token_gap, base_size, per_token_size = _pair_gaps(base, per_token) if pairs is None else pairs
    # Reductions through the ufuncs themselves (what .max/.min call, without their Python wrappers).
    largest, smallest = np.maximum.reduce, np.minimum.reduce
    price_gap = largest(usd_prices[:, None, :] - usd_prices[None, :, :], axis=2)  # [w, c]: max over requests
    lead = base_gap - price_gap[:, :, None]
    magnitude = base_size + float(largest(np.abs(usd_prices), axis=None)) + 1.0
    if per_token_gap is not None:
        low, high = float(smallest(latency_output)), float(largest(latency_output))
        lead -= np.maximum(low * per_token_gap, high * per_token_gap)
        magnitude += max(abs(low), abs(high)) * per_token_size
    worst = smallest(lead, axis=1)  # [w, d]: w's smallest lead over the others
    winner = worst.argmax(axis=0)
    return largest(worst, axis=0) > _SETTLE_MARGIN * magnitude, winner


@register
class ThompsonSampling(OutcomeBandit):
    """>>> from policies.base import Candidate, Observation, RoutingContext
    >>> c = [Candidate(e, e, "m", 1e-7, 1e-7) for e in ("good", "bad")]
    >>> p = ThompsonSampling(seed=0)
    >>> for step in range(30):
    ...     p.update(Observation("good", RoutingContext(), success=True, ttft_s=0.3, tokens_per_s=80.0))
    ...     p.update(Observation("bad", RoutingContext(), success=False, error_class="5xx"))
    >>> p.distribution(c, RoutingContext())["good"] > 0.9
    True
    """

    name = "thompson"
    reads_live_stats = False  # never reads context.stats or context.in_flight (the simulator skips them)

    def __init__(self, n_draws: int = 128, half_life_s: float | None = 300.0, weights: Weights = DEFAULT_WEIGHTS,
                 prior_ttft_s: float = 1.0, prior_tokens_per_s: float = 50.0, prior_failure: float = 0.1,
                 min_prob: float = 0.01, seed: int | None = None, redraw_tolerance: float = 0.25):
        self.n_draws = n_draws
        self.half_life_s = half_life_s
        self.weights = weights
        self.prior_ttft_s = prior_ttft_s
        self.prior_tokens_per_s = prior_tokens_per_s
        self.prior_failure = prior_failure
        self.min_prob = min_prob
        self.seed = seed
        self.redraw_tolerance = redraw_tolerance

    # --- learned state -------------------------------------------------------------------------
    def _ensure_state(self) -> None:
        if "rows_" in self.__dict__:
            return
        self.rows_: dict[str, int] = {}  # endpoint id -> row of the arrays below
        self.draws_ = np.empty((0, 3, self.n_draws))  # failure_prob, ttft_s, tokens_per_s per draw
        self.base_ = np.empty((0, self.n_draws))  # combine(weights, price 0, ttft, latency = ttft, ...)
        self.per_token_ = np.empty((0, self.n_draws))  # decode seconds per output token = 1 / tokens_per_s
        self.drawn_at_: list[float] = []
        self.endpoint_of_row_: list[str] = []
        # Per row, the estimator's point summaries (ttft, tokens/s, failure, attempts) stay within
        # these bounds until the posterior has moved by `redraw_tolerance` of its spread.
        self.band_: list[tuple[float, ...]] = []
        self.updated_: set[str] = set()  # endpoints observed since their last redraw test
        self.draws_version_ = 0  # counts `_draw` calls: the same version means the same draws
        self.oldest_draw_ = math.inf  # min(drawn_at_), kept by `_draw` so that deciding need not scan

    def _learn_outcome(self, endpoint_id: str, features: RequestFeatures, success: bool, error_class: str | None,
                       ttft_s: float | None, latency_s: float | None, output_tokens: int,
                       tokens_per_s: float | None, now: float) -> None:
        # OutcomeBandit._learn_outcome, without the calls in between (this runs once per attempt).
        outcomes = self.__dict__.get("outcomes_") or self._outcomes()
        outcomes.observe_outcome(endpoint_id, success, error_class, ttft_s, latency_s, output_tokens, tokens_per_s,
                                 now)
        updated = self.__dict__.get("updated_")
        if updated is None:
            self._ensure_state()
            updated = self.updated_
        updated.add(endpoint_id)

    def _rows(self, endpoint_ids: Sequence[str], now: float) -> list[int]:
        """Rows of `endpoint_ids`, redrawing those whose draws are out of date."""
        self._ensure_state()
        rows, updated = self.rows_, self.updated_
        found = [rows.get(e) for e in endpoint_ids]
        if updated or None in found:
            # In candidate order, so that the generator is consumed in the same order in every process.
            moved = self._moved
            stale = [e for e, row in zip(endpoint_ids, found) if row is None or (e in updated and moved(row))]
            updated.difference_update(endpoint_ids)  # checked against their bands (stale ones are redrawn)
        else:
            stale = []
        max_age = None if self.half_life_s is None else 0.25 * self.half_life_s
        if max_age is not None and now - self.oldest_draw_ > max_age:
            drawn_at = self.drawn_at_
            stale += [e for e, row in zip(endpoint_ids, found)
                      if row is not None and now - drawn_at[row] > max_age and e not in stale]
        if not stale:
            return found
        self._draw(stale, now)
        return [rows[e] for e in endpoint_ids]

    def _moved(self, row: int) -> bool:
        """Whether an endpoint's posterior left the band its draws were made for (see `_draw`)."""
        _, n, failure, ttft, tps = self.outcomes_.summaries[self.endpoint_of_row_[row]]  # observed: it exists
        ttft_low, ttft_high, tps_low, tps_high, failure_low, failure_high, n_low, n_high = self.band_[row]
        return not (ttft_low <= ttft <= ttft_high and tps_low <= tps <= tps_high
                    and failure_low <= failure <= failure_high and n_low <= n <= n_high)

    def _draw(self, endpoint_ids: list[str], now: float) -> None:
        """Fresh posterior draws for `endpoint_ids` as of `now`."""
        rows = self.rows_
        for endpoint_id in endpoint_ids:
            if endpoint_id not in rows:
                rows[endpoint_id] = len(rows)
                self.drawn_at_.append(now)
                self.endpoint_of_row_.append(endpoint_id)
                self.band_.append(())
        if len(rows) > len(self.base_):
            grow = len(rows) - len(self.base_)
            self.draws_ = np.concatenate([self.draws_, np.empty((grow, 3, self.n_draws))])
            self.base_ = np.concatenate([self.base_, np.empty((grow, self.n_draws))])
            self.per_token_ = np.concatenate([self.per_token_, np.empty((grow, self.n_draws))])
        self.draws_version_ += 1
        outcomes = self._outcomes()
        # Posteriors in Python floats (usually one endpoint is redrawn, and numpy's per-call cost
        # would dominate); the generator is consumed as ever: the betas, then one normal call.
        posteriors = [outcomes.posterior(e, now) for e in endpoint_ids]
        rng, n_draws = self.rng, self.n_draws
        # One call per endpoint: numpy's beta is ~2x slower with array parameters than with scalars.
        failures = [rng.beta(p[1], p[2], size=n_draws) for p in posteriors]
        noise = rng.standard_normal((2, len(endpoint_ids), n_draws))
        draws, base, per_token, weights = self.draws_, self.base_, self.per_token_, self.weights
        # The redraw test reads the estimator's undecayed point summaries, so the band is centred
        # on those: log-scale means move by tolerance * sd, the attempt count by the factor that
        # changes the spread (~1/sqrt(n)) by the tolerance.
        tolerance = self.redraw_tolerance
        for i, (endpoint_id, posterior, failure) in enumerate(zip(endpoint_ids, posteriors, failures)):
            _, alpha, beta, ttft_mean, ttft_var, tps_mean, tps_var = posterior
            ttft_sd, tps_sd = math.sqrt(ttft_var), math.sqrt(tps_var)
            ttft = np.exp(ttft_mean + ttft_sd * noise[0, i])
            tps = np.exp(tps_mean + tps_sd * noise[1, i])
            row = rows[endpoint_id]
            draws[row, _FAILURE], draws[row, _TTFT], draws[row, _TPS] = failure, ttft, tps
            base[row] = combine(weights, 0.0, ttft, ttft, tps, failure)
            per_token[row] = 1.0 / tps
            self.drawn_at_[row] = now
            self.updated_.discard(endpoint_id)
            summary = outcomes.summaries.get(endpoint_id)
            if summary is None or tolerance <= 0.0:  # the first update always redraws
                self.band_[row] = (math.inf, -math.inf) * 4
                continue
            _, n, failure_mean, ttft, tps = summary
            fail_mean = alpha / (alpha + beta)
            fail_sd = math.sqrt(fail_mean * (1.0 - fail_mean) / (alpha + beta + 1.0))
            ttft_step, tps_step = math.exp(tolerance * ttft_sd), math.exp(tolerance * tps_sd)
            failure_step = tolerance * fail_sd
            weight = n + outcomes.prior_weight
            self.band_[row] = (ttft / ttft_step, ttft * ttft_step, tps / tps_step, tps * tps_step,
                               failure_mean - failure_step, failure_mean + failure_step,
                               weight / (1.0 + tolerance) ** 2 - outcomes.prior_weight,
                               weight * (1.0 + tolerance) ** 2 - outcomes.prior_weight)
        self.oldest_draw_ = min(self.drawn_at_)

    # --- deciding ------------------------------------------------------------------------------
    def _probabilities(self, candidates: Sequence[Candidate], context: RoutingContext) -> list[float]:
        rows = self._rows([c.endpoint_id for c in candidates], context.now)
        features = context.features
        weights = weights_for(context.sort, self.weights)
        if weights is not self.weights:  # another trade-off (an explicit sort): score the raw draws
            output_tokens = features.expected_output_tokens
            prices = np.array([c.expected_cost(features.prompt_tokens, output_tokens) for c in candidates])
            draws = self.draws_[rows]
            ttft, tps = draws[:, _TTFT], draws[:, _TPS]
            scores = combine(weights, prices[:, None], ttft, ttft + output_tokens / tps, tps, draws[:, _FAILURE])
            return win_frequencies(scores.T).tolist()
        return self._win_shares(rows, candidates, np.array([features.prompt_tokens], dtype=float),
                                np.array([features.expected_output_tokens], dtype=float))[0].tolist()

    def _win_shares(self, rows: list[int], candidates: Sequence[Candidate], prompt: np.ndarray,
                    output: np.ndarray) -> np.ndarray:
        """(requests, candidates) share of draws each candidate wins, for requests with these prompt and
        expected output tokens (float arrays); a single row when it is the same for every request.

        One request or many, the same elementwise operations give the same floats. Scores are laid
        out (candidates, requests, draws) because numpy's max over the first axis is fast. For a
        batch, draws whose winner is settled for every request in it (`_settled_draws`) are
        counted once instead of scored per request.
        """
        weights = self.weights
        n, n_requests = len(rows), len(prompt)
        # Candidate.expected_cost, the same operations in the same order, for every request at once.
        price_table = self._price_table(candidates)
        prices = price_table[:, :1] + price_table[:, 1:2] * prompt + price_table[:, 2:] * output  # (n, requests)
        in_order = rows == list(range(n))  # usual case: the candidates are the first rows, as a view
        base = self.base_[:n] if in_order else self.base_[rows]
        per_token = None
        if weights.latency_s:
            per_token = self.per_token_[:n] if in_order else self.per_token_[rows]
        usd_prices, latency_output = weights.usd * prices, weights.latency_s * output
        settled_wins = None
        if n_requests >= _MIN_BATCH_TO_SETTLE and n > 1:
            settled, winner = _settled_draws(base, per_token, usd_prices, latency_output,
                                             self._kept_pair_gaps(rows, in_order, base, per_token))
            if settled.all():  # the usual case: every request of the batch gets the same shares
                return (np.bincount(winner, minlength=n) / self.n_draws)[None]
            if settled.any():
                settled_wins = np.bincount(winner[settled], minlength=n)[:, None]
                contested = np.flatnonzero(~settled)
                base = base[:, contested]
                per_token = None if per_token is None else per_token[:, contested]
        # Scored in blocks of requests: past ~20k scores a block's temporaries outgrow the
        # allocator's reusable blocks and every operation pays for fresh pages (~3x per request).
        block = max(1, _MAX_SCORES // max(1, n * base.shape[1]))
        wins = np.concatenate([_scored_wins(base, per_token, usd_prices[:, start:start + block],
                                            latency_output[start:start + block])
                               for start in range(0, n_requests, block)], axis=1) if n_requests > block \
            else _scored_wins(base, per_token, usd_prices, latency_output)
        if settled_wins is not None:
            wins = wins + settled_wins
        return wins.T / self.n_draws

    def _kept_pair_gaps(self, rows: list[int], in_order: bool, base: np.ndarray,
                        per_token: np.ndarray | None) -> tuple:
        """`_pair_gaps` of these rows' draws, kept until the draws change (a new `draws_version_`)."""
        key = (self.draws_version_, len(rows) if in_order else tuple(rows), per_token is None)
        cached = self.__dict__.get("pair_gaps_")
        if cached is not None and cached[0] == key:
            return cached[1]
        pairs = _pair_gaps(base, per_token)
        self.pair_gaps_ = (key, pairs)
        return pairs

    def _price_table(self, candidates: Sequence[Candidate]) -> np.ndarray:
        """(n, 3) request, prompt and completion prices; kept for a tuple (the replay passes the same one)."""
        cached = self.__dict__.get("price_table_")
        if cached is not None and cached[0] is candidates:
            return cached[1]
        table = np.array([(c.request_price, c.prompt_price, c.completion_price) for c in candidates])
        if isinstance(candidates, tuple):  # immutable, and so are its candidates
            self.price_table_ = (candidates, table)
        return table

    # --- deciding many requests at once (used by the simulator, see policies.simulator.deciding) ---
    def distribution_version(self, candidates: Sequence[Candidate], now: float) -> int:
        """Bring the draws up to date for a request at time `now`, as deciding does, and return their version.

        While the version stays the same, `distribution` (without a sort) is a fixed function of
        each request's features, so requests can be decided together with `distribution_batch`.
        """
        if not isinstance(candidates, tuple):
            self._rows([c.endpoint_id for c in candidates], now)
            return self.draws_version_
        # The replay passes the same (immutable) tuple again and again: once every candidate has
        # draws, `_rows`' test needs only the observed endpoints among them (usually one).
        cached = self.__dict__.get("candidates_")
        if cached is None or cached[0] is not candidates:
            ids = [c.endpoint_id for c in candidates]
            cached = self.candidates_ = (candidates, ids, {e: i for i, e in enumerate(ids)}, [None])
        _, ids, position, complete_in = cached
        rows = self.__dict__.get("rows_")
        # Rows are only ever added (new state comes with a new dict): once every candidate has one
        # in this dict, that holds for good, and the test is skipped.
        if rows is None or (complete_in[0] is not rows and any(e not in rows for e in ids)) or (
                self.half_life_s is not None and now - self.oldest_draw_ > 0.25 * self.half_life_s):
            self._rows(ids, now)
            return self.draws_version_
        complete_in[0] = rows
        updated = self.updated_
        if updated:
            observed = [e for e in updated if e in position]
            if observed:
                updated.difference_update(observed)
                moved = self._moved
                stale = [e for e in observed if moved(rows[e])]
                if stale:
                    stale.sort(key=position.__getitem__)  # candidate order, as `_rows` draws them
                    self._draw(stale, now)
        return self.draws_version_

    def distribution_batch(self, candidates: Sequence[Candidate],
                           features: Sequence[RequestFeatures]) -> list[list[float]]:
        """`distribution`'s values, in candidate order, for requests with these features and no sort,
        on the current draws (call `distribution_version` first)."""
        rows = [self.rows_[c.endpoint_id] for c in candidates]
        columns = FeatureColumns.of(features)
        shares = self._win_shares(rows, candidates, columns.prompt_tokens, columns.expected_output_tokens)
        n = len(candidates)
        if self.min_prob > 0.0 and n:
            # `sampler.floor_values` (what `distribution` applies), as array arithmetic: the same floats.
            floor = min(self.min_prob, 1.0 / n)
            shares = (1.0 - n * floor) * shares + floor
        values = shares.tolist()
        if len(values) < len(features):  # one row for every request: the same list, not to be modified
            return values * len(features)
        return values
