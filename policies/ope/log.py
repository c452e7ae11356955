"""The logged bandit feedback OPE works on: a typed, frozen, validated structure (not a dict).

One row per decision: which action (endpoint) the logging policy chose first, with what
probability (its propensity), what came of it (the reward), and the features a reward model may
use. Routing logs also keep each row's candidates and routing context, so any `Policy` can be
asked what it would have done. `BanditLog.from_events` builds one from telemetry events (real or
simulated: the same `events` table).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import polars as pl

from ..base import Candidate, RequestFeatures, RoutingContext
from ..objective import DEFAULT_WEIGHTS, Weights, combine

__all__ = ["BanditLog", "request_rewards"]

_DEFAULT_EXPECTED_OUTPUT = 256  # dispatch's prior for output length without max_tokens


@dataclass(frozen=True, eq=False)
class BanditLog:
    action_names: tuple[str, ...]
    actions: np.ndarray  # (n,) int: column of the logged first choice in `action_names`
    rewards: np.ndarray  # (n,) float
    propensities: np.ndarray  # (n,) logging policy's probability of the logged action, in (0, 1]
    features: np.ndarray  # (n, d) float features for reward models
    available: np.ndarray | None = None  # (n, n_actions) bool; None: every action was available
    contexts: tuple[RoutingContext, ...] | None = None  # routing logs: what a Policy is shown
    candidates: tuple[tuple[Candidate, ...], ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.actions)
        for name in ("rewards", "propensities"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"BanditLog.{name} must have shape ({n},), got {getattr(self, name).shape}")
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise ValueError(f"BanditLog.features must have shape ({n}, d), got {self.features.shape}")
        if n and not (np.all(self.propensities > 0) and np.all(self.propensities <= 1 + 1e-9)):
            raise ValueError("BanditLog.propensities must lie in (0, 1]: a zero-propensity row cannot be reweighted")
        if n and (self.actions.min() < 0 or self.actions.max() >= len(self.action_names)):
            raise ValueError(f"BanditLog.actions must index action_names (0..{len(self.action_names) - 1})")
        if self.available is not None and self.available.shape != (n, len(self.action_names)):
            raise ValueError("BanditLog.available must have shape (n, n_actions)")
        for sequence in (self.contexts, self.candidates):
            if sequence is not None and len(sequence) != n:
                raise ValueError("BanditLog.contexts and .candidates need one entry per row")
        for array in (self.actions, self.rewards, self.propensities, self.features, self.available):
            if array is not None:
                array.flags.writeable = False

    @property
    def n(self) -> int:
        return len(self.actions)

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    def subset(self, rows: np.ndarray) -> "BanditLog":
        def pick(sequence):
            return None if sequence is None else tuple(sequence[i] for i in rows)

        return BanditLog(self.action_names, self.actions[rows], self.rewards[rows], self.propensities[rows],
                         self.features[rows], None if self.available is None else self.available[rows],
                         pick(self.contexts), pick(self.candidates))

    @classmethod
    def from_events(cls, events: pl.DataFrame, weights: Weights = DEFAULT_WEIGHTS,
                    catalog: Mapping[str, Candidate] | None = None) -> "BanditLog":
        """One row per request of a telemetry `events` frame; the reward is the request's utility.

        The action is the first attempt's endpoint and its propensity the one logged with it.
        Candidates missing from `catalog` are rebuilt from the prices seen in the log. The live
        stats a policy saw are not logged, so contexts carry none: policies that read stats are
        evaluated as if no health data were available.
        """
        requests = request_rewards(events, weights)
        catalog = dict(catalog or {})
        for endpoint_id, provider, model, prompt_price, completion_price in (
            events.sort("ts").group_by("endpoint_id", maintain_order=True)
            .agg(pl.col("provider").last(), pl.col("served_model").last(), pl.col("prompt_price").last(),
                 pl.col("completion_price").last()).iter_rows()
        ):
            catalog.setdefault(endpoint_id, Candidate(endpoint_id, provider or "", model or "", prompt_price,
                                                      completion_price))
        action_names = tuple(sorted({e for row in requests["candidates"] for e in row} | set(requests["endpoint_id"])))
        column = {name: i for i, name in enumerate(action_names)}
        contexts, candidates, available = [], [], np.zeros((requests.height, len(action_names)), dtype=bool)
        for i, row in enumerate(requests.iter_rows(named=True)):
            features = RequestFeatures(
                prompt_tokens=row["prompt_tokens"] or 0, max_tokens=row["max_tokens"],
                expected_output_tokens=row["max_tokens"] or _DEFAULT_EXPECTED_OUTPUT, stream=bool(row["stream"]),
                has_tools=bool(row["has_tools"]), hour_of_day=int(row["ts"] % 86_400 // 3_600))
            contexts.append(RoutingContext(features=features, now=row["ts"]))
            names = row["candidates"] or [row["endpoint_id"]]
            candidates.append(tuple(catalog[name] for name in names))
            available[i, [column[name] for name in names]] = True
        return cls(
            action_names=action_names,
            actions=np.array([column[e] for e in requests["endpoint_id"]], dtype=np.int64),
            rewards=requests["reward"].to_numpy().astype(float),
            propensities=requests["propensity"].to_numpy().astype(float),
            features=np.array([c.features.as_vector() for c in contexts], dtype=float).reshape(len(contexts), -1),
            available=available, contexts=tuple(contexts), candidates=tuple(candidates),
        )


def request_rewards(events: pl.DataFrame, weights: Weights = DEFAULT_WEIGHTS) -> pl.DataFrame:
    """One row per request: its first attempt's decision and the utility of its final outcome.

    Utility as the simulator scores it: cost paid, time to first token and to the end as the
    client saw them (failed attempts add their time), decode speed, and failure after fallback.
    """
    ok = pl.col("error_class").is_null()
    per_request = (
        events.sort("request_id", "attempt")
        .group_by("request_id", maintain_order=True)
        .agg(
            pl.col("ts").first().alias("ts"),
            pl.col("endpoint_id").first(), pl.col("propensity").first(), pl.col("candidates").first(),
            pl.col("prompt_tokens").first(), pl.col("max_tokens").first(), pl.col("stream").first(),
            pl.col("has_tools").first(),
            ok.any().alias("success"),
            pl.col("cost").sum(),
            (pl.col("ts") + pl.col("latency_s")).filter(ok).first().alias("end_ok"),
            (pl.col("ts") + pl.col("ttft_s")).filter(ok).first().alias("first_token"),
            (pl.col("ts") + pl.col("latency_s")).last().alias("end_last"),
            pl.col("tokens_per_s").filter(ok).first().fill_null(0.0).alias("speed"),
        )
    )
    latency = pl.when("success").then(pl.col("end_ok") - pl.col("ts")).otherwise(pl.col("end_last") - pl.col("ts"))
    ttft = pl.when("success").then(pl.col("first_token") - pl.col("ts")).otherwise(latency)
    frame = per_request.with_columns(latency_s=latency, ttft_s=ttft)
    reward = combine(weights, frame["cost"].to_numpy(), frame["ttft_s"].to_numpy(), frame["latency_s"].to_numpy(),
                     frame["speed"].fill_null(0.0).to_numpy(), np.where(frame["success"].to_numpy(), 0.0, 1.0))
    return frame.with_columns(pl.Series("reward", reward)).sort("ts", maintain_order=True)
