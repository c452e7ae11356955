"""Cross-fitted reward model q(x, a) for the DM and DR estimators.

One scikit-learn regressor per action, fitted on the rows where that action was logged; with
`n_folds` > 1 each row's prediction comes from models that did not see it (cross-fitting), which
keeps DR's correction term honest. Actions with too few rows fall back to the training mean.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin, clone
from sklearn.linear_model import Ridge

from .log import BanditLog

__all__ = ["RewardModel"]


class RewardModel:
    def __init__(self, regressor: RegressorMixin | None = None, n_folds: int = 2, min_rows: int = 10, seed: int = 0):
        self.regressor = regressor
        self.n_folds = n_folds
        self.min_rows = min_rows
        self.seed = seed

    def fit_predict(self, log: BanditLog) -> np.ndarray:
        """(n, n_actions) predicted reward of every action for every logged row."""
        n, n_actions = log.n, log.n_actions
        predictions = np.empty((n, n_actions))
        # Balanced folds from a seeded permutation (fold sizes differ by at most one row).
        folds = np.random.default_rng(self.seed).permutation(n) % max(self.n_folds, 1)
        for fold in range(max(self.n_folds, 1)):
            test = folds == fold
            train = ~test if self.n_folds > 1 else test
            if not test.any():
                continue
            fallback = float(log.rewards[train].mean()) if train.any() else 0.0
            for action in range(n_actions):
                rows = train & (log.actions == action)
                if rows.sum() < self.min_rows:
                    predictions[test, action] = log.rewards[rows].mean() if rows.any() else fallback
                    continue
                model = clone(self.regressor if self.regressor is not None else Ridge(alpha=1.0))
                model.fit(log.features[rows], log.rewards[rows])
                predictions[test, action] = model.predict(log.features[test])
        return predictions
