"""The Open Bandit Dataset check: estimate Bernoulli Thompson Sampling's click rate from random logs.

ZOZOTOWN ran a uniform-random policy and a Bernoulli Thompson Sampling (BTS) policy side by side
(an A/B test), logging both with true propensities. OPE on the random logs should recover BTS's
on-policy click rate, which its own logs measure directly. BTS here is context-free, so its
action distribution at each position is estimated by the share of each item among its logged
impressions at that position (its time-averaged policy over the logging period).
Data: `data/obd_*.parquet`, a copy of the Apache-2.0 sample in st-tech/zr-obp (see PROVENANCE.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .log import BanditLog

__all__ = ["OBDBenchmark", "load_obd", "CAMPAIGNS"]

_DATA = Path(__file__).with_name("data")
CAMPAIGNS = ("men", "women")
_POSITIONS = (1, 2, 3)


@dataclass(frozen=True, eq=False)
class OBDBenchmark:
    campaign: str
    log: BanditLog  # the uniform-random policy's logs; reward = click
    target: np.ndarray  # (n, n_items) BTS's probability of each item at each logged row's position
    on_policy_value: float  # BTS's click rate in its own logs
    on_policy_ci: tuple[float, float]  # 95 % normal interval of that mean


def load_obd(campaign: str = "men") -> OBDBenchmark:
    if campaign not in CAMPAIGNS:
        raise KeyError(f"unknown campaign {campaign!r}; valid: {', '.join(CAMPAIGNS)}")
    random_logs = pl.read_parquet(_DATA / f"obd_random_{campaign}.parquet")
    bts_logs = pl.read_parquet(_DATA / f"obd_bts_{campaign}.parquet")
    n_items = int(max(random_logs["item_id"].max(), bts_logs["item_id"].max())) + 1
    share = np.zeros((len(_POSITIONS) + 1, n_items))
    counts = bts_logs.group_by("position", "item_id").len()
    share[counts["position"].to_numpy(), counts["item_id"].to_numpy()] = counts["len"].to_numpy()
    share /= np.maximum(share.sum(axis=1, keepdims=True), 1)
    positions = random_logs["position"].to_numpy().astype(int)
    features = (positions[:, None] == np.array(_POSITIONS)[None, :]).astype(float)
    log = BanditLog(
        action_names=tuple(str(i) for i in range(n_items)),
        actions=random_logs["item_id"].to_numpy().astype(np.int64),
        rewards=random_logs["click"].to_numpy().astype(float),
        propensities=random_logs["propensity_score"].to_numpy().astype(float),
        features=features,
    )
    clicks = bts_logs["click"].to_numpy().astype(float)
    mean = float(clicks.mean())
    half_width = 1.96 * float(clicks.std(ddof=1)) / np.sqrt(clicks.size)
    return OBDBenchmark(campaign, log, share[positions], mean, (mean - half_width, mean + half_width))
